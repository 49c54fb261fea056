/* The incremental response-head reader: every split of the written bytes
 * gives the same heads, and bodies, 1xx heads and trailers are skipped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

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
