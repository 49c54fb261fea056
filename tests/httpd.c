/* Canned-response HTTP/1.1 server for authtap's integration tests.
 *
 *   httpd [--port-file PATH]
 *
 * Binds 127.0.0.1 on an ephemeral port, prints the port on stdout (and to
 * PATH), and answers every request from a fixed table of routes whose bytes
 * go out exactly as written, so that a test can provoke any authentication
 * challenge, hostile ones included, over a real socket.  One detached thread
 * per connection keeps /slow from stalling anyone else.  The process ends when
 * stdin reaches EOF, after IDLE_SECS without any connection, or after
 * LIFE_SECS in total, whichever comes first. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HEAD_MAX (64 * 1024)
#define CHUNK_LINE_MAX 1024
#define CHUNKS_MAX (1L << 20)
#define TRAILERS_MAX 100
#define BODY_MAX (1ULL << 40)
#define IDLE_SECS 60
#define LIFE_SECS 600
#define IO_TIMEOUT_SECS 30
#define CONNS_MAX 256
#define REQUESTS_PER_CONN_MAX 100000
#define HOSTILE_COUNT_MAX 10000
#define HOSTILE_SIZE_MAX 200000
#define HOSTILE_BYTES_MAX (32 * 1024 * 1024)
#define SLOW_SECS 3
#define THREAD_STACK (256 * 1024)

static unsigned int listen_port;
static atomic_int live_conns;
static atomic_llong last_activity;

struct buf {
	char *data;
	size_t len;
	size_t cap;
	bool oom;
};

/* What the routes need to know about one request.  The views point into the
 * connection's input buffer and die when the body is read. */
struct request {
	const char *path;
	size_t path_len;
	const char *query;
	size_t query_len;
	const char *auth; /* Authorization value, NULL when absent */
	size_t auth_len;
	long long content_length; /* -1 when absent */
	bool chunked;
	bool close;
	bool expect_continue;
	bool head;
	bool connect;
};

struct reply {
	int status;
	struct buf head; /* route-specific header lines, each ending in CRLF */
	struct buf body;
	const char *type;
	bool close;
	unsigned int delay;
};

/* Buffered reader over one accepted socket; [start, end) is unread input. */
struct conn {
	int fd;
	char *buf;
	size_t start;
	size_t end;
};

static long long now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

/* Appends n bytes; on allocation failure the buffer stays as it was and
 * remembers the failure, so callers check once at the end. */
static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->oom || n == 0)
		return;
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		char *d;

		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2) {
				b->oom = true;
				return;
			}
			cap *= 2;
		}
		d = realloc(b->data, cap);
		if (!d) {
			b->oom = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static void buf_fill(struct buf *b, char c, size_t n)
{
	char chunk[4096];

	memset(chunk, c, sizeof(chunk));
	while (n > 0) {
		size_t take = n < sizeof(chunk) ? n : sizeof(chunk);

		buf_add(b, chunk, take);
		n -= take;
	}
}

__attribute__((format(printf, 2, 3))) static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = true;
	} else if ((size_t)n < sizeof(small)) {
		buf_add(b, small, (size_t)n);
	} else {
		char *big = malloc((size_t)n + 1);

		if (!big) {
			b->oom = true;
			return;
		}
		va_start(ap, fmt);
		vsnprintf(big, (size_t)n + 1, fmt, ap);
		va_end(ap);
		buf_add(b, big, (size_t)n);
		free(big);
	}
}

static void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){0};
}

static bool view_is(const char *p, size_t n, const char *s)
{
	return n == strlen(s) && memcmp(p, s, n) == 0;
}

