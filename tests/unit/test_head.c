/* The incremental response-head reader: every split of the written bytes
 * gives the same heads, and bodies, 1xx heads and trailers are skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fcgi.h"
#include "fpm_capture.h"
#include "head.h"

struct seen {
	int status[16];
	char fields[16][256];
	size_t n;
};

static void collect(const struct head *h, void *arg)
{
	struct seen *s = arg;
	struct head_field f;
	size_t pos = 0, at = 0;

	if (s->n == 16)
		return;
	s->status[s->n] = h->status;
	while (head_next_field(h, &pos, &f))
		at +=
		    (size_t)snprintf(s->fields[s->n] + at, sizeof(s->fields[0]) - at, "%.*s=%.*s;",
		                     (int)f.name_len, f.name, (int)f.value_len, f.value);
	s->n++;
}

/* Feeds data in pieces of the given size (0: all at once). */
static struct seen feed(const char *data, size_t piece, bool head_request)
{
	struct head_reader r;
	struct seen s = {0};
	size_t len = strlen(data);

	static char buf[HEAD_MAX_BYTES];
	head_init(&r, buf, sizeof(buf));
	r.head_request = head_request;
	for (size_t i = 0; i < len;) {
		size_t n = piece && piece < len - i ? piece : len - i;
		head_feed(&r, data + i, n, collect, &s);
		i += n;
	}
	return s;
}

