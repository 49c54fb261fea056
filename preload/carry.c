/* Streaming MCP proxies answer their client 200 with an event stream before
 * they call the upstream, and then carry the upstream's 401 challenge in
 * the body, as a JSON-RPC error in an SSE data line:
 *
 *   data: {"jsonrpc":"2.0","id":1,"error":{"code":-32001,"data":{"wwwAuthenticate":
 *   "Bearer resource_metadata=\"https:\/\/mcp.example\/.well-known\/oauth-protected-resource\""}}}
 *
 * or in a JSON body.  This scan answers whether the first bytes of such a
 * body hold a given value exactly: the upstream's challenge header value,
 * or its resource_metadata URL.
 *
 * The bytes are read at three levels at once: as written, JSON-unescaped
 * once (\" \/ \\ \b \f \n \r \t \uXXXX, surrogate pairs as one UTF-8
 * character), and unescaped twice (a JSON text inside a JSON string, as in
 * an MCP tool result).  Unescaping does not track JSON strings: in valid
 * JSON a backslash occurs only inside strings, and a text that is not JSON
 * is still read as written.  A value is found when it occurs at some level
 * (Knuth-Morris-Pratt, a failure table per value) and does not continue on
 * either side, so that https://a/mcp is not found in https://a/mcp2:
 *
 *   - a URL: the bytes on either side are not URI characters (RFC 3986:
 *     unreserved, reserved, '%');
 *   - a challenge: the byte before is not a token character; the byte
 *     after is not a token character, '=', '/' or ',', and the first byte
 *     after spaces and tabs is not ',' (which would go on with more
 *     params or challenges).
 *
 * The start and end of a text count as neither: in an event stream, each
 * data line's value (after "data:" and one space) is a text of its own,
 * so a value split over two data lines of one event is not found (joined,
 * it would hold a line feed, which a header value cannot); other fields
 * and comments are not read.  A plain body is one text.  Only the first
 * limit bytes are read; a value that reaches the limit with its next byte
 * unseen is not found, since it might go on.  Every split of the input
 * gives the same answer: the state moves a byte at a time. */
#include "carry.h"

#include <string.h>
#include <strings.h>

enum { SSE_LINE, SSE_NAME, SSE_COLON, SSE_DATA, SSE_SKIP };

static void carry_seg_begin(struct carry *c);

/* RFC 9110 tchar. */
static bool carry_tchar(unsigned char b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
	       (b && strchr("!#$%&'*+-.^_`|~", b));
}