static bool view_is_nocase(const char *p, size_t n, const char *s)
{
	return n == strlen(s) && strncasecmp(p, s, n) == 0;
}

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static void trim(const char **p, size_t *n)
{
	while (*n > 0 && is_ows(**p)) {
		(*p)++;
		(*n)--;
	}
	while (*n > 0 && is_ows((*p)[*n - 1]))
		(*n)--;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int send_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Compacts the buffer and reads what the socket has.  Returns the byte count,
 * 0 on EOF, -1 on error, timeout or a full buffer. */
static ssize_t conn_fill(struct conn *c)
{
	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end >= HEAD_MAX)
		return -1;
	for (;;) {
		ssize_t n = recv(c->fd, c->buf + c->end, HEAD_MAX - c->end, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			c->end += (size_t)n;
		return n;
	}
}

/* Waits for a whole request head.  Returns 1 with *len set (terminator
 * included), 0 on EOF between requests, -1 on error or EOF inside a head, -2
 * when the head outgrows HEAD_MAX. */
static int conn_read_head(struct conn *c, size_t *len)
{
	size_t scanned = 0;

	for (;;) {
		char *base = c->buf + c->start;
		size_t avail = c->end - c->start;
		size_t from = scanned > 3 ? scanned - 3 : 0;
		char *hit = memmem(base + from, avail - from, "\r\n\r\n", 4);
		ssize_t n;

		if (hit) {
			*len = (size_t)(hit + 4 - base);
			return 1;
		}
		if (avail >= HEAD_MAX)
			return -2;
		scanned = avail;
		n = conn_fill(c);
		if (n == 0)
			return avail == 0 ? 0 : -1;
		if (n < 0)
			return -1;
	}
}

/* Consumes and drops n body bytes. */
static int conn_skip(struct conn *c, unsigned long long n)
{
	while (n > 0) {
		size_t avail = c->end - c->start;
		size_t take;

		if (avail == 0) {
			if (conn_fill(c) <= 0)
				return -1;
			continue;
		}
		take = avail < n ? avail : (size_t)n;
		c->start += take;
		n -= take;
	}
	return 0;
}

/* Returns the next line without its CRLF, consuming it. */
static int conn_read_line(struct conn *c, const char **line, size_t *len)
{
	for (;;) {
		char *base = c->buf + c->start;
		size_t avail = c->end - c->start;
		char *nl = memchr(base, '\n', avail);

		if (nl) {
			*line = base;
			*len = (size_t)(nl - base);
			if (*len > 0 && base[*len - 1] == '\r')
				(*len)--;
			c->start += (size_t)(nl + 1 - base);
			return 0;
		}
		if (avail >= CHUNK_LINE_MAX || conn_fill(c) <= 0)
			return -1;
	}
}

/* Drops a chunked request body (as `curl -T -` sends), trailers included:
 *
 *   1a;ext=1\r\n<26 bytes>\r\n0\r\n\r\n */
static int conn_skip_chunked(struct conn *c)
{
	const char *line;
	size_t len;

	for (long i = 0; i < CHUNKS_MAX; i++) {
		unsigned long long size = 0;
		size_t k;

		if (conn_read_line(c, &line, &len))
			return -1;
		for (k = 0; k < len && hex_digit(line[k]) >= 0; k++) {
			size = size * 16 + (unsigned long long)hex_digit(line[k]);
			if (size > BODY_MAX)
				return -1;
		}
		if (k == 0)
			return -1;
		if (size == 0) {
			for (int t = 0; t < TRAILERS_MAX; t++) {
				if (conn_read_line(c, &line, &len))
					return -1;
				if (len == 0)
					return 0;
			}
			return -1;
		}
		if (conn_skip(c, size) || conn_read_line(c, &line, &len) || len != 0)
			return -1;
	}
	return -1;
}

/* Lets a client that is still sending see our last answer: closing a socket
 * with unread input makes the kernel send RST, which can beat the answer. */
static void conn_close_gently(struct conn *c)
{
	struct timeval tv = {.tv_sec = 1};
	char sink[4096];

	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	shutdown(c->fd, SHUT_WR);
	for (int i = 0; i < 256; i++) {
		ssize_t n = recv(c->fd, sink, sizeof(sink), 0);

		if (n <= 0 && !(n < 0 && errno == EINTR))
			break;
	}
}

static bool list_has_token(const char *p, size_t n, const char *token)
{
	while (n > 0) {
		const char *comma = memchr(p, ',', n);
		size_t item = comma ? (size_t)(comma - p) : n;
		const char *t = p;
		size_t tn = item;

		trim(&t, &tn);
		if (view_is_nocase(t, tn, token))
			return true;
		if (!comma)
			break;
		p = comma + 1;
		n -= item + 1;
	}
	return false;
}

static int parse_content_length(const char *p, size_t n, long long *out)
{
	unsigned long long v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (unsigned long long)(p[i] - '0');
		if (v > BODY_MAX)
			return -1;
	}
	if (*out >= 0 && (unsigned long long)*out != v)
		return -1;
	*out = (long long)v;
	return 0;
}

