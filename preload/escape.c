/* Escaping and UTF-8, for the record formatters: JSON strings that are
 * valid UTF-8 whatever bytes came in, and text that is safe on a terminal.
 * Pure: no I/O, no globals. */
#include "escape.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Eight bytes of s as one word, for the ASCII fast paths below. */
static inline uint64_t load8(const unsigned char *s)
{
	uint64_t w;

	memcpy(&w, s, sizeof(w));
	return w;
}

#define ESCAPE_ONES 0x0101010101010101ull
#define ESCAPE_HIGHS 0x8080808080808080ull

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
 * Header values are nearly always ASCII, which is skipped eight bytes at a
 * time. */
bool escape_utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (len - i >= 8 && !(load8(s + i) & ESCAPE_HIGHS)) {
			i += 8;
			continue;
		}
		unsigned c = s[i];
		size_t n;
		unsigned min, cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 1, min = 0x80, cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2, min = 0x800, cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3, min = 0x10000, cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i - 1 < n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* Where to cut s to at most cap bytes without splitting a UTF-8 sequence. */
size_t escape_cut_len(const unsigned char *s, size_t len, size_t cap, bool latin1)
{
	if (!cap || len <= cap)
		return len;
	size_t n = cap;
	if (!latin1)
		while (n > 0 && (s[n] & 0xc0) == 0x80)
			n--;
	return n;
}

/* What a byte needs inside a JSON string: JSON_ESC for the quote, the
 * backslash and C0 controls, JSON_HIGH for bytes >= 0x80 (re-encoded when
 * the value is latin1, copied as they are when it is UTF-8). */
enum { JSON_ESC = 1, JSON_HIGH = 2 };

const unsigned char escape_json_class[256] = {
    [0x00 ... 0x1f] = JSON_ESC,
    ['"'] = JSON_ESC,
    ['\\'] = JSON_ESC,
    [0x80 ... 0xff] = JSON_HIGH,
};

/* Which of the eight bytes of w need more than copying: a C0 control, '"'
 * or '\\', or with high set a byte >= 0x80; the high bit of each such byte
 * is set.  Each test can misfire only above a byte that really matches, so
 * the lowest bit set is always right. */
static inline uint64_t json_word_special(uint64_t w, uint64_t high)
{
	uint64_t q = w ^ (ESCAPE_ONES * '"'), bs = w ^ (ESCAPE_ONES * '\\');
	uint64_t hit = ((w - ESCAPE_ONES * 0x20) | (q - ESCAPE_ONES) | (bs - ESCAPE_ONES)) & ~w;

	return (hit & ESCAPE_HIGHS) | (w & high);
}

/* How many bytes from s on are copied as they are, found a word at a time
 * where the first set bit of a mask is the first byte in memory.  The last
 * few bytes of a string of eight or more are looked at in the word that
 * ends it, less the bytes already known to be plain (which cannot set a
 * false bit above them). */
static size_t json_plain_run(const unsigned char *s, size_t len, unsigned mask)
{
	size_t i = 0;

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t high = (mask & JSON_HIGH) ? ESCAPE_HIGHS : 0;

	for (; len - i >= 8; i += 8) {
		uint64_t m = json_word_special(load8(s + i), high);
		if (m)
			return i + (size_t)__builtin_ctzll(m) / 8;
	}
	if (i == len)
		return len;
	if (len >= 8) {
		size_t known = 8 - (len - i);
		uint64_t m = json_word_special(load8(s + len - 8), high) >> (8 * known);
		return m ? i + (size_t)__builtin_ctzll(m) / 8 : len;
	}
#endif
	while (i < len && !(escape_json_class[s[i]] & mask))
		i++;
	return i;
}

/* A JSON string.  latin1: every byte is one code point (U+0000..U+00FF),
 * the documented encoding of values that are not UTF-8.  Room for the
 * string as it is is made once; runs that need no escaping are copied
 * whole, and only an escape asks for more room. */
void escape_json(struct buf *b, const char *p, size_t len, bool latin1)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)p;
	unsigned mask = latin1 ? JSON_ESC | JSON_HIGH : JSON_ESC;
	size_t i = 0;
	char *o = buf_room(b, len + 2);

	if (!o)
		return;
	*o++ = '"';
	for (;;) {
		size_t run = json_plain_run(s + i, len - i, mask);
		if (run) {
			memcpy(o, s + i, run);
			o += run;
			i += run;
		}
		if (i == len)
			break;

		/* Six bytes for this one, the rest as it is, the closing quote. */
		unsigned char c = s[i++];
		buf_commit(b, (size_t)(o - (b->p + b->len)));
		o = buf_room(b, 6 + (len - i) + 1);
		if (!o)
			return;
		if (c >= 0x80) {
			o[0] = (char)(0xc0 | (c >> 6)), o[1] = (char)(0x80 | (c & 0x3f));
			o += 2;
		} else if (c == '"' || c == '\\') {
			o[0] = '\\', o[1] = (char)c;
			o += 2;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			o[0] = '\\', o[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
			o += 2;
		} else {
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4], o[5] = hex[c & 15];
			o += 6;
		}
	}
	*o++ = '"';
	buf_commit(b, (size_t)(o - (b->p + b->len)));
}