/* RFC 3986 unreserved, gen-delims, sub-delims and '%'. */
static bool carry_uric(unsigned char b)
{
	return (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') ||
	       (b && strchr("-._~:/?#[]@!$&'()*+,;=%", b));
}

void carry_init(struct carry *c, enum carry_framing framing, size_t limit)
{
	memset(c, 0, sizeof(*c));
	c->framing = framing;
	c->limit = limit ? limit : CARRY_LIMIT_DEFAULT;
	if (framing == CARRY_PLAIN)
		carry_seg_begin(c);
}

int carry_add(struct carry *c, enum carry_kind kind, const char *value, size_t len)
{
	if (c->nneedles == CARRY_MAX_NEEDLES || !len || len > CARRY_NEEDLE_MAX || c->seen ||
	    memchr(value, '\r', len) || memchr(value, '\n', len))
		return -1;
	struct carry_needle *n = &c->needle[c->nneedles];
	n->kind = kind;
	n->len = (uint16_t)len;
	memcpy(n->s, value, len);
	/* fail[i]: the longest proper prefix of s[0..i] that is also its
	 * suffix. */
	n->fail[0] = 0;
	for (size_t i = 1, k = 0; i < len; i++) {
		while (k && n->s[i] != n->s[k])
			k = n->fail[k - 1];
		if (n->s[i] == n->s[k])
			k++;
		n->fail[i] = (uint16_t)k;
	}
	return (int)c->nneedles++;
}

static bool carry_all_found(const struct carry *c)
{
	return c->nneedles && c->found == (1u << c->nneedles) - 1;
}

bool carry_done(const struct carry *c)
{
	return c->full || c->ended || carry_all_found(c);
}

static void level_put(struct carry *c, unsigned k, unsigned char b);

/* Pending match states. */
enum { MATCH_NONE, MATCH_NEXT, MATCH_AFTER_OWS };

/* The byte after a match of needle j decides it. */
static void carry_settle(struct carry *c, struct carry_level *l, unsigned j, unsigned char b)
{
	const struct carry_needle *n = &c->needle[j];
	bool ok;

	if (n->kind == CARRY_URL) {
		ok = !carry_uric(b);
	} else if (b == ' ' || b == '\t') {
		l->pending[j] = MATCH_AFTER_OWS;
		return;
	} else if (l->pending[j] == MATCH_AFTER_OWS) {
		ok = b != ',';
	} else {
		ok = !carry_tchar(b) && b != '=' && b != '/' && b != ',';
	}
	l->pending[j] = MATCH_NONE;
	if (ok)
		c->found |= 1u << j;
}

static void level_emit(struct carry *c, unsigned k, unsigned char b)
{
	struct carry_level *l = &c->level[k];

	l->ring[l->pos & (CARRY_RING - 1)] = b;
	l->pos++;
	for (unsigned j = 0; j < c->nneedles; j++) {
		const struct carry_needle *n = &c->needle[j];
		if (c->found & 1u << j)
			continue;
		if (l->pending[j])
			carry_settle(c, l, j, b);
		unsigned at = l->at[j];
		while (at && n->s[at] != b)
			at = n->fail[at - 1];
		if (n->s[at] == b)
			at++;
		if (at == n->len) {
			uint64_t start = l->pos - n->len;
			bool ok = true;
			if (start > l->seg_start) {
				unsigned char before = l->ring[(start - 1) & (CARRY_RING - 1)];
				ok = n->kind == CARRY_URL ? !carry_uric(before)
				                          : !carry_tchar(before);
			}
			if (ok && !l->pending[j])
				l->pending[j] = MATCH_NEXT;
			at = n->fail[at - 1];
		}
		l->at[j] = (uint16_t)at;
	}
	if (k + 1 < CARRY_LEVELS)
		level_put(c, k + 1, b);
}

static void level_emit_utf8(struct carry *c, unsigned k, uint32_t cp)
{
	if (cp < 0x80) {
		level_emit(c, k, (unsigned char)cp);
	} else if (cp < 0x800) {
		level_emit(c, k, (unsigned char)(0xc0 | cp >> 6));
		level_emit(c, k, (unsigned char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		level_emit(c, k, (unsigned char)(0xe0 | cp >> 12));
		level_emit(c, k, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
		level_emit(c, k, (unsigned char)(0x80 | (cp & 0x3f)));
	} else {
		level_emit(c, k, (unsigned char)(0xf0 | cp >> 18));
		level_emit(c, k, (unsigned char)(0x80 | (cp >> 12 & 0x3f)));
		level_emit(c, k, (unsigned char)(0x80 | (cp >> 6 & 0x3f)));
		level_emit(c, k, (unsigned char)(0x80 | (cp & 0x3f)));
	}
}

/* A high surrogate without its low half. */
static void level_flush_high(struct carry *c, unsigned k)
{
	if (c->level[k].high) {
		c->level[k].high = 0;
		level_emit_utf8(c, k, 0xfffd);
	}
}

static int carry_hex(unsigned char b)
{
	return b >= '0' && b <= '9'   ? b - '0'
	       : b >= 'a' && b <= 'f' ? b - 'a' + 10
	       : b >= 'A' && b <= 'F' ? b - 'A' + 10
	                              : -1;
}

/* Byte b of level k - 1 goes through level k's unescaper (level 0 takes
 * the bytes as they are). */
static void level_put(struct carry *c, unsigned k, unsigned char b)
{
	struct carry_level *l = &c->level[k];

	if (!k) {
		level_emit(c, 0, b);
		return;
	}
	if (l->esc == 1) {
		static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
		const char *p = b ? strchr(from, b) : NULL;
		if (b == 'u') {
			l->esc = 2;
			l->hex = 0;
			return;
		}
		l->esc = 0;
		level_flush_high(c, k);
		if (p) {
			level_emit(c, k, (unsigned char)to[p - from]);
			return;
		}
		/* Not an escape: the backslash stands for itself. */
		level_emit(c, k, '\\');
	} else if (l->esc >= 2) {
		int d = carry_hex(b);
		if (d < 0) {
			/* A broken \u: one replacement character. */
			l->esc = 0;
			level_flush_high(c, k);
			level_emit_utf8(c, k, 0xfffd);
		} else {
			l->hex = l->hex << 4 | (uint32_t)d;
			if (++l->esc < 6)
				return;
			l->esc = 0;
			uint32_t cp = l->hex;
			if (l->high && cp >= 0xdc00 && cp <= 0xdfff) {
				cp = 0x10000 + ((l->high - 0xd800) << 10) + (cp - 0xdc00);
				l->high = 0;
			} else {
				level_flush_high(c, k);
				if (cp >= 0xd800 && cp <= 0xdbff) {
					l->high = cp;
					return;
				}
				if (cp >= 0xdc00 && cp <= 0xdfff)
					cp = 0xfffd;
			}
			level_emit_utf8(c, k, cp);
			return;
		}
	}
	if (b == '\\') {
		l->esc = 1;
		return;
	}
	level_flush_high(c, k);
	level_emit(c, k, b);
}

static void carry_seg_begin(struct carry *c)
{
	for (unsigned k = 0; k < CARRY_LEVELS; k++) {
		struct carry_level *l = &c->level[k];
		l->esc = 0;
		l->high = 0;
		l->seg_start = l->pos;
		memset(l->at, 0, sizeof(l->at));
		memset(l->pending, 0, sizeof(l->pending));
	}
	c->in_seg = true;
}

/* The text ends: a match whose next byte is the end is found, unless an
 * escape below it was cut short (its level would have gone on). */
static void carry_seg_end(struct carry *c)
{
	bool cut = false;

	if (!c->in_seg)
		return;
	c->in_seg = false;
	for (unsigned k = 0; k < CARRY_LEVELS; k++) {
		struct carry_level *l = &c->level[k];
		if (l->esc || l->high)
			cut = true;
		for (unsigned j = 0; j < c->nneedles; j++) {
			if (l->pending[j] && !cut)
				c->found |= 1u << j;
			l->pending[j] = MATCH_NONE;
		}
		l->esc = 0;
		l->high = 0;
	}
}

/* One byte of an event stream (the WHATWG HTML "event stream
 * interpretation": lines end in CRLF, LF or CR; "data:" and one optional
 * space start a data value). */
static void carry_sse(struct carry *c, unsigned char b)
{
	bool eol = b == '\r' || b == '\n';

	if (c->after_cr) {
		c->after_cr = false;
		if (b == '\n')
			return;
	}
	if (eol) {
		carry_seg_end(c);
		c->sse = SSE_LINE;
		c->after_cr = b == '\r';
		return;
	}
	switch (c->sse) {
	case SSE_LINE:
		c->sse = SSE_NAME;
		c->sse_name = 0;
		/* fall through */
	case SSE_NAME:
		if (b == ':') {
			c->sse = c->sse_name == 4 ? SSE_COLON : SSE_SKIP;
		} else if (c->sse_name < 4 && b == (unsigned char)"data"[c->sse_name]) {
			c->sse_name++;
		} else {
			c->sse = SSE_SKIP;
		}
		break;
	case SSE_COLON:
		c->sse = SSE_DATA;
		carry_seg_begin(c);
		if (b != ' ')
			level_put(c, 0, b);
		break;
	case SSE_DATA:
		level_put(c, 0, b);
		break;
	case SSE_SKIP:
		break;
	}
}

unsigned carry_feed(struct carry *c, const char *data, size_t len)
{
	if (c->ended || c->full)
		return c->found;
	for (size_t i = 0; i < len && !carry_all_found(c); i++) {
		if (c->seen == c->limit) {
			c->full = true;
			break;
		}
		c->seen++;
		unsigned char b = (unsigned char)data[i];
		if (c->framing == CARRY_SSE)
			carry_sse(c, b);
		else
			level_put(c, 0, b);
	}
	return c->found;
}

unsigned carry_end(struct carry *c)
{
	if (c->ended || c->full)
		return c->found;
	carry_seg_end(c);
	c->ended = true;
	return c->found;
}

bool carry_is_event_stream(const char *value, size_t len)
{
	static const char type[] = "text/event-stream";
	size_t n = sizeof(type) - 1;

	while (len && (*value == ' ' || *value == '\t'))
		value++, len--;
	if (len < n || strncasecmp(value, type, n) != 0)
		return false;
	return len == n || value[n] == ';' || value[n] == ' ' || value[n] == '\t';
}