/* Splits the target into path and query.  Absolute-form targets, as sent to
 * a proxy ("GET http://host:port/407 HTTP/1.1"), route by their path. */
static void parse_target(const char *t, size_t n, struct request *rq)
{
	const char *q;

	if (n >= 7 && strncasecmp(t, "http://", 7) == 0) {
		const char *slash = memchr(t + 7, '/', n - 7);

		if (!slash) {
			rq->path = "/";
			rq->path_len = 1;
			rq->query = "";
			rq->query_len = 0;
			return;
		}
		n -= (size_t)(slash - t);
		t = slash;
	}
	q = memchr(t, '?', n);
	rq->path = t;
	rq->path_len = q ? (size_t)(q - t) : n;
	rq->query = q ? q + 1 : "";
	rq->query_len = q ? n - rq->path_len - 1 : 0;
}

/* Parses a head that ends in CRLFCRLF.  Returns 0, or the status to answer
 * with before closing: 400 for anything malformed, 501 for a transfer coding
 * other than chunked. */
static int parse_request(const char *head, size_t len, struct request *rq)
{
	const char *end = head + len;
	const char *p = head;
	const char *sp1, *sp2, *ver;
	bool http10, keep_alive = false;
	size_t n;

	*rq = (struct request){.content_length = -1};

	n = (size_t)((const char *)memchr(p, '\n', (size_t)(end - p)) - p);
	if (n > 0 && p[n - 1] == '\r')
		n--;
	sp1 = memchr(p, ' ', n);
	if (!sp1 || sp1 == p)
		return 400;
	sp2 = memchr(sp1 + 1, ' ', n - (size_t)(sp1 + 1 - p));
	if (!sp2 || sp2 == sp1 + 1)
		return 400;
	ver = sp2 + 1;
	if (view_is(ver, n - (size_t)(ver - p), "HTTP/1.1"))
		http10 = false;
	else if (view_is(ver, n - (size_t)(ver - p), "HTTP/1.0"))
		http10 = true;
	else
		return 400;
	for (const char *m = p; m < sp1; m++)
		if (*m <= ' ' || *m >= 0x7f)
			return 400;
	for (const char *t = sp1 + 1; t < sp2; t++)
		if ((unsigned char)*t <= ' ' || *t == 0x7f)
			return 400;
	rq->head = view_is(p, (size_t)(sp1 - p), "HEAD");
	rq->connect = view_is(p, (size_t)(sp1 - p), "CONNECT");
	parse_target(sp1 + 1, (size_t)(sp2 - sp1 - 1), rq);

	p = memchr(p, '\n', (size_t)(end - p)) + 1;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *colon, *name, *value;
		size_t name_len, value_len;

		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		colon = memchr(p, ':', n);
		if (!colon || colon == p || is_ows(*p))
			return 400;
		name = p;
		name_len = (size_t)(colon - p);
		for (size_t i = 0; i < name_len; i++)
			if ((unsigned char)name[i] <= ' ' || name[i] == 0x7f)
				return 400;
		value = colon + 1;
		value_len = n - name_len - 1;
		trim(&value, &value_len);

		if (view_is_nocase(name, name_len, "Content-Length")) {
			if (parse_content_length(value, value_len, &rq->content_length))
				return 400;
		} else if (view_is_nocase(name, name_len, "Transfer-Encoding")) {
			if (!view_is_nocase(value, value_len, "chunked"))
				return 501;
			rq->chunked = true;
		} else if (view_is_nocase(name, name_len, "Connection")) {
			if (list_has_token(value, value_len, "close"))
				rq->close = true;
			if (list_has_token(value, value_len, "keep-alive"))
				keep_alive = true;
		} else if (view_is_nocase(name, name_len, "Expect")) {
			if (view_is_nocase(value, value_len, "100-continue"))
				rq->expect_continue = true;
		} else if (view_is_nocase(name, name_len, "Authorization")) {
			rq->auth = value;
			rq->auth_len = value_len;
		}
		p = nl + 1;
	}
	if (http10 && !keep_alive)
		rq->close = true;
	/* Both framings at once smell of request smuggling: serve, then close. */
	if (rq->chunked && rq->content_length >= 0)
		rq->close = true;
	return 0;
}

