#include "head.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void head_init(struct head_reader *r, char *buf, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->state = HEAD_IN_HEAD;
	r->buf = buf;
	r->cap = cap;
	r->fixed = buf != NULL;
}

void head_init_cgi(struct head_reader *r)
{
	head_init(r, NULL, 0);
	r->cgi = true;
}

void head_free(struct head_reader *r)
{
	if (!r->fixed)
		free(r->buf);
	head_init(r, NULL, 0);
}

/* Keeps n more bytes of the head, up to the cap; the rest is dropped. */
static void head_keep(struct head_reader *r, const char *p, size_t n)
{
	size_t limit = r->fixed ? r->cap : HEAD_MAX_BYTES;
	if (n > limit - r->len) {
		r->oversize = true;
		n = limit - r->len;
	}
	if (!n)
		return;
	if (r->len + n > r->cap) {
		size_t cap = r->cap ? r->cap : 512;
		while (cap < r->len + n)
			cap *= 2;
		char *q = realloc(r->buf, cap);
		if (!q) {
			r->oversize = true;
			return;
		}
		r->buf = q;
		r->cap = cap;
	}
	memcpy(r->buf + r->len, p, n);
	r->len += n;
}

static bool field_is(const struct head_field *f, const char *name)
{
	return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

/* Contains the token, comma-separated and case-insensitive:
 * "Transfer-Encoding: gzip, chunked". */
static bool value_has_token(const struct head_field *f, const char *token)
{
	size_t tlen = strlen(token);
	const char *p = f->value, *end = f->value + f->value_len;

	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		const char *start = p;
		while (p < end && *p != ',')
			p++;
		const char *stop = p;
		while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
			stop--;
		if ((size_t)(stop - start) == tlen && strncasecmp(start, token, tlen) == 0)
			return true;
	}
	return false;
}

/* A field line of the head being read, complete in buf at [at, at + n)
 * without its line end: Content-Length and Transfer-Encoding say what
 * follows the head, a request's Host names the server.  A later
 * Content-Length overrides an earlier one; a line that is not a field
 * (no colon, or folded) says nothing. */
static void head_note_field(struct head_reader *r, size_t at, size_t n)
{
	const char *line = r->buf + at;
	char first = (char)(line[0] | 0x20);
	if (first != 'c' && first != 't' && !(r->request && first == 'h'))
		return;
	const char *colon = memchr(line, ':', n);
	if (!colon)
		return;
	/* Only the names' lengths: Host, Content-Length, Transfer-Encoding. */
	size_t name_len = (size_t)(colon - line);
	if (name_len != 4 && name_len != 14 && name_len != 17)
		return;
	const char *v = colon + 1, *end = line + n;
	if (end > v && end[-1] == '\r')
		end--;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	struct head_field f = {line, v, name_len, (size_t)(end - v)};
	if (field_is(&f, "Transfer-Encoding")) {
		r->chunked |= value_has_token(&f, "chunked");
	} else if (field_is(&f, "Content-Length")) {
		unsigned long long v = 0;
		size_t i = 0;
		for (; i < f.value_len && f.value[i] >= '0' && f.value[i] <= '9'; i++)
			v = v * 10 + (unsigned)(f.value[i] - '0');
		if (i && i == f.value_len) {
			r->counted = true;
			r->length = v;
		}
	} else if (r->request && !r->has_host && field_is(&f, "Host")) {
		r->has_host = true;
		r->host_at = (size_t)(f.value - r->buf);
		r->host_len = f.value_len;
	}
}

/* What follows a final head: no body, a counted one, chunks, or the rest
 * of the stream. */
static void head_frame(struct head_reader *r, const struct head *h, void *arg)
{
	bool chunked = r->chunked, counted = r->counted;
	unsigned long long length = r->length;

	(void)h;
	if (r->cgi) {
		/* A CGI body is the rest of the script's output. */
		r->state = HEAD_UNTIL_CLOSE;
	} else if (!r->request && (r->head_request || h->status == 204 || h->status == 304)) {
		r->state = HEAD_IN_HEAD;
	} else if (chunked) {
		r->state = HEAD_IN_CHUNK_SIZE;
		r->line_len = 0;
	} else if (counted) {
		r->body_left = length;
		r->state = length ? HEAD_IN_BODY : HEAD_IN_HEAD;
	} else if (r->request) {
		r->state = HEAD_IN_HEAD;
	} else {
		r->state = HEAD_UNTIL_CLOSE;
	}
	r->head_request = false;
	if (r->body && r->state == HEAD_IN_HEAD)
		r->body(NULL, 0, arg);
}