/* A byte string for a terminal: printable ASCII and valid UTF-8 as they are,
 * backslash doubled, everything else (C0 and C1 controls, DEL, stray bytes)
 * as \xHH. */
bool escape_hidden(unsigned cp)
{
	return (cp >= 0x7f && cp <= 0x9f) || cp == 0xad || cp == 0x61c || cp == 0x180e ||
	       (cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff || (cp >= 0xfff9 && cp <= 0xfffb) ||
	       (cp >= 0xe0000 && cp <= 0xe007f);
}

/* The code point of the valid UTF-8 sequence of n bytes at s. */
static unsigned utf8_cp(const unsigned char *s, size_t n)
{
	unsigned cp = n == 1 ? s[0] : s[0] & (0x7f >> n);

	for (size_t k = 1; k < n; k++)
		cp = (cp << 6) | (s[k] & 0x3f);
	return cp;
}

static void put_u(struct buf *b, unsigned cp)
{
	if (cp > 0xffff) {
		cp -= 0x10000;
		buf_printf(b, "\\u%04x\\u%04x", 0xd800 + (cp >> 10), 0xdc00 + (cp & 0x3ff));
	} else {
		buf_printf(b, "\\u%04x", cp);
	}
}

void escape_json_terminal(struct buf *b, size_t from)
{
	const unsigned char *s = (const unsigned char *)b->p + from;
	size_t len = b->len - from, i = 0;

	/* Nearly always nothing to do: look before copying. */
	while (i < len && s[i] < 0x7f)
		i++;
	if (i == len || buf_failed(b))
		return;
	char *copy = malloc(len);
	if (!copy) {
		buf_fail(b);
		return;
	}
	memcpy(copy, s, len);
	s = (const unsigned char *)copy;
	b->len = from + i;
	while (i < len) {
		unsigned char c = s[i];
		size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
		if (n > len - i || (n > 1 && !escape_utf8_valid(s + i, n)))
			n = 1;
		unsigned cp = utf8_cp(s + i, n);
		if (escape_hidden(cp))
			put_u(b, cp);
		else
			buf_put(b, s + i, n);
		i += n;
	}
	free(copy);
}

void escape_text(struct buf *b, const char *p, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)p;

	for (size_t i = 0; i < len;) {
		unsigned char c = s[i];
		if (c >= 0x20 && c < 0x7f) {
			if (c == '\\')
				buf_putc(b, '\\');
			buf_putc(b, (char)c);
			i++;
			continue;
		}
		/* C1 controls (U+0080..U+009F, 0xc2 0x80..0x9f) start escape
		 * sequences on many terminals, as ESC does. */
		if (c >= 0x80 && !(c == 0xc2 && i + 1 < len && s[i + 1] < 0xa0)) {
			size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
			if (n <= len - i && escape_utf8_valid(s + i, n)) {
				/* Bidi overrides, line separators, invisible
				 * characters: shown as \uXXXX. */
				unsigned cp = utf8_cp(s + i, n);
				if (escape_hidden(cp)) {
					buf_printf(b, cp > 0xffff ? "\\U%08x" : "\\u%04x", cp);
				} else {
					buf_put(b, p + i, n);
				}
				i += n;
				continue;
			}
		}
		char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
		buf_put(b, esc, 4);
		i++;
	}
}

/* A parsed value for the text summary: bare when it is one plain word,
 * else in double quotes with inner quotes escaped, so that
 * realm="a, b" never reads as two things. */
void escape_text_value(struct buf *b, const char *v, size_t len)
{
	bool bare = len > 0;
	for (size_t i = 0; i < len && bare; i++)
		bare = (unsigned char)v[i] > ' ' && v[i] != '"' && v[i] != ',' && v[i] != ';' &&
		       v[i] != '\\' && v[i] != 0x7f;
	if (bare) {
		escape_text(b, v, len);
		return;
	}
	buf_putc(b, '"');
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] != '"')
			continue;
		escape_text(b, v + run, i - run);
		buf_puts(b, "\\\"");
		run = i + 1;
	}
	escape_text(b, v + run, len - run);
	buf_putc(b, '"');
}

/* A string of the request, with "<key>_encoding":"latin1" after it when it
 * is not UTF-8, as for header values. */
void escape_json_field(struct buf *b, const char *key, const char *s)
{
	size_t len = s ? strlen(s) : 0;
	bool latin1 = s && !escape_utf8_valid((const unsigned char *)s, len);

	buf_puts(b, ",\"");
	buf_puts(b, key);
	buf_puts(b, "\":");
	if (s)
		escape_json(b, s, len, latin1);
	else
		buf_puts(b, "null");
	if (latin1)
		buf_printf(b, ",\"%s_encoding\":\"latin1\"", key);
}