static void reply_text(struct reply *rp, int status, const char *text)
{
	rp->status = status;
	rp->type = "text/plain";
	buf_str(&rp->body, text);
}

static void reply_redirect(struct reply *rp, const char *to)
{
	rp->status = 302;
	buf_str(&rp->head, "Location: ");
	buf_str(&rp->head, to);
	buf_str(&rp->head, "\r\n");
}

static bool auth_scheme_is(const struct request *rq, const char *scheme)
{
	size_t n = strlen(scheme);

	return rq->auth && rq->auth_len >= n && strncasecmp(rq->auth, scheme, n) == 0 &&
	       (rq->auth_len == n || rq->auth[n] == ' ');
}

static void route_200(const struct request *rq, struct reply *rp)
{
	(void)rq;
	reply_text(rp, 200, "ok\n");
}

static void route_401(const struct request *rq, struct reply *rp)
{
	(void)rq;
	buf_fmt(&rp->head,
	        "WWW-Authenticate: Bearer realm=\"mcp\", resource_metadata=\"http://127.0.0.1:%u"
	        "/.well-known/oauth-protected-resource\", scope=\"mcp:tools\"\r\n",
	        listen_port);
	reply_text(rp, 401, "unauthorized\n");
}

static void route_401_many(const struct request *rq, struct reply *rp)
{
	(void)rq;
	buf_str(&rp->head, "WWW-Authenticate: Negotiate\r\n"
	                   "WWW-Authenticate: Basic realm=\"a, b\", charset=\"UTF-8\"\r\n"
	                   "WWW-Authenticate: Bearer realm=\"mcp\", error=\"invalid_token\", "
	                   "error_description=\"The access token expired\"\r\n");
	reply_text(rp, 401, "unauthorized\n");
}

static void route_401_none(const struct request *rq, struct reply *rp)
{
	(void)rq;
	reply_text(rp, 401, "unauthorized\n");
}

static void route_403_scope(const struct request *rq, struct reply *rp)
{
	(void)rq;
	buf_str(&rp->head, "WWW-Authenticate: Bearer error=\"insufficient_scope\", "
	                   "scope=\"mcp:tools mcp:admin\"\r\n");
	reply_text(rp, 403, "forbidden\n");
}

static void route_407(const struct request *rq, struct reply *rp)
{
	(void)rq;
	buf_str(&rp->head, "Proxy-Authenticate: Basic realm=\"proxy\"\r\n");
	reply_text(rp, 407, "proxy authentication required\n");
}

static void route_redirect_401(const struct request *rq, struct reply *rp)
{
	(void)rq;
	reply_redirect(rp, "/401");
}

static void route_redirect_200(const struct request *rq, struct reply *rp)
{
	(void)rq;
	reply_redirect(rp, "/200");
}