/* An absolute URI begins with a scheme: ALPHA *( ALPHA / DIGIT / "+" /
 * "-" / "." ) ":" (RFC 3986 section 3.1). */
static bool has_scheme(const char *v, size_t len)
{
	size_t i = 0;

	while (i < len &&
	       ((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
	        (i && ((v[i] >= '0' && v[i] <= '9') || v[i] == '+' || v[i] == '-' || v[i] == '.'))))
		i++;
	return i && i < len && v[i] == ':';
}

/* The status of a CGI head, or -1 when it is not one to trust: RFC 3875
 * section 6.3.3 (Status, 200 when absent) and 6.2.3 (a client redirect,
 * an absolute Location without Status, is answered 302). */
static int cgi_status(const struct head *h)
{
	const char *s = h->raw, *end = h->raw + h->raw_len;
	int status = -1;
	bool location = false, absolute = false;
	size_t fields = 0;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *stop = nl ? nl : end;
		const char *next = nl ? nl + 1 : end;
		if (stop > s && stop[-1] == '\r')
			stop--;
		if (stop == s)
			break;
		const char *colon = memchr(s, ':', (size_t)(stop - s));
		if (!colon || colon == s || *s == ' ' || *s == '\t')
			return -1;
		struct head_field f = {.name = s, .name_len = (size_t)(colon - s)};
		const char *v = colon + 1;
		while (v < stop && (*v == ' ' || *v == '\t'))
			v++;
		f.value = v;
		f.value_len = (size_t)(stop - v);
		fields++;
		if (field_is(&f, "Status")) {
			if (status >= 0 || f.value_len < 3 ||
			    (f.value_len > 3 && f.value[3] != ' ' && f.value[3] != '\t' &&
			     f.value[3] != '\r'))
				return -1;
			status = 0;
			for (int i = 0; i < 3; i++) {
				if (f.value[i] < '0' || f.value[i] > '9')
					return -1;
				status = status * 10 + (f.value[i] - '0');
			}
			if (status < 200)
				return -1;
		} else if (field_is(&f, "Location")) {
			location = true;
			absolute = has_scheme(f.value, f.value_len);
		}
		s = next;
	}
	if (!fields)
		return -1;
	if (status >= 0)
		return status;
	if (location)
		return absolute ? 302 : -1;
	return 200;
}

