/* The FastCGI record reader: what a server writes, cut anywhere, gives the
 * same events; what is not a server's records is given up on at once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "fcgi.h"
#include "fpm_capture.h"

#define IN(s) s, sizeof(s) - 1

/* The events as text: "[o1]" then the stdout bytes of request 1 (pieces
 * of one record stream joined), "[eos1]", "[end1 app proto]". */
struct transcript {
	char text[4096];
	size_t len;
	int last; /* request id of the stdout being appended, -1 none */
};

static void add(struct transcript *t, const char *p, size_t n)
{
	if (n > sizeof(t->text) - 1 - t->len)
		n = sizeof(t->text) - 1 - t->len;
	memcpy(t->text + t->len, p, n);
	t->len += n;
	t->text[t->len] = '\0';
}

static void on_event(const struct fcgi_event *ev, void *arg)
{
	struct transcript *t = arg;
	char tag[64];

	switch (ev->type) {
	case FCGI_EVENT_STDOUT:
		cr_assert(ev->len > 0, "an empty stdout piece");
		if (t->last != (int)ev->request_id) {
			snprintf(tag, sizeof(tag), "[o%u]", ev->request_id);
			add(t, tag, strlen(tag));
			t->last = (int)ev->request_id;
		}
		add(t, ev->data, ev->len);
		return;
	case FCGI_EVENT_STDOUT_END:
		snprintf(tag, sizeof(tag), "[eos%u]", ev->request_id);
		break;
	case FCGI_EVENT_END_REQUEST:
		snprintf(tag, sizeof(tag), "[end%u %u %u]", ev->request_id, ev->app_status,
		         ev->protocol_status);
		break;
	}
	add(t, tag, strlen(tag));
	t->last = -1;
}

/* Feeds in[0, len) cut at the given places (ascending, 0 to 2 cuts), each
 * piece in a buffer of its own exact size. */
static enum fcgi_status run(const char *in, size_t len, size_t cut1, size_t cut2,
                            struct transcript *t)
{
	struct fcgi_reader r;
	size_t cuts[] = {0, cut1, cut2, len};
	enum fcgi_status st = FCGI_UNSURE;

	memset(t, 0, sizeof(*t));
	t->last = -1;
	fcgi_init(&r);
	for (int i = 0; i < 3; i++) {
		size_t n = cuts[i + 1] - cuts[i];
		char *piece = malloc(n ? n : 1);
		memcpy(piece, in + cuts[i], n);
		st = fcgi_feed(&r, piece, n, on_event, t);
		free(piece);
	}
	return st;
}

struct fcgi_case {
	const char *name;
	const char *in;
	size_t len;
	enum fcgi_status status;
	const char *events;
};

#define REC(type, id, clen, pad) "\x01" type "\x00" id "\x00" clen pad "\x00"
#define END_BODY "\x00\x00\x00\x00\x00\x00\x00\x00"