static void route_302_challenge(const struct request *rq, struct reply *rp)
{
	(void)rq;
	reply_redirect(rp, "/200");
	buf_str(&rp->head, "WWW-Authenticate: Bearer realm=\"odd\"\r\n");
}

/* The challenge is RFC 2617's example; any Digest answer is let through. */
static void route_digest(const struct request *rq, struct reply *rp)
{
	if (auth_scheme_is(rq, "Digest")) {
		reply_text(rp, 200, "ok\n");
		return;
	}
	buf_str(&rp->head, "WWW-Authenticate: Digest realm=\"test\", qop=\"auth\", "
	                   "nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
	                   "opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"\r\n");
	reply_text(rp, 401, "unauthorized\n");
}

static void route_basic(const struct request *rq, struct reply *rp)
{
	if (auth_scheme_is(rq, "Basic")) {
		reply_text(rp, 200, "ok\n");
		return;
	}
	buf_str(&rp->head, "WWW-Authenticate: Basic realm=\"test\"\r\n");
	reply_text(rp, 401, "unauthorized\n");
}

static void route_slow(const struct request *rq, struct reply *rp)
{
	(void)rq;
	rp->delay = SLOW_SECS;
	reply_text(rp, 200, "ok\n");
}

static void route_metadata(const struct request *rq, struct reply *rp)
{
	(void)rq;
	rp->status = 200;
	rp->type = "application/json";
	buf_fmt(&rp->body,
	        "{\"resource\":\"http://127.0.0.1:%u/mcp\","
	        "\"authorization_servers\":[\"http://127.0.0.1:%u\"],"
	        "\"scopes_supported\":[\"mcp:tools\"]}",
	        listen_port, listen_port);
}

static int parse_decimal(const char *p, size_t n, unsigned long max, unsigned long *out)
{
	unsigned long v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)p[i]))
			return -1;
		v = v * 10 + (unsigned long)(p[i] - '0');
		if (v > max)
			return -1;
	}
	*out = v;
	return 0;
}

/* /hostile?hex=HEX[&count=N] or /hostile?size=N[&count=N]: N copies of
 *
 *   WWW-Authenticate: <decoded bytes, NUL and CR included>
 *
 * size=N makes a value of exactly N bytes, Bearer realm="aaa...a", or N
 * letters a when N < 15; it wins over hex.  Unknown keys are ignored. */
static void route_hostile(const struct request *rq, struct reply *rp)
{
	const char *p = rq->query, *end = rq->query + rq->query_len;
	const char *hex = NULL;
	size_t hex_len = 0;
	unsigned long count = 1, size = 0;
	bool sized = false;
	struct buf value = {0};

	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *eq;
		const char *val;
		size_t key_len, val_len;

		if (!amp)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq) {
			key_len = (size_t)(eq - p);
			val = eq + 1;
			val_len = (size_t)(amp - val);
			if (view_is(p, key_len, "hex")) {
				hex = val;
				hex_len = val_len;
			} else if (view_is(p, key_len, "count")) {
				if (parse_decimal(val, val_len, HOSTILE_COUNT_MAX, &count))
					goto bad;
			} else if (view_is(p, key_len, "size")) {
				if (parse_decimal(val, val_len, HOSTILE_SIZE_MAX, &size))
					goto bad;
				sized = true;
			}
		}
		if (amp == end)
			break;
		p = amp + 1;
	}

	if (sized && size >= 15) {
		buf_str(&value, "Bearer realm=\"");
		buf_fill(&value, 'a', size - 15);
		buf_str(&value, "\"");
	} else if (sized) {
		buf_fill(&value, 'a', size);
	} else if (hex) {
		if (hex_len % 2)
			goto bad;
		for (size_t i = 0; i < hex_len; i += 2) {
			int hi = hex_digit(hex[i]), lo = hex_digit(hex[i + 1]);
			char byte;

			if (hi < 0 || lo < 0)
				goto bad;
			byte = (char)(hi << 4 | lo);
			buf_add(&value, &byte, 1);
		}
	}
	if (value.oom || count * (value.len + 20) > HOSTILE_BYTES_MAX)
		goto bad;
	for (unsigned long i = 0; i < count; i++) {
		buf_str(&rp->head, "WWW-Authenticate: ");
		buf_add(&rp->head, value.data, value.len);
		buf_str(&rp->head, "\r\n");
	}
	buf_free(&value);
	reply_text(rp, 401, "unauthorized\n");
	return;
