/* Fuzz target: the incremental readers of what a host writes to its client
 * (preload/fcgi.c, preload/head.c in both modes with its body tap,
 * preload/carry.c).  The input is
 *
 *   flags, n1, n1 bytes of a challenge, n2, n2 bytes of a URL, the stream
 *
 * (flags: bit 0 an event stream, bit 1 CGI heads, bit 2 the body ended,
 * bits 3-7 a carry limit, 0 for the default).  Each reader is fed the
 * stream whole, a byte at a time, and cut once at every place (at 33
 * places when it is long), and must give the same answer each time: the
 * same FastCGI events and status, the same heads and body bytes, the same
 * values found.  A plain body with no backslash in it is also checked
 * against a plain search: the value is found exactly when it occurs with
 * no URI character (a URL) or token character (a challenge) before it and
 * nothing after it that would go on. */
#include <stdbool.h>
#include <string.h>

#include "carry.h"
#include "fcgi.h"
#include "fuzz.h"
#include "head.h"

const char *fuzz_input_name;

/* What a reader did, as bytes, to compare runs. */
struct trace {
	unsigned char *p;
	size_t len, cap;
};

static void trace_add(struct trace *t, const void *p, size_t n)
{
	if (t->len + n > t->cap) {
		size_t cap = (t->len + n) * 2 + 64;
		unsigned char *q = realloc(t->p, cap);
		FUZZ_CHECK(q);
		t->p = q;
		t->cap = cap;
	}
	memcpy(t->p + t->len, p, n);
	t->len += n;
}

static void trace_tag(struct trace *t, char tag, unsigned long long v)
{
	trace_add(t, &tag, 1);
	trace_add(t, &v, sizeof(v));
}

static bool trace_same(const struct trace *a, const struct trace *b)
{
	return a->len == b->len && (!a->len || memcmp(a->p, b->p, a->len) == 0);
}

/* Cuts: whole, every byte, or once at `at`. */
enum { WHOLE, BYTES, ONCE };

static size_t piece_len(int how, size_t at, size_t done, size_t len)
{
	if (how == WHOLE)
		return len - done;
	if (how == BYTES)
		return 1;
	return done < at ? at - done : len - done;
}

static void on_fcgi(const struct fcgi_event *ev, void *arg)
{
	struct trace *t = arg;

	FUZZ_CHECK(ev->type == FCGI_EVENT_STDOUT ? ev->len > 0 && ev->data : ev->len == 0);
	FUZZ_CHECK(ev->request_id > 0 && ev->request_id <= 0xffff);
	trace_tag(t, (char)('a' + ev->type), ev->request_id);
	if (ev->type == FCGI_EVENT_STDOUT) {
		/* Pieces of one stream join: only the bytes are kept. */
		t->len -= 1 + sizeof(unsigned long long);
		trace_add(t, ev->data, ev->len);
	} else if (ev->type == FCGI_EVENT_END_REQUEST) {
		trace_tag(t, 's', ev->app_status << 8 | ev->protocol_status);
	}
}

static void run_fcgi(const char *s, size_t len, int how, size_t at, struct trace *t)
{
	struct fcgi_reader r;
	enum fcgi_status last = FCGI_UNSURE;

	fcgi_init(&r);
	for (size_t done = 0; done < len;) {
		size_t n = piece_len(how, at, done, len);
		enum fcgi_status st = fcgi_feed(&r, s + done, n, on_fcgi, t);
		/* Never unsure again once sure; never taken back once refused. */
		FUZZ_CHECK(last == FCGI_UNSURE || st != FCGI_UNSURE);
		FUZZ_CHECK(last != FCGI_NOT || st == FCGI_NOT);
		last = st;
		done += n;
	}
	trace_tag(t, 'S', r.status);
	/* A server's records begin with version 1. */
	if (len && s[0] != 1)
		FUZZ_CHECK(r.status == FCGI_NOT && r.records == 0);
}

static void on_head(const struct head *h, void *arg)
{
	struct trace *t = arg;
	struct head_field f;
	size_t pos = 0, n = 0;

	FUZZ_CHECK(h->status >= 200 && h->status <= 999);
	trace_tag(t, 'H', (unsigned)h->status);
	trace_add(t, h->raw, h->raw_len);
	while (head_next_field(h, &pos, &f)) {
		FUZZ_CHECK(f.name >= h->raw && f.value + f.value_len <= h->raw + h->raw_len);
		FUZZ_CHECK(++n <= h->raw_len);
	}
}

static void on_body(const char *data, size_t len, void *arg)
{
	struct trace *t = arg;

	if (!len) {
		trace_tag(t, 'E', 0);
		return;
	}
	FUZZ_CHECK(data);
	trace_tag(t, 'B', 0);
	t->len -= 1 + sizeof(unsigned long long);
	trace_add(t, data, len);
}