static int parse_status(const char *s, size_t len)
{
	if (len < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ')
		return -1;
	int v = 0;
	for (int i = 9; i < 12; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static void head_complete(struct head_reader *r, void (*done)(const struct head *, void *),
                          void *arg)
{
	struct head h = {.raw = r->buf, .raw_len = r->len, .cgi = r->cgi};
	if (r->has_host) {
		h.host = r->buf + r->host_at;
		h.host_len = r->host_len;
	}
	/* A CGI head cut at the cap may have lost its Status. */
	h.status = r->request    ? 0
	           : !r->cgi     ? parse_status(r->buf, r->len)
	           : r->oversize ? -1
	                         : cgi_status(&h);

	r->len = 0;
	r->line_ends = 0;
	r->oversize = false;
	if (r->request) {
		done(&h, arg);
		if (r->state != HEAD_LOST)
			head_frame(r, &h, arg);
	} else if (h.status < 0 || h.status == 101) {
		/* Not HTTP/1.x, or a switch to another protocol. */
		r->state = HEAD_LOST;
	} else if (h.status >= 200) {
		done(&h, arg);
		head_frame(r, &h, arg);
	}
	/* The next head's fields are its own. */
	r->chunked = r->counted = r->has_host = false;
	r->length = 0;
	r->line_start = r->host_at = r->host_len = 0;
}

/* The first bytes of a head (up to 16): "HTTP/" for a response, a method
 * token and a space for a request.  Anything else (TLS, HTTP/2's preface,
 * another protocol) is not followed further.  The answer for the first 16
 * bytes is the answer for any shorter start that passed. */
#define HEAD_START 16

static bool head_start_ok(const struct head_reader *r)
{
	size_t n = r->len < HEAD_START ? r->len : HEAD_START;
	if (!r->request)
		return memcmp(r->buf, "HTTP/", n < 5 ? n : 5) == 0;
	for (size_t i = 0; i < n; i++) {
		char c = r->buf[i];
		if (c == ' ')
			return i > 0;
		if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
			return false;
	}
	return n < HEAD_START;
}

static unsigned long long parse_chunk_size(const char *s, size_t len, bool *ok)
{
	unsigned long long v = 0;
	size_t i = 0;

	for (; i < len; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9'   ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;
		if (d < 0)
			break;
		if (v >> 60)
			break;
		v = v * 16 + (unsigned)d;
	}
	*ok = i > 0;
	return v;
}

void head_feed(struct head_reader *r, const char *data, size_t len,
               void (*done)(const struct head *h, void *arg), void *arg)
{
	size_t i = 0;

	while (i < len) {
		char c = data[i];
		switch (r->state) {
		case HEAD_IN_HEAD: {
			/* Stray line ends between messages are not a head. */
			if (!r->len && (c == '\r' || c == '\n')) {
				i++;
				/* A CGI head has at least one field. */
				if (r->cgi && c == '\n')
					r->state = HEAD_LOST;
				break;
			}
			/* A line at a time, up to and with its LF: the head ends
			 * at an LF after one with nothing but CRs between. */
			const char *p = data + i;
			const char *nl = memchr(p, '\n', len - i);
			size_t n = nl ? (size_t)(nl - p) + 1 : len - i, before = r->len;
			head_keep(r, p, n);
			i += n;
			if (!r->cgi && before < HEAD_START && !head_start_ok(r)) {
				r->state = HEAD_LOST;
				return;
			}
			size_t k = 0, text = nl ? n - 1 : n;
			while (k < text && p[k] == '\r')
				k++;
			if (k < text)
				r->line_ends = 0;
			if (!nl)
				break;
			if (r->line_start && !r->oversize)
				head_note_field(r, r->line_start, r->len - 1 - r->line_start);
			r->line_start = r->len;
			if (++r->line_ends == 2)
				head_complete(r, done, arg);
			break;
		}
		case HEAD_IN_BODY:
		case HEAD_IN_CHUNK_DATA: {
			size_t n = len - i;
			if (n > r->body_left)
				n = (size_t)r->body_left;
			if (r->body)
				r->body(data + i, n, arg);
			i += n;
			r->body_left -= n;
			if (!r->body_left) {
				if (r->state == HEAD_IN_BODY) {
					r->state = HEAD_IN_HEAD;
					if (r->body)
						r->body(NULL, 0, arg);
				} else {
					r->state = HEAD_IN_CHUNK_CRLF;
				}
			}
			break;
		}
		case HEAD_IN_CHUNK_CRLF:
			i++;
			if (c == '\n') {
				r->state = HEAD_IN_CHUNK_SIZE;
				r->line_len = 0;
			}
			break;
		case HEAD_IN_CHUNK_SIZE:
			i++;
			if (c != '\n') {
				if (r->line_len < sizeof(r->line))
					r->line[r->line_len++] = c;
				break;
			}
			bool ok;
			unsigned long long size = parse_chunk_size(r->line, r->line_len, &ok);
			if (!ok) {
				r->state = HEAD_LOST;
			} else if (size) {
				r->body_left = size;
				r->state = HEAD_IN_CHUNK_DATA;
			} else {
				r->state = HEAD_IN_TRAILERS;
				r->trailer_run = 0;
			}
			break;
		case HEAD_IN_TRAILERS:
			i++;
			if (c == '\n') {
				if (!r->trailer_run) {
					r->state = HEAD_IN_HEAD;
					if (r->body)
						r->body(NULL, 0, arg);
				}
				r->trailer_run = 0;
			} else if (c != '\r') {
				r->trailer_run++;
			}
			break;
		case HEAD_UNTIL_CLOSE:
			if (r->body)
				r->body(data + i, len - i, arg);
			return;
		case HEAD_LOST:
			return;
		}
	}
}

bool head_next_field(const struct head *h, size_t *pos, struct head_field *out)
{
	const char *s = h->raw;
	size_t len = h->raw_len, p = *pos;

	if (p == 0 && !h->cgi) {
		/* Skip the status line. */
		const char *nl = memchr(s, '\n', len);
		if (!nl)
			return false;
		p = (size_t)(nl - s) + 1;
	}
	while (p < len) {
		const char *line = s + p;
		const char *nl = memchr(line, '\n', len - p);
		size_t llen = nl ? (size_t)(nl - line) : len - p;
		p += llen + (nl ? 1 : 0);
		if (llen && line[llen - 1] == '\r')
			llen--;
		if (!llen)
			break;
		const char *colon = memchr(line, ':', llen);
		if (!colon || line[0] == ' ' || line[0] == '\t')
			continue;
		const char *v = colon + 1, *end = line + llen;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*pos = p;
		out->name = line;
		out->name_len = (size_t)(colon - line);
		out->value = v;
		out->value_len = (size_t)(end - v);
		return true;
	}
	*pos = len;
	return false;
}