bad:
	buf_free(&value);
	reply_text(rp, 400, "bad hostile query\n");
}

static const struct route {
	const char *path;
	void (*fn)(const struct request *rq, struct reply *rp);
} routes[] = {
    {"/200", route_200},
    {"/401", route_401},
    {"/401-many", route_401_many},
    {"/401-none", route_401_none},
    {"/403-scope", route_403_scope},
    {"/407", route_407},
    {"/redirect-401", route_redirect_401},
    {"/redirect-200", route_redirect_200},
    {"/302-challenge", route_302_challenge},
    {"/digest", route_digest},
    {"/basic", route_basic},
    {"/hostile", route_hostile},
    {"/slow", route_slow},
    {"/.well-known/oauth-protected-resource", route_metadata},
};

/* A CONNECT has no path; it always meets the proxy challenge, so that
 * tests can see CURLINFO_HTTP_CONNECTCODE at work. */
static void route(const struct request *rq, struct reply *rp)
{
	if (rq->connect) {
		route_407(rq, rp);
		rp->close = true;
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (view_is(rq->path, rq->path_len, routes[i].path)) {
			routes[i].fn(rq, rp);
			return;
		}
	}
	reply_text(rp, 404, "not found\n");
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 302:
		return "Found";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 407:
		return "Proxy Authentication Required";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	default:
		return "Unknown";
	}
}

static int reply_send(int fd, struct reply *rp, bool head)
{
	struct buf out = {0};
	int rc = -1;

	buf_fmt(&out, "HTTP/1.1 %d %s\r\n", rp->status, reason(rp->status));
	buf_add(&out, rp->head.data, rp->head.len);
	if (rp->type)
		buf_fmt(&out, "Content-Type: %s\r\n", rp->type);
	buf_fmt(&out, "Content-Length: %zu\r\n", rp->body.len);
	buf_str(&out, rp->close ? "Connection: close\r\n\r\n" : "Connection: keep-alive\r\n\r\n");
	if (!head)
		buf_add(&out, rp->body.data, rp->body.len);
	if (!out.oom && !rp->head.oom && !rp->body.oom)
		rc = send_all(fd, out.data, out.len);
	buf_free(&out);
	return rc;
}

static void reply_free(struct reply *rp)
{
	buf_free(&rp->head);
	buf_free(&rp->body);
}

static void send_error(int fd, int status)
{
	struct reply rp = {.close = true};
	const char *text = "bad request\n";

	if (status == 431)
		text = "request head too large\n";
	else if (status == 501)
		text = "transfer coding not supported\n";
	reply_text(&rp, status, text);
	reply_send(fd, &rp, false);
	reply_free(&rp);
}

/* Serves requests on one connection until the client or an error ends it. */
static void serve(struct conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

	for (long i = 0; i < REQUESTS_PER_CONN_MAX; i++) {
		struct request rq;
		struct reply rp = {0};
		size_t len;
		bool ok = true;
		int r;

		r = conn_read_head(c, &len);
		if (r == -2)
			send_error(c->fd, 431);
		if (r != 1)
			return;
		r = parse_request(c->buf + c->start, len, &rq);
		if (r) {
			send_error(c->fd, r);
			return;
		}
		/* Route now: the request's views die when the body is read. */
		rp.close = rq.close;
		route(&rq, &rp);
		c->start += len;

		if (rq.expect_continue && (rq.chunked || rq.content_length > 0))
			ok = send_all(c->fd, cont, sizeof(cont) - 1) == 0;
		if (ok && rq.chunked)
			ok = conn_skip_chunked(c) == 0;
		else if (ok && rq.content_length > 0)
			ok = conn_skip(c, (unsigned long long)rq.content_length) == 0;
		if (ok && rp.delay)
			sleep(rp.delay);
		if (ok)
			ok = reply_send(c->fd, &rp, rq.head) == 0;
		ok = ok && !rp.close;
		reply_free(&rp);
		if (!ok)
			return;
	}
}