static void run_head(const char *s, size_t len, bool cgi, int how, size_t at, struct trace *t)
{
	struct head_reader r;

	if (cgi)
		head_init_cgi(&r);
	else
		head_init(&r, NULL, 0);
	r.body = on_body;
	for (size_t done = 0; done < len;) {
		size_t n = piece_len(how, at, done, len);
		head_feed(&r, s + done, n, on_head, t);
		done += n;
	}
	trace_tag(t, 'S', r.state);
	head_free(&r);
}

struct needles {
	const char *v[2];
	size_t len[2];
	int index[2];
};

static unsigned run_carry(struct carry *c, const char *s, size_t len, unsigned flags,
                          const struct needles *nd, int how, size_t at)
{
	unsigned found = 0;

	carry_init(c, flags & 1 ? CARRY_SSE : CARRY_PLAIN, flags >> 3);
	for (int k = 0; k < 2; k++) {
		int i = carry_add(c, k ? CARRY_URL : CARRY_CHALLENGE, nd->v[k], nd->len[k]);
		FUZZ_CHECK(i == nd->index[k]);
	}
	for (size_t done = 0; done < len;) {
		size_t n = piece_len(how, at, done, len);
		unsigned f = carry_feed(c, s + done, n);
		/* An answer is never taken back. */
		FUZZ_CHECK((f & found) == found);
		found = f;
		done += n;
	}
	if (flags & 4) {
		found = carry_end(c);
		FUZZ_CHECK(carry_done(c));
	}
	return found;
}

static bool is_tchar(unsigned char b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
	       (b && strchr("!#$%&'*+-.^_`|~", b));
}

static bool is_uric(unsigned char b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
	       (b && strchr("-._~:/?#[]@!$&'()*+,;=%", b));
}

/* The plain search: carry.c's boundary rule, over a whole text. */
static bool plain_find(const char *s, size_t len, const char *v, size_t n, bool url)
{
	for (size_t p = 0; n && p + n <= len; p++) {
		if (memcmp(s + p, v, n) != 0)
			continue;
		if (p &&
		    (url ? is_uric((unsigned char)s[p - 1]) : is_tchar((unsigned char)s[p - 1])))
			continue;
		size_t q = p + n;
		if (q == len)
			return true;
		unsigned char b = (unsigned char)s[q];
		if (url) {
			if (!is_uric(b))
				return true;
			continue;
		}
		if (is_tchar(b) || b == '=' || b == '/' || b == ',')
			continue;
		while (q < len && (s[q] == ' ' || s[q] == '\t'))
			q++;
		if (q == len || s[q] != ',')
			return true;
	}
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	size_t at = 0;
	unsigned flags = size ? data[at++] : 0;
	struct needles nd;

	for (int k = 0; k < 2; k++) {
		size_t n = at < size ? data[at++] % 64 : 0;
		if (n > size - at)
			n = size - at;
		nd.v[k] = s + at;
		nd.len[k] = n;
		at += n;
	}
	nd.index[0] = 0;
	nd.index[1] = 1;
	for (int k = 0; k < 2; k++) {
		if (!nd.len[k] || memchr(nd.v[k], '\r', nd.len[k]) ||
		    memchr(nd.v[k], '\n', nd.len[k]))
			nd.index[k] = -1;
	}
	if (nd.index[0] < 0 && nd.index[1] >= 0)
		nd.index[1] = 0;
	const char *stream = s + at;
	size_t len = size - at;

	/* Every cut gives what the whole gives. */
	size_t step = len > 128 ? len / 32 : 1;
	struct trace f0 = {0}, h0 = {0};
	struct carry *c = malloc(sizeof(*c));
	FUZZ_CHECK(c);
	run_fcgi(stream, len, WHOLE, 0, &f0);
	run_head(stream, len, flags & 2, WHOLE, 0, &h0);
	unsigned c0 = run_carry(c, stream, len, flags, &nd, WHOLE, 0);
	for (size_t cut = 0; cut <= len + 1; cut += step) {
		int how = cut > len ? BYTES : ONCE;
		struct trace f = {0}, h = {0};
		run_fcgi(stream, len, how, cut, &f);
		FUZZ_CHECK(trace_same(&f0, &f));
		run_head(stream, len, flags & 2, how, cut, &h);
		FUZZ_CHECK(trace_same(&h0, &h));
		FUZZ_CHECK(run_carry(c, stream, len, flags, &nd, how, cut) == c0);
		free(f.p);
		free(h.p);
	}
	free(f0.p);
	free(h0.p);

	/* Against the plain search, when unescaping changes nothing. */
	size_t limit = flags >> 3 ? flags >> 3 : CARRY_LIMIT_DEFAULT;
	if (!(flags & 1) && (flags & 4) && len <= limit && !memchr(stream, '\\', len)) {
		for (int k = 0; k < 2; k++) {
			if (nd.index[k] < 0 || memchr(nd.v[k], '\\', nd.len[k]))
				continue;
			bool want = plain_find(stream, len, nd.v[k], nd.len[k], k == 1);
			FUZZ_CHECK(!!(c0 & 1u << nd.index[k]) == want);
		}
	}
	free(c);
	return 0;
}