static const struct fcgi_case cases[] = {
    {"php-fpm 401 in one write", IN(FPM_401), FCGI_IS,
     "[o1]Status: 401 Unauthorized\r\nX-Powered-By: PHP/8.2.36\r\n"
     "WWW-Authenticate: Bearer resource_metadata=\"https://mcp.example/.well-known/"
     "oauth-protected-resource\"\r\nContent-Type: application/json\r\n\r\n"
     "{\"error\":\"unauthorized\"}[end1 0 0]"},
    {"php-fpm 302, junk in the reserved bytes", IN(FPM_302), FCGI_IS,
     "[o1]Status: 302 Found\r\nX-Powered-By: PHP/8.2.36\r\nLocation: https://login.example/\r\n"
     "Content-type: text/html; charset=UTF-8\r\n\r\n[end1 0 0]"},
    {"an empty stdout record ends the stream",
     IN(REC("\x06", "\x07", "\x03", "\x00") "abc" REC("\x06", "\x07", "\x00", "\x00")
            REC("\x03", "\x07", "\x08", "\x00") "\x00\x00\x01\x02\x03\x00\x00\x00"),
     FCGI_IS, "[o7]abc[eos7][end7 258 3]"},
    {"stderr is not stdout",
     IN(REC("\x07", "\x01", "\x04", "\x02") "oops\0\0" REC("\x06", "\x01", "\x02", "\x00") "ok"),
     FCGI_IS, "[o1]ok"},
    {"padding and two requests interleaved",
     IN(REC("\x06", "\x01", "\x01", "\x07") "A\0\0\0\0\0\0\0" REC(
         "\x06", "\x02", "\x01", "\x00") "B" REC("\x06", "\x01", "\x01",
                                                 "\x00") "C" REC("\x03", "\x02", "\x08", "\x00")
            END_BODY),
     FCGI_IS, "[o1]A[o2]B[o1]C[end2 0 0]"},
    {"management records are skipped",
     IN(REC("\x0a", "\x00", "\x05", "\x03") "vwxyz\0\0\0" REC(
         "\x0b", "\x00", "\x08", "\x00") "\x09\0\0\0\0\0\0\0" REC("\x06", "\x03", "\x01",
                                                                  "\x00") "x"),
     FCGI_IS, "[o3]x"},
    {"a header not yet whole", IN("\x01\x06\x00\x01\x00"), FCGI_UNSURE, ""},
    {"nothing", "", 0, FCGI_UNSURE, ""},
    {"an HTTP response", IN("HTTP/1.1 401 Unauthorized\r\n\r\n"), FCGI_NOT, ""},
    {"TLS", IN("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"), FCGI_NOT, ""},
    {"a client's record (BEGIN_REQUEST)", IN(REC("\x01", "\x01", "\x08", "\x00") END_BODY),
     FCGI_NOT, ""},
    {"a client's record (PARAMS)", IN(REC("\x04", "\x01", "\x00", "\x00")), FCGI_NOT, ""},
    {"version 2", IN("\x02\x06\x00\x01\x00\x00\x00\x00"), FCGI_NOT, ""},
    {"stdout for request 0", IN("\x01\x06\x00\x00\x00\x01\x00\x00x"), FCGI_NOT, ""},
    {"a management record with a request id", IN("\x01\x0a\x00\x01\x00\x00\x00\x00"), FCGI_NOT, ""},
    {"END_REQUEST of 7 bytes", IN(REC("\x03", "\x01", "\x07", "\x00") "\0\0\0\0\0\0\0"), FCGI_NOT,
     ""},
    {"garbage after a good record",
     IN(REC("\x06", "\x01", "\x02", "\x00") "hiHTTP/1.1 200 OK\r\n\r\n"), FCGI_NOT, "[o1]hi"},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

Test(fcgi, table_every_split)
{
	for (size_t i = 0; i < NCASES; i++) {
		const struct fcgi_case *tc = &cases[i];
		for (size_t a = 0; a <= tc->len; a++) {
			for (size_t b = a; b <= tc->len; b++) {
				struct transcript t;
				enum fcgi_status st = run(tc->in, tc->len, a, b, &t);
				cr_assert_eq(st, tc->status, "%s, cut at %zu and %zu: status %d",
				             tc->name, a, b, st);
				cr_assert_eq(t.len, strlen(tc->events),
				             "%s, cut at %zu and %zu: %s", tc->name, a, b, t.text);
				cr_assert(memcmp(t.text, tc->events, t.len) == 0,
				          "%s, cut at %zu and %zu: %s", tc->name, a, b, t.text);
			}
		}
	}
}

/* The verdict tries it on a connection's first bytes: an HTTP response or
 * TLS is refused by the first byte, a client's record by the second. */
Test(fcgi, refused_at_once)
{
	struct fcgi_reader r;
	struct transcript t = {.last = -1};

	fcgi_init(&r);
	cr_expect_eq(fcgi_feed(&r, "H", 1, on_event, &t), FCGI_NOT);
	fcgi_init(&r);
	cr_expect_eq(fcgi_feed(&r, "\x16", 1, on_event, &t), FCGI_NOT);
	fcgi_init(&r);
	cr_expect_eq(fcgi_feed(&r, "\x01", 1, on_event, &t), FCGI_UNSURE);
	cr_expect_eq(fcgi_feed(&r, "\x05", 1, on_event, &t), FCGI_NOT);
	/* It stays refused. */
	cr_expect_eq(fcgi_feed(&r, IN(FPM_401), on_event, &t), FCGI_NOT);
	cr_expect_eq(t.len, 0);
}

/* The event stream php-fpm wrote in two writes reads as one stream. */
Test(fcgi, php_fpm_two_writes)
{
	struct fcgi_reader r;
	struct transcript t = {.last = -1};

	fcgi_init(&r);
	cr_assert_eq(fcgi_feed(&r, IN(FPM_SSE_1), on_event, &t), FCGI_IS);
	cr_assert_eq(fcgi_feed(&r, IN(FPM_SSE_2), on_event, &t), FCGI_IS);
	cr_expect(strstr(t.text, "[o1]X-Powered-By: PHP/8.2.36\r\n"
	                         "Content-type: text/event-stream;charset=UTF-8\r\n\r\n"
	                         "event: message\ndata: {") == t.text);
	cr_expect(strstr(t.text, "}}}\n\n[end1 0 0]") != NULL, "%s", t.text);
	cr_expect_eq(r.records, 3);
}