static void *conn_main(void *arg)
{
	struct conn c = {.fd = (int)(intptr_t)arg};

	c.buf = malloc(HEAD_MAX);
	if (c.buf)
		serve(&c);
	conn_close_gently(&c);
	close(c.fd);
	free(c.buf);
	atomic_store(&last_activity, now_secs());
	atomic_fetch_sub(&live_conns, 1);
	return NULL;
}

static void start_conn(int fd, pthread_attr_t *attr)
{
	struct timeval tv = {.tv_sec = IO_TIMEOUT_SECS};
	pthread_t tid;

	atomic_store(&last_activity, now_secs());
	if (atomic_load(&live_conns) >= CONNS_MAX) {
		close(fd);
		return;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	atomic_fetch_add(&live_conns, 1);
	if (pthread_create(&tid, attr, conn_main, (void *)(intptr_t)fd)) {
		atomic_fetch_sub(&live_conns, 1);
		close(fd);
	}
}

/* Writes the port next to PATH and renames it into place, so that a test
 * polling for PATH never reads half a number. */
static int write_port_file(const char *path)
{
	char *tmp;
	FILE *f;
	int rc = 0;

	if (asprintf(&tmp, "%s.%ld.tmp", path, (long)getpid()) < 0)
		return -1;
	f = fopen(tmp, "w");
	if (!f) {
		free(tmp);
		return -1;
	}
	if (fprintf(f, "%u\n", listen_port) < 0)
		rc = -1;
	if (fclose(f))
		rc = -1;
	if (rc == 0 && rename(tmp, path))
		rc = -1;
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

static int open_listener(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || listen(fd, 128) ||
	    getsockname(fd, (struct sockaddr *)&sa, &len)) {
		close(fd);
		return -1;
	}
	listen_port = ntohs(sa.sin_port);
	return fd;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: httpd [--port-file PATH]\n");
}

int main(int argc, char **argv)
{
	const char *port_file = NULL;
	struct pollfd pfd[2];
	pthread_attr_t attr;
	long long born;
	int lfd;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--port-file") == 0 && i + 1 < argc) {
			port_file = argv[++i];
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}

	signal(SIGPIPE, SIG_IGN);
	lfd = open_listener();
	if (lfd < 0) {
		perror("httpd: listen on 127.0.0.1");
		return 1;
	}
	printf("%u\n", listen_port);
	fflush(stdout);
	if (port_file && write_port_file(port_file)) {
		perror("httpd: port file");
		return 1;
	}

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);

	born = now_secs();
	atomic_store(&last_activity, born);
	pfd[0] = (struct pollfd){.fd = lfd, .events = POLLIN};
	pfd[1] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
	for (;;) {
		long long now = now_secs();
		char sink[512];
		int n;

		if (now - born >= LIFE_SECS)
			break;
		if (atomic_load(&live_conns) == 0 && now - atomic_load(&last_activity) >= IDLE_SECS)
			break;
		n = poll(pfd, 2, 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		/* A closed stdin is no stop signal; only a real EOF is. */
		if (pfd[1].revents & POLLNVAL) {
			pfd[1].fd = -1;
		} else if (pfd[1].revents) {
			ssize_t r = read(STDIN_FILENO, sink, sizeof(sink));

			if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
				break;
		}
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

			if (fd >= 0)
				start_conn(fd, &attr);
		}
	}
	return 0;
}
