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
	head_init_cgi_in(r, NULL, 0);
}

void head_init_cgi_in(struct head_reader *r, char *buf, size_t cap)
{
	head_init(r, buf, cap);
	r->cgi = true;
}

void head_free(struct head_reader *r)
{
	if (!r->fixed)
		free(r->buf);
	head_init(r, NULL, 0);
}

static void head_keep(struct head_reader *r, char c)
{
	if (r->fixed && r->len == r->cap) {
		r->oversize = true;
		return;
	}
	if (r->len == HEAD_MAX_BYTES) {
		r->oversize = true;
		return;
	}
	if (r->len == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 512;
		char *p = realloc(r->buf, cap);
		if (!p) {
			r->oversize = true;
			return;
		}
		r->buf = p;
		r->cap = cap;
	}
	r->buf[r->len++] = c;
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

/* What follows a final head: no body, a counted one, chunks, or the rest
 * of the stream. */
static void head_frame(struct head_reader *r, const struct head *h, void *arg)
{
	struct head_field f;
	size_t pos = 0;
	bool chunked = false, counted = false;
	unsigned long long length = 0;

	while (head_next_field(h, &pos, &f)) {
		if (field_is(&f, "Transfer-Encoding") && value_has_token(&f, "chunked")) {
			chunked = true;
		} else if (field_is(&f, "Content-Length")) {
			unsigned long long v = 0;
			size_t i = 0;
			for (; i < f.value_len && f.value[i] >= '0' && f.value[i] <= '9'; i++)
				v = v * 10 + (unsigned)(f.value[i] - '0');
			if (i && i == f.value_len) {
				counted = true;
				length = v;
			}
		}
	}
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

	while (i < len && ((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
			   (i && ((v[i] >= '0' && v[i] <= '9') || v[i] == '+' || v[i] == '-' ||
				  v[i] == '.'))))
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
	/* A CGI head cut at the cap may have lost its Status. */
	h.status = r->request ? 0
		 : !r->cgi    ? parse_status(r->buf, r->len)
		 : r->oversize ? -1
			       : cgi_status(&h);

	r->len = 0;
	r->line_ends = 0;
	r->oversize = false;
	if (r->request) {
		done(&h, arg);
		if (r->state != HEAD_LOST)
			head_frame(r, &h, arg);
		return;
	}
	if (h.status < 0 || h.status == 101) {
		/* Not HTTP/1.x, or a switch to another protocol. */
		r->state = HEAD_LOST;
		return;
	}
	if (h.status < 200)
		return;
	done(&h, arg);
	head_frame(r, &h, arg);
}

/* The first bytes of a head: "HTTP/" for a response, a method token
 * and a space for a request.  Anything else (TLS, HTTP/2's preface, another
 * protocol) is not followed further. */
static bool head_start_ok(const struct head_reader *r)
{
	if (!r->request) {
		size_t n = r->len < 5 ? r->len : 5;
		return memcmp(r->buf, "HTTP/", n) == 0;
	}
	for (size_t i = 0; i < r->len; i++) {
		char c = r->buf[i];
		if (c == ' ')
			return i > 0;
		if (!((c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
			return false;
	}
	return r->len < 16;
}

static unsigned long long parse_chunk_size(const char *s, size_t len, bool *ok)
{
	unsigned long long v = 0;
	size_t i = 0;

	for (; i < len; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0'
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
		case HEAD_IN_HEAD:
			i++;
			/* Stray line ends between messages are not a head. */
			if (!r->len && (c == '\r' || c == '\n')) {
				/* A CGI head has at least one field. */
				if (r->cgi && c == '\n')
					r->state = HEAD_LOST;
				break;
			}
			head_keep(r, c);
			if (!r->cgi && r->len <= 16 && !head_start_ok(r)) {
				r->state = HEAD_LOST;
				return;
			}
			if (c == '\n') {
				if (++r->line_ends == 2)
					head_complete(r, done, arg);
			} else if (c != '\r') {
				r->line_ends = 0;
			}
			break;
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