static const char two_responses[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                    "HTTP/1.1 401 Unauthorized\r\n"
                                    "WWW-Authenticate: Bearer realm=\"mcp\"\r\n"
                                    "Content-Length: 25\r\n"
                                    "\r\n"
                                    "HTTP/1.1 200 OK\r\nxxxxxxx\n"
                                    "HTTP/1.1 502 Bad Gateway\r\n"
                                    "Transfer-Encoding: chunked\r\n"
                                    "\r\n"
                                    "5;ext=1\r\nHTTP/\r\n"
                                    "13\r\nHTTP/1.1 200 OK\r\n\r\n\r\n"
                                    "0\r\n"
                                    "X-Trailer: HTTP/1.1 200\r\n"
                                    "\r\n"
                                    "HTTP/1.1 204 No Content\r\n"
                                    "X-A:  spaced value \t\r\n"
                                    "\r\n"
                                    "HTTP/1.1 403 Forbidden\r\n"
                                    "WWW-Authenticate: Bearer error=\"insufficient_scope\"\r\n"
                                    "Content-Length: 0\r\n"
                                    "\r\n";

Test(head, every_split_gives_the_same_heads)
{
	for (size_t piece = 0; piece <= 40; piece++) {
		struct seen s = feed(two_responses, piece, false);
		cr_assert_eq(s.n, 4, "piece %zu: %zu heads", piece, s.n);
		cr_expect_eq(s.status[0], 401, "piece %zu", piece);
		cr_expect_str_eq(s.fields[0],
		                 "WWW-Authenticate=Bearer realm=\"mcp\";Content-Length=25;");
		cr_expect_eq(s.status[1], 502);
		cr_expect_eq(s.status[2], 204);
		cr_expect_str_eq(s.fields[2], "X-A=spaced value;");
		cr_expect_eq(s.status[3], 403);
	}
}

Test(head, a_head_request_has_no_body)
{
	struct seen s = feed("HTTP/1.1 401 Unauthorized\r\nContent-Length: 99\r\n\r\n"
	                     "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	                     3, true);
	cr_assert_eq(s.n, 2);
	cr_expect_eq(s.status[1], 200);
}

Test(head, bare_line_feeds)
{
	struct seen s =
	    feed("HTTP/1.0 401 Unauthorized\nWWW-Authenticate: Basic realm=x\n\nbody", 1, false);
	cr_assert_eq(s.n, 1);
	cr_expect_eq(s.status[0], 401);
	cr_expect_str_eq(s.fields[0], "WWW-Authenticate=Basic realm=x;");
}

Test(head, a_body_without_length_runs_to_the_end)
{
	struct seen s = feed("HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 401 x\r\n\r\n", 0, false);
	cr_expect_eq(s.n, 1);
}

Test(head, not_http_is_left_alone)
{
	struct seen s = feed("\x16\x03\x01 TLS bytes\r\n\r\nHTTP/1.1 401 x\r\n\r\n", 0, false);
	cr_expect_eq(s.n, 0);
	s = feed("HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 401 x\r\n\r\n", 2, false);
	cr_expect_eq(s.n, 0);
}

Test(head, an_oversize_head_is_cut_not_overrun)
{
	size_t big = HEAD_MAX_BYTES * 2;
	char *data = malloc(big + 64);
	size_t at = (size_t)sprintf(data, "HTTP/1.1 401 x\r\nX-Big: ");
	memset(data + at, 'a', big);
	at += big;
	strcpy(data + at, "\r\n\r\n");
	struct seen s = feed(data, 4096, false);
	cr_expect_eq(s.n, 1);
	cr_expect_eq(s.status[0], 401);
	free(data);
}

/* CGI heads (head_init_cgi), as a FastCGI application writes them in
 * FCGI_STDOUT. */
struct cgi_case {
	const char *name;
	const char *in;
	int status; /* 0: no head */
	const char *fields;
	const char *body;
};

static const struct cgi_case cgi_cases[] = {
    {"status field", "Status: 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"x\"\r\n\r\nhi",
     401, "Status=401 Unauthorized;WWW-Authenticate=Bearer realm=\"x\";", "hi"},
    {"status without a reason", "Status:403\nX-A: 1\n\n", 403, "Status=403;X-A=1;", ""},
    {"no status: 200", "Content-Type: text/plain\r\n\r\nHTTP/1.1 401 x\r\n\r\n", 200,
     "Content-Type=text/plain;", "HTTP/1.1 401 x\r\n\r\n"},
    {"client redirect: 302", "Location: https://login.example/\r\n\r\n", 302,
     "Location=https://login.example/;", ""},
    {"status wins over location", "Location: https://a/\r\nStatus: 301 Moved\r\n\r\n", 301,
     "Location=https://a/;Status=301 Moved;", ""},
    {"local redirect: the server follows it", "Location: /elsewhere\r\n\r\n", 0, "", ""},
    {"status field in any case", "status: 407 Proxy\r\n\r\n", 407, "status=407 Proxy;", ""},
    {"a status line is not a cgi head", "HTTP/1.1 401 Unauthorized\r\nX: y\r\n\r\n", 0, "", ""},
    {"a continuation line", "Status: 401 x\r\n more\r\n\r\n", 0, "", ""},
    {"two status fields", "Status: 401 x\r\nStatus: 200 OK\r\n\r\n", 0, "", ""},
    {"a status of 2 digits", "Status: 40\r\n\r\n", 0, "", ""},
    {"a status of 4 digits", "Status: 4011\r\n\r\n", 0, "", ""},
    {"a 1xx status", "Status: 100 Continue\r\n\r\n", 0, "", ""},
    {"an empty head", "\r\n\r\nStatus: 401 x\r\n\r\n", 0, "", ""},
    {"an empty field name", ": x\r\n\r\n", 0, "", ""},
};

struct cgi_seen {
	struct seen heads;
	char body[1024];
	size_t body_len;
	int body_ends;
};

static void cgi_collect(const struct head *h, void *arg)
{
	collect(h, arg);
}

static void cgi_body(const char *data, size_t len, void *arg)
{
	struct cgi_seen *s = arg;

	if (!len) {
		s->body_ends++;
		return;
	}
	cr_assert(data != NULL);
	if (len > sizeof(s->body) - 1 - s->body_len)
		len = sizeof(s->body) - 1 - s->body_len;
	memcpy(s->body + s->body_len, data, len);
	s->body_len += len;
}

static void check_cgi(const char *what, const struct cgi_seen *s, int status, const char *fields,
                      const char *body)
{
	if (!status) {
		cr_assert_eq(s->heads.n, 0, "%s: a head with status %d", what, s->heads.status[0]);
		return;
	}
	cr_assert_eq(s->heads.n, 1, "%s: %zu heads", what, s->heads.n);
	cr_expect_eq(s->heads.status[0], status, "%s: status %d", what, s->heads.status[0]);
	cr_expect_str_eq(s->heads.fields[0], fields, "%s", what);
	cr_expect_eq(s->body_len, strlen(body), "%s: body '%.*s'", what, (int)s->body_len, s->body);
	cr_expect(memcmp(s->body, body, s->body_len) == 0, "%s: body '%.*s'", what,
	          (int)s->body_len, s->body);
	cr_expect_eq(s->body_ends, 0, "%s: a CGI body ends with the stream", what);
}

Test(head, cgi_table_every_split)
{
	for (size_t i = 0; i < sizeof(cgi_cases) / sizeof(cgi_cases[0]); i++) {
		const struct cgi_case *tc = &cgi_cases[i];
		size_t len = strlen(tc->in);
		for (size_t a = 0; a <= len; a++) {
			struct head_reader r;
			struct cgi_seen s = {0};
			char what[128];
			snprintf(what, sizeof(what), "%s, cut at %zu", tc->name, a);
			head_init_cgi(&r);
			r.body = cgi_body;
			head_feed(&r, tc->in, a, cgi_collect, &s);
			head_feed(&r, tc->in + a, len - a, cgi_collect, &s);
			check_cgi(what, &s, tc->status, tc->fields, tc->body);
			head_free(&r);
		}
	}
}

/* The glue verdict.c will need: FCGI_STDOUT of one request into a CGI head
 * reader, a fresh one after each FCGI_END_REQUEST. */
struct fcgi_glue {
	struct head_reader r;
	struct cgi_seen s;
};

static void glue_event(const struct fcgi_event *ev, void *arg)
{
	struct fcgi_glue *g = arg;

	if (ev->type == FCGI_EVENT_STDOUT) {
		head_feed(&g->r, ev->data, ev->len, cgi_collect, &g->s);
	} else if (ev->type == FCGI_EVENT_END_REQUEST) {
		head_free(&g->r);
		head_init_cgi(&g->r);
		g->r.body = cgi_body;
	}
}

/* php-fpm's real output (fpm_capture.h) cut at every two places, a cut
 * inside a record header included. */
Test(head, php_fpm_heads_at_every_split)
{
	static const struct {
		const char *name, *in;
		size_t len;
		int status;
		const char *fields, *body;
	} t[] = {
	    {"401", FPM_401, sizeof(FPM_401) - 1, 401,
	     "Status=401 Unauthorized;X-Powered-By=PHP/8.2.36;WWW-Authenticate=Bearer "
	     "resource_metadata=\"https://mcp.example/.well-known/oauth-protected-resource\";"
	     "Content-Type=application/json;",
	     "{\"error\":\"unauthorized\"}"},
	    {"302", FPM_302, sizeof(FPM_302) - 1, 302,
	     "Status=302 Found;X-Powered-By=PHP/8.2.36;Location=https://login.example/;"
	     "Content-type=text/html; charset=UTF-8;",
	     ""},
	    {"200", FPM_200, sizeof(FPM_200) - 1, 200,
	     "X-Powered-By=PHP/8.2.36;Content-type=text/html; charset=UTF-8;", "hi"},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		for (size_t a = 0; a <= t[i].len; a++) {
			for (size_t b = a; b <= t[i].len; b++) {
				struct fcgi_glue *g = calloc(1, sizeof(*g));
				struct fcgi_reader f;
				char what[128];
				snprintf(what, sizeof(what), "php-fpm %s, cut at %zu and %zu",
				         t[i].name, a, b);
				fcgi_init(&f);
				head_init_cgi(&g->r);
				g->r.body = cgi_body;
				fcgi_feed(&f, t[i].in, a, glue_event, g);
				fcgi_feed(&f, t[i].in + a, b - a, glue_event, g);
				fcgi_feed(&f, t[i].in + b, t[i].len - b, glue_event, g);
				cr_assert_eq(f.status, FCGI_IS, "%s", what);
				check_cgi(what, &g->s, t[i].status, t[i].fields, t[i].body);
				head_free(&g->r);
				free(g);
			}
		}
	}
}

/* A second request on a kept connection gets a head of its own. */
Test(head, php_fpm_two_requests_one_connection)
{
	struct fcgi_glue *g = calloc(1, sizeof(*g));
	struct fcgi_reader f;

	fcgi_init(&f);
	head_init_cgi(&g->r);
	g->r.body = cgi_body;
	fcgi_feed(&f, FPM_200, sizeof(FPM_200) - 1, glue_event, g);
	fcgi_feed(&f, FPM_401, sizeof(FPM_401) - 1, glue_event, g);
	cr_assert_eq(g->s.heads.n, 2);
	cr_expect_eq(g->s.heads.status[0], 200);
	cr_expect_eq(g->s.heads.status[1], 401);
	head_free(&g->r);
	free(g);
}

/* The body tap: the payload of each final head's body, chunked coding
 * removed, and its end. */
Test(head, body_tap_every_split)
{
	static const char in[] = "HTTP/1.1 100 Continue\r\n\r\n"
	                         "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
	                         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                         "3;x=y\r\n wo\r\n2\r\nrl\r\n0\r\nT: 1\r\n\r\n"
	                         "HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n"
	                         "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
	                         "HTTP/1.1 200 OK\r\n\r\nd!";
	size_t len = sizeof(in) - 1;

	for (size_t a = 0; a <= len; a++) {
		struct head_reader r;
		struct cgi_seen s = {0};
		head_init(&r, NULL, 0);
		r.body = cgi_body;
		head_feed(&r, in, a, cgi_collect, &s);
		head_feed(&r, in + a, len - a, cgi_collect, &s);
		cr_assert_eq(s.heads.n, 5, "cut at %zu", a);
		cr_expect_eq(s.body_len, 12, "cut at %zu: %.*s", a, (int)s.body_len, s.body);
		cr_expect(memcmp(s.body, "hello world!", 12) == 0, "cut at %zu: %.*s", a,
		          (int)s.body_len, s.body);
		/* Counted, chunked, 204, empty; the last runs to the close. */
		cr_expect_eq(s.body_ends, 4, "cut at %zu: %d ends", a, s.body_ends);
		head_free(&r);
	}
}

/* A CGI head over the cap might have lost its Status field: no head. */
Test(head, an_oversize_cgi_head_is_given_up)
{
	size_t big = HEAD_MAX_BYTES;
	char *data = malloc(big + 64);
	struct head_reader r;
	struct cgi_seen s = {0};

	size_t at = (size_t)sprintf(data, "X-Big: ");
	memset(data + at, 'a', big);
	at += big;
	at += (size_t)sprintf(data + at, "\r\nStatus: 401 x\r\n\r\n");
	head_init_cgi(&r);
	head_feed(&r, data, at, cgi_collect, &s);
	cr_expect_eq(s.heads.n, 0, "status %d", s.heads.status[0]);
	head_free(&r);
	free(data);
}

struct hosts {
	char host[4][64];
	size_t n;
};

static void collect_host(const struct head *h, void *arg)
{
	struct hosts *s = arg;
	if (s->n < 4)
		snprintf(s->host[s->n++], sizeof(s->host[0]), "%.*s",
		         h->host ? (int)h->host_len : 4, h->host ? h->host : "NULL");
}

/* Request heads (the socket source): the first Host field of each, with
 * the framing noted line by line, whatever the pieces: a body's bytes
 * (here "Host:") are skipped, a field folded or without a colon is none. */
Test(head, request_heads_every_split)
{
	static const char reqs[] = "POST /a HTTP/1.1\r\n"
	                           "X-Long:\r\n Host: folded\r\n"
	                           "host: \t example.org:8080 \r\n"
	                           "Content-Length: 5\r\n"
	                           "\r\n"
	                           "Host:"
	                           "GET /b HTTP/1.1\r\n"
	                           "Hostname: no\r\n"
	                           "HOST: b.example\r\n"
	                           "Host: second\r\n"
	                           "\r\n"
	                           "PUT /c HTTP/1.1\r\n"
	                           "Transfer-Encoding: gzip, chunked\r\n"
	                           "\r\n"
	                           "3\r\nGET\r\n0\r\n\r\n"
	                           "GET /d HTTP/1.1\n\n";
	static char buf[HEAD_MAX_BYTES];
	for (size_t piece = 0; piece <= 40; piece++) {
		struct head_reader r;
		struct hosts s = {0};
		size_t len = strlen(reqs);
		head_init(&r, buf, sizeof(buf));
		r.request = true;
		for (size_t i = 0; i < len;) {
			size_t n = piece && piece < len - i ? piece : len - i;
			head_feed(&r, reqs + i, n, collect_host, &s);
			i += n;
		}
		cr_assert_eq(s.n, 4, "piece %zu: %zu heads", piece, s.n);
		cr_expect_str_eq(s.host[0], "example.org:8080", "piece %zu", piece);
		cr_expect_str_eq(s.host[1], "b.example", "piece %zu", piece);
		cr_expect_str_eq(s.host[2], "NULL", "piece %zu", piece);
		cr_expect_str_eq(s.host[3], "NULL", "piece %zu", piece);
		cr_expect_eq(r.state, HEAD_IN_HEAD, "piece %zu", piece);
	}
}
