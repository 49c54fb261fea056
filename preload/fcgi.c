/* FastCGI records as a FastCGI application writes them, read so that a
 * php-fpm behind a web server gets verdicts: the response head is the CGI
 * head at the start of a request's FCGI_STDOUT stream.  php-fpm 8.2 wrote
 * this for a script that set http_response_code(401), all in one write(),
 * with no empty FCGI_STDOUT record before FCGI_END_REQUEST and junk in the
 * END_REQUEST body's reserved bytes:
 *
 *   01 06 00 01 00 d5 03 00  "Status: 401 Unauthorized\r\n..."  00 00 00
 *   01 03 00 01 00 08 00 00  00 00 00 00 00 "ed-"
 *
 * Each record: version 1, type, request id (2 bytes), content length (2),
 * padding length, a reserved byte; then content and padding.  The header
 * is checked as it arrives, byte by byte, so that bytes that are not a
 * server's records are given up on at once; the reserved bytes are not
 * checked (php-fpm leaves junk in them). */
#include "fcgi.h"

#include <string.h>

void fcgi_init(struct fcgi_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->status = FCGI_UNSURE;
}

static bool fcgi_output_type(unsigned t)
{
	return t == FCGI_END_REQUEST || t == FCGI_STDOUT || t == FCGI_STDERR ||
	       t == FCGI_GET_VALUES_RESULT || t == FCGI_UNKNOWN_TYPE;
}

/* Whether the header read so far (r->hdr_len bytes) can be one a server
 * writes. */
static bool fcgi_header_ok(const struct fcgi_reader *r)
{
	const unsigned char *h = r->hdr;
	unsigned n = r->hdr_len;

	if (n >= 1 && h[0] != 1)
		return false;
	if (n >= 2 && !fcgi_output_type(h[1]))
		return false;
	if (n >= 4) {
		/* Management records have request id 0, the others not. */
		bool management = h[1] == FCGI_GET_VALUES_RESULT || h[1] == FCGI_UNKNOWN_TYPE;
		unsigned id = (unsigned)h[2] << 8 | h[3];
		if (management != (id == 0))
			return false;
	}
	if (n >= 6) {
		unsigned clen = (unsigned)h[4] << 8 | h[5];
		if ((h[1] == FCGI_END_REQUEST || h[1] == FCGI_UNKNOWN_TYPE) && clen != 8)
			return false;
	}
	return true;
}

static void fcgi_emit(enum fcgi_event_type type, const struct fcgi_reader *r, const char *data,
                      size_t len, void (*fn)(const struct fcgi_event *, void *), void *arg)
{
	struct fcgi_event ev = {
	    .type = type, .request_id = r->request_id, .data = data, .len = len};

	if (type == FCGI_EVENT_END_REQUEST) {
		ev.app_status = (uint32_t)r->body[0] << 24 | (uint32_t)r->body[1] << 16 |
		                (uint32_t)r->body[2] << 8 | r->body[3];
		ev.protocol_status = r->body[4];
	}
	fn(&ev, arg);
}

enum fcgi_status fcgi_feed(struct fcgi_reader *r, const char *data, size_t len,
                           void (*fn)(const struct fcgi_event *ev, void *arg), void *arg)
{
	size_t i = 0;

	while (i < len && r->status != FCGI_NOT) {
		if (r->hdr_len < 8) {
			r->hdr[r->hdr_len++] = (unsigned char)data[i++];
			if (!fcgi_header_ok(r)) {
				r->status = FCGI_NOT;
				break;
			}
			if (r->hdr_len < 8)
				continue;
			r->status = FCGI_IS;
			r->records++;
			r->type = r->hdr[1];
			r->request_id = (unsigned)r->hdr[2] << 8 | r->hdr[3];
			r->content_left = (unsigned)r->hdr[4] << 8 | r->hdr[5];
			r->padding_left = r->hdr[6];
			r->body_len = 0;
			if (r->type == FCGI_STDOUT && !r->content_left)
				fcgi_emit(FCGI_EVENT_STDOUT_END, r, NULL, 0, fn, arg);
		} else if (r->content_left) {
			size_t n = len - i < r->content_left ? len - i : r->content_left;
			if (r->type == FCGI_STDOUT) {
				fcgi_emit(FCGI_EVENT_STDOUT, r, data + i, n, fn, arg);
			} else if (r->type == FCGI_END_REQUEST) {
				memcpy(r->body + r->body_len, data + i, n);
				r->body_len += (unsigned)n;
			}
			i += n;
			r->content_left -= (unsigned)n;
			if (!r->content_left && r->type == FCGI_END_REQUEST)
				fcgi_emit(FCGI_EVENT_END_REQUEST, r, NULL, 0, fn, arg);
		} else if (r->padding_left) {
			size_t n = len - i < r->padding_left ? len - i : r->padding_left;
			i += n;
			r->padding_left -= (unsigned)n;
		}
		if (r->hdr_len == 8 && !r->content_left && !r->padding_left)
			r->hdr_len = 0;
	}
	return r->status;
}
