#include "log.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "challenge.h"
#include "verdict.h"

static const char *const flag_names[] = {
	"no_challenge", "incomplete", "truncated", "status_inferred", "connect", "at_exit",
};

/* The names of the flags set, comma-separated, as JSON strings or bare. */
static void put_flags(struct buf *b, unsigned flags, bool quoted)
{
	bool first = true;

	for (size_t i = 0; i < sizeof(flag_names) / sizeof(flag_names[0]); i++) {
		if (!(flags & (1u << i)))
			continue;
		if (!first)
			buf_putc(b, ',');
		first = false;
		if (quoted)
			buf_putc(b, '"');
		buf_puts(b, flag_names[i]);
		if (quoted)
			buf_putc(b, '"');
	}
}

/* The parameters a person debugging a sign-in looks for first. */
static const char *const text_params[] = {
	"realm", "scope", "error", "error_description", "resource_metadata",
};

/* Eight bytes of s as one word, for the ASCII fast paths below. */
static inline uint64_t load8(const unsigned char *s)
{
	uint64_t w;

	memcpy(&w, s, sizeof(w));
	return w;
}

#define LOG_ONES 0x0101010101010101ull
#define LOG_HIGHS 0x8080808080808080ull

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF.
 * Header values are nearly always ASCII, which is skipped eight bytes at a
 * time. */
static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (len - i >= 8 && !(load8(s + i) & LOG_HIGHS)) {
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
static size_t cut_len(const unsigned char *s, size_t len, size_t cap, bool latin1)
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

static const unsigned char json_class[256] = {
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
	uint64_t q = w ^ (LOG_ONES * '"'), bs = w ^ (LOG_ONES * '\\');
	uint64_t hit = ((w - LOG_ONES * 0x20) | (q - LOG_ONES) | (bs - LOG_ONES)) & ~w;

	return (hit & LOG_HIGHS) | (w & high);
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
	uint64_t high = (mask & JSON_HIGH) ? LOG_HIGHS : 0;

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
	while (i < len && !(json_class[s[i]] & mask))
		i++;
	return i;
}

/* A JSON string.  latin1: every byte is one code point (U+0000..U+00FF),
 * the documented encoding of values that are not UTF-8.  Room for the
 * string as it is is made once; runs that need no escaping are copied
 * whole, and only an escape asks for more room. */
static void json_str(struct buf *b, const char *p, size_t len, bool latin1)
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
static void text_str(struct buf *b, const char *p, size_t len)
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
			if (n <= len - i && utf8_valid(s + i, n)) {
				buf_put(b, p + i, n);
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
static void text_value(struct buf *b, const char *v, size_t len)
{
	bool bare = len > 0;
	for (size_t i = 0; i < len && bare; i++)
		bare = (unsigned char)v[i] > ' ' && v[i] != '"' && v[i] != ',' && v[i] != ';' &&
		       v[i] != '\\' && v[i] != 0x7f;
	if (bare) {
		text_str(b, v, len);
		return;
	}
	buf_putc(b, '"');
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		if (v[i] != '"')
			continue;
		text_str(b, v + run, i - run);
		buf_puts(b, "\\\"");
		run = i + 1;
	}
	text_str(b, v + run, len - run);
	buf_putc(b, '"');
}

/* Undoes quoting into a scratch buffer; NULL when memory is short.  A
 * quoted value without a backslash is its own unquoted form. */
static const char *param_value(const struct challenge_param *p, char *small, size_t small_size,
			       char **heap, size_t *len)
{
	if (!p->quoted || !memchr(p->value.p, '\\', p->value.len)) {
		*len = p->value.len;
		return p->value.p;
	}
	*len = challenge_unquote(p, small, small_size);
	if (*len < small_size)
		return small;
	*heap = malloc(*len + 1);
	if (!*heap)
		return NULL;
	challenge_unquote(p, *heap, *len + 1);
	return *heap;
}

static bool name_eq(struct challenge_view a, struct challenge_view b)
{
	if (a.len != b.len)
		return false;
	for (size_t i = 0; i < a.len; i++) {
		unsigned char x = (unsigned char)a.p[i], y = (unsigned char)b.p[i];
		if (x >= 'A' && x <= 'Z')
			x += 'a' - 'A';
		if (y >= 'A' && y <= 'Z')
			y += 'a' - 'A';
		if (x != y)
			return false;
	}
	return true;
}

static uint32_t name_hash(struct challenge_view v)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < v.len; i++) {
		unsigned char c = (unsigned char)v.p[i];
		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		h = (h ^ c) * 16777619u;
	}
	return h;
}

/* A param name, lower-cased.  Names are tokens, which JSON never escapes,
 * so they go straight to the buffer; anything else takes the long way. */
static void json_name(struct buf *b, struct challenge_view name, bool latin1)
{
	char *o = buf_room(b, name.len + 2);
	unsigned bad = 0;

	if (!o)
		return;
	o[0] = '"';
	for (size_t i = 0; i < name.len; i++) {
		unsigned char c = (unsigned char)name.p[i];
		c = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 'a' - 'A') : c;
		bad |= json_class[c];
		o[i + 1] = (char)c;
	}
	o[name.len + 1] = '"';
	if (!bad) {
		buf_commit(b, name.len + 2);
		return;
	}

	char small[64];
	char *heap = NULL;
	char *lower = name.len < sizeof(small) ? small : (heap = malloc(name.len));

	if (!lower) {
		buf_fail(b);
		return;
	}
	memcpy(lower, o + 1, name.len);
	json_str(b, lower, name.len, latin1);
	free(heap);
}

static void json_param_value(struct buf *b, const struct challenge_param *p, bool latin1,
			     size_t cap, bool *cut)
{
	char small[256];
	char *heap = NULL;
	size_t len;
	const char *v = param_value(p, small, sizeof(small), &heap, &len);

	if (!v) {
		buf_fail(b);
		return;
	}
	size_t n = cut_len((const unsigned char *)v, len, cap, latin1);
	if (n < len)
		*cut = true;
	json_str(b, v, n, latin1);
	free(heap);
}

/* Writes "params" (and "repeated") for the n params of all; dup[i] says
 * whether the name of all[i] came earlier. */
static void json_params_put(struct buf *b, const struct challenge_param *all, const bool *dup,
			    size_t n, bool latin1, size_t cap, bool *cut)
{
	bool any_dup = false;
	buf_puts(b, ",\"params\":{");
	for (size_t i = 0, first = 1; i < n; i++) {
		if (dup[i]) {
			any_dup = true;
			continue;
		}
		if (!first)
			buf_putc(b, ',');
		first = 0;
		json_name(b, all[i].name, latin1);
		buf_putc(b, ':');
		json_param_value(b, &all[i], latin1, cap, cut);
	}
	buf_putc(b, '}');
	if (any_dup) {
		buf_puts(b, ",\"repeated\":[");
		for (size_t i = 0, first = 1; i < n; i++) {
			if (!dup[i])
				continue;
			if (!first)
				buf_putc(b, ',');
			first = 0;
			buf_puts(b, "{\"name\":");
			json_name(b, all[i].name, latin1);
			buf_puts(b, ",\"value\":");
			json_param_value(b, &all[i], latin1, cap, cut);
			buf_putc(b, '}');
		}
		buf_putc(b, ']');
	}
}

/* More params than fit on the stack: read once more, into the heap, with a
 * hash table of names so that 20,000 params stay linear. */
static void json_many_params(struct buf *b, const struct challenge *ch, size_t n, bool latin1,
			     size_t cap, bool *cut)
{
	size_t slots = 16;
	while (slots < 2 * n)
		slots *= 2;
	struct challenge_param *all = malloc(n * sizeof(*all));
	size_t *table = calloc(slots, sizeof(*table));
	bool *dup = calloc(n, sizeof(*dup));
	if (!all || !table || !dup) {
		buf_fail(b);
		goto out;
	}
	size_t pos = 0;
	for (size_t i = 0; i < n && challenge_param_next(ch, &pos, &all[i]); i++) {
		size_t k = name_hash(all[i].name) & (slots - 1);
		for (; table[k]; k = (k + 1) & (slots - 1)) {
			if (name_eq(all[table[k] - 1].name, all[i].name)) {
				dup[i] = true;
				break;
			}
		}
		if (!dup[i])
			table[k] = i + 1;
	}
	json_params_put(b, all, dup, n, latin1, cap, cut);
out:
	free(all);
	free(table);
	free(dup);
}

/* As many params as a challenge usually has, read along with it. */
#define LOG_FEW_PARAMS 16

/* "params" keeps the first occurrence of each name; later ones go to
 * "repeated", since a JSON object cannot hold a name twice.  The n params
 * of a usual challenge are in few already, and compared pairwise. */
static void json_params(struct buf *b, const struct challenge *ch,
			const struct challenge_param *few, size_t n, bool latin1, size_t cap,
			bool *cut)
{
	bool dup[LOG_FEW_PARAMS];

	if (!n) {
		buf_puts(b, ",\"params\":{}");
		return;
	}
	if (n > LOG_FEW_PARAMS) {
		json_many_params(b, ch, n, latin1, cap, cut);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		dup[i] = false;
		for (size_t j = 0; j < i && !dup[i]; j++)
			dup[i] = !dup[j] && name_eq(few[j].name, few[i].name);
	}
	json_params_put(b, few, dup, n, latin1, cap, cut);
}

/* The challenges of one header value, walked to the end, so that *c
 * knows afterwards whether and where the value was malformed. */
static void json_challenges(struct buf *b, struct challenge_cursor *c, bool latin1, size_t cap,
			    bool *first, bool *cut)
{
	struct challenge ch;
	struct challenge_param few[LOG_FEW_PARAMS];
	size_t nparams;

	while (challenge_next_params(c, &ch, few, LOG_FEW_PARAMS, &nparams)) {
		if (!*first)
			buf_putc(b, ',');
		*first = false;
		buf_puts(b, "{\"scheme\":");
		json_str(b, ch.scheme.p, ch.scheme.len, latin1);
		if (ch.token68.p) {
			size_t n = cut_len((const unsigned char *)ch.token68.p, ch.token68.len, cap,
					   latin1);
			if (n < ch.token68.len)
				*cut = true;
			buf_puts(b, ",\"token68\":");
			json_str(b, ch.token68.p, n, latin1);
		} else {
			json_params(b, &ch, few, nparams, latin1, cap, cut);
		}
		if (latin1)
			buf_puts(b, ",\"encoding\":\"latin1\"");
		buf_putc(b, '}');
	}
}

static bool header_latin1(const struct record_header *h)
{
	return !utf8_valid((const unsigned char *)h->name, h->name_len) ||
	       !utf8_valid((const unsigned char *)h->value, h->value_len);
}

/* UTC from seconds since the epoch, by arithmetic: gmtime_r takes libc's
 * time zone lock, which a child forked while another thread held it would
 * wait on forever.  Days to a civil date counts in 400-year eras of
 * 146097 days, with years starting in March so that leap days come last. */
static void json_ts(struct buf *b, const struct timespec *ts)
{
	long long secs = ts->tv_sec, days = secs / 86400, rem = secs % 86400;
	if (rem < 0) {
		rem += 86400;
		days--;
	}
	days += 719468; /* from 1970-01-01 to 0000-03-01 */
	long long era = (days >= 0 ? days : days - 146096) / 146097;
	long long doe = days - era * 146097;
	long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	long long mp = (5 * doy + 2) / 153;
	long long day = doy - (153 * mp + 2) / 5 + 1;
	long long month = mp < 10 ? mp + 3 : mp - 9;
	long long year = yoe + era * 400 + (month <= 2);

	long ms = ts->tv_nsec / 1000000;
	char *o;

	if (year >= 0 && year <= 9999 && ms >= 0 && ms <= 999 && (o = buf_room(b, 26))) {
		/* "2026-11-26T12:34:56.789Z", with its quotes, in fixed places;
		 * other years and a tv_nsec out of range (which clock_gettime
		 * never gives) are written field by field below. */
		memcpy(o, "\"YYyy-MM-DDThh:mm:ss.0msZ\"", 26);
		memcpy(o + 1, buf_dec2 + 2 * (year / 100), 2);
		memcpy(o + 3, buf_dec2 + 2 * (year % 100), 2);
		memcpy(o + 6, buf_dec2 + 2 * month, 2);
		memcpy(o + 9, buf_dec2 + 2 * day, 2);
		memcpy(o + 12, buf_dec2 + 2 * (rem / 3600), 2);
		memcpy(o + 15, buf_dec2 + 2 * (rem / 60 % 60), 2);
		memcpy(o + 18, buf_dec2 + 2 * (rem % 60), 2);
		o[21] = (char)('0' + ms / 100);
		memcpy(o + 22, buf_dec2 + 2 * (ms % 100), 2);
		buf_commit(b, 26);
		return;
	}
	buf_putc(b, '"');
	buf_putint(b, year, 4);
	buf_putc(b, '-');
	buf_putint(b, month, 2);
	buf_putc(b, '-');
	buf_putint(b, day, 2);
	buf_putc(b, 'T');
	buf_putint(b, rem / 3600, 2);
	buf_putc(b, ':');
	buf_putint(b, rem / 60 % 60, 2);
	buf_putc(b, ':');
	buf_putint(b, rem % 60, 2);
	buf_putc(b, '.');
	buf_putint(b, ts->tv_nsec / 1000000, 3);
	buf_puts(b, "Z\"");
}

/* Room for the "challenges" of a usual record while "headers" is written. */
#define LOG_CHALLENGES_STACK 512

/* "headers" and then "challenges".  Each value is parsed once: its
 * challenges are written aside while its header object, which ends with
 * where the value was malformed, is written. */
static void json_headers_make(struct buf *b, const struct record *r, size_t cap, bool *cut)
{
	char store[LOG_CHALLENGES_STACK];
	struct buf chs;
	bool first = true;

	buf_init(&chs, store, sizeof(store));
	buf_puts(b, ",\"headers\":[");
	for (size_t i = 0; i < r->nheaders; i++) {
		const struct record_header *h = &r->headers[i];
		bool latin1 = header_latin1(h);
		struct challenge_cursor c;
		size_t n = cut_len((const unsigned char *)h->value, h->value_len, cap, latin1);

		if (n < h->value_len)
			*cut = true;
		if (i)
			buf_putc(b, ',');
		buf_puts(b, "{\"name\":");
		json_str(b, h->name, h->name_len, latin1);
		buf_puts(b, ",\"value\":");
		json_str(b, h->value, n, latin1);
		if (latin1)
			buf_puts(b, ",\"encoding\":\"latin1\"");
		challenge_start(&c, h->value, h->value_len);
		json_challenges(&chs, &c, latin1, cap, &first, cut);
		if (c.malformed)
			buf_printf(b, ",\"malformed_at\":%zu", c.malformed_at);
		buf_putc(b, '}');
	}
	buf_puts(b, "],\"challenges\":[");
	if (buf_failed(&chs))
		buf_fail(b);
	else
		buf_put(b, chs.p, chs.len);
	buf_putc(b, ']');
	buf_free(&chs);
}

/* An upstream sends the same challenge again and again, so the "headers"
 * and "challenges" part of this thread's last JSON record is kept with
 * what it was made from, and used again when the next record's headers
 * and cap are byte for byte the same: no parsing, no escaping.  The key
 * holds each name and value with its length before it; a part that does
 * not fit is made afresh every time. */
#define LOG_MEMO_KEY 768
#define LOG_MEMO_OUT 1536

static __thread __attribute__((tls_model("initial-exec"))) struct {
	bool valid, cut;
	size_t cap, nheaders, key_len, out_len;
	unsigned char key[LOG_MEMO_KEY];
	char out[LOG_MEMO_OUT];
} log_memo;

/* Walks r's headers against the key, or writes them into it; false when
 * they differ, or do not fit. */
static bool memo_key(const struct record *r, bool write)
{
	size_t at = 0;

	for (size_t i = 0; i < r->nheaders; i++) {
		const struct record_header *h = &r->headers[i];
		const char *part[2] = {h->name, h->value};
		size_t len[2] = {h->name_len, h->value_len};
		for (int k = 0; k < 2; k++) {
			if (len[k] > LOG_MEMO_KEY || LOG_MEMO_KEY - at < sizeof(len[k]) + len[k])
				return false;
			if (write) {
				memcpy(log_memo.key + at, &len[k], sizeof(len[k]));
				memcpy(log_memo.key + at + sizeof(len[k]), part[k], len[k]);
			} else if (memcmp(log_memo.key + at, &len[k], sizeof(len[k])) != 0 ||
				   memcmp(log_memo.key + at + sizeof(len[k]), part[k], len[k]) != 0) {
				return false;
			}
			at += sizeof(len[k]) + len[k];
		}
	}
	if (write)
		log_memo.key_len = at;
	return write || at == log_memo.key_len;
}

static void json_headers(struct buf *b, const struct record *r, size_t cap, bool *cut)
{
	if (log_memo.valid && log_memo.cap == cap && log_memo.nheaders == r->nheaders &&
	    memo_key(r, false)) {
		buf_put(b, log_memo.out, log_memo.out_len);
		*cut |= log_memo.cut;
		return;
	}
	size_t from = b->len;
	bool made_cut = false;
	json_headers_make(b, r, cap, &made_cut);
	*cut |= made_cut;
	log_memo.valid = false;
	if (buf_failed(b) || b->len - from > LOG_MEMO_OUT || !memo_key(r, true))
		return;
	memcpy(log_memo.out, b->p + from, b->len - from);
	log_memo.out_len = b->len - from;
	log_memo.cut = made_cut;
	log_memo.cap = cap;
	log_memo.nheaders = r->nheaders;
	log_memo.valid = true;
}

/* A string of the request, with "<key>_encoding":"latin1" after it when it
 * is not UTF-8, as for header values. */
static void json_opt_str(struct buf *b, const char *key, const char *s)
{
	size_t len = s ? strlen(s) : 0;
	bool latin1 = s && !utf8_valid((const unsigned char *)s, len);

	buf_puts(b, ",\"");
	buf_puts(b, key);
	buf_puts(b, "\":");
	if (s)
		json_str(b, s, len, latin1);
	else
		buf_puts(b, "null");
	if (latin1)
		buf_printf(b, ",\"%s_encoding\":\"latin1\"", key);
}

void log_format_json(struct buf *b, const struct record *r, const struct log_meta *m)
{
	const struct record_transfer *t = r->transfer;
	unsigned flags = r->flags;
	bool cut = false;

	buf_puts(b, "{\"v\":1,\"type\":\"response\",\"ts\":");
	json_ts(b, &m->ts);
	buf_puts(b, ",\"pid\":");
	buf_putint(b, m->pid, 0);
	buf_puts(b, ",\"tid\":");
	buf_putint(b, m->tid, 0);
	buf_puts(b, ",\"handle\":\"0x");
	buf_puthex(b, (uintptr_t)t->handle);
	buf_puts(b, t->api == RECORD_API_MULTI ? "\",\"api\":\"multi\"" : "\",\"api\":\"easy\"");
	json_opt_str(b, "method", t->method);
	json_opt_str(b, "url", r->url_unknown ? NULL : t->url);
	if (t->result == RECORD_RESULT_UNKNOWN) {
		buf_puts(b, ",\"result\":null");
	} else {
		buf_puts(b, ",\"result\":");
		buf_putint(b, t->result, 0);
	}
	buf_puts(b, ",\"status\":");
	buf_putint(b, r->status, 0);
	buf_puts(b, r->final ? ",\"final\":true,\"request\":" : ",\"final\":false,\"request\":");
	buf_putint(b, r->request, 0);

	if (!r->headers_known)
		buf_puts(b, ",\"headers\":null,\"challenges\":null");
	else
		json_headers(b, r, m->value_cap, &cut);

	if (cut)
		flags |= RECORD_TRUNCATED;
	buf_puts(b, ",\"flags\":[");
	put_flags(b, flags, true);
	buf_puts(b, "]}\n");
}

static void text_challenges(struct buf *b, const struct record_header *h, size_t cap,
			    bool *first, bool *cut)
{
	struct challenge_cursor c;
	struct challenge ch;
	bool latin1 = header_latin1(h);

	challenge_start(&c, h->value, h->value_len);
	while (challenge_next(&c, &ch)) {
		buf_puts(b, *first ? " => " : "; ");
		*first = false;
		text_str(b, ch.scheme.p, ch.scheme.len);
		if (ch.token68.p) {
			size_t n = cut_len((const unsigned char *)ch.token68.p, ch.token68.len, cap,
					   latin1);
			*cut |= n < ch.token68.len;
			buf_putc(b, ' ');
			text_str(b, ch.token68.p, n);
			continue;
		}
		struct challenge_param p;
		size_t pos = 0;
		while (challenge_param_next(&ch, &pos, &p)) {
			for (size_t k = 0; k < sizeof(text_params) / sizeof(text_params[0]); k++) {
				if (!challenge_view_is(p.name, text_params[k]))
					continue;
				char small[256];
				char *heap = NULL;
				size_t len;
				const char *v = param_value(&p, small, sizeof(small), &heap, &len);
				buf_putc(b, ' ');
				buf_puts(b, text_params[k]);
				buf_putc(b, '=');
				if (v) {
					size_t n = cut_len((const unsigned char *)v, len, cap,
							   latin1);
					*cut |= n < len;
					text_value(b, v, n);
				}
				free(heap);
			}
		}
	}
	if (c.malformed)
		buf_printf(b, " (malformed at byte %zu)", c.malformed_at);
}

void log_format_text(struct buf *b, const struct record *r, const struct log_meta *m)
{
	const struct record_transfer *t = r->transfer;
	unsigned flags = r->flags;

	buf_printf(b, "authtap[%ld] ", m->pid);
	if (r->status)
		buf_printf(b, "%ld", r->status);
	else
		buf_puts(b, "???");
	buf_putc(b, ' ');
	if (t->method)
		text_str(b, t->method, strlen(t->method));
	else
		buf_putc(b, '-');
	buf_putc(b, ' ');
	if (t->url && !r->url_unknown)
		text_str(b, t->url, strlen(t->url));
	else
		buf_putc(b, '-');

	if (!r->headers_known) {
		buf_puts(b, " (headers unknown: this libcurl has no header API)");
	} else if (!r->nheaders) {
		buf_puts(b, " (no challenge)");
	} else {
		for (size_t i = 0; i < r->nheaders; i++) {
			const struct record_header *h = &r->headers[i];
			size_t n = cut_len((const unsigned char *)h->value, h->value_len,
					   m->value_cap, header_latin1(h));
			if (n < h->value_len)
				flags |= RECORD_TRUNCATED;
			buf_puts(b, i ? " | " : " ");
			text_str(b, h->name, h->name_len);
			buf_puts(b, ": ");
			text_str(b, h->value, n);
		}
		bool first = true, cut = false;
		for (size_t i = 0; i < r->nheaders; i++)
			text_challenges(b, &r->headers[i], m->value_cap, &first, &cut);
		if (cut)
			flags |= RECORD_TRUNCATED;
	}
	if (!r->final)
		buf_printf(b, " (response %d of the transfer, not the last)", r->request);
	if (t->result == RECORD_RESULT_UNKNOWN)
		buf_puts(b, " (removed from its multi handle before its result was read)");
	else if (t->result)
		buf_printf(b, " (transfer failed: CURLcode %d)", t->result);
	if (flags) {
		buf_puts(b, " [");
		put_flags(b, flags, false);
		buf_putc(b, ']');
	}
	buf_putc(b, '\n');
}

static void json_cstr(struct buf *b, const char *s)
{
	if (!s) {
		buf_puts(b, "null");
		return;
	}
	size_t n = strlen(s);
	json_str(b, s, n, !utf8_valid((const unsigned char *)s, n));
}

static void json_head(struct buf *b, const char *type, const struct log_meta *m)
{
	buf_printf(b, "{\"v\":1,\"type\":\"%s\",\"ts\":", type);
	json_ts(b, &m->ts);
	buf_printf(b, ",\"pid\":%ld,\"tid\":%ld", m->pid, m->tid);
}

void log_format_verdict_json(struct buf *b, const struct verdict *v, const struct log_meta *m)
{
	json_head(b, "verdict", m);
	buf_printf(b, ",\"verdict\":\"%s\",\"handle\":\"0x%jx\"", verdict_name(v->kind),
		   (uintmax_t)(uintptr_t)v->handle);
	json_opt_str(b, "method", v->method);
	json_opt_str(b, "url", v->url);
	buf_printf(b, ",\"upstream_status\":%ld,\"downstream_status\":", v->upstream_status);
	if (v->kind == VERDICT_UNPAIRED) {
		buf_puts(b, "null,\"why\":");
		json_cstr(b, v->unpaired_why);
	} else {
		buf_printf(b, "%ld", v->downstream_status);
	}
	buf_puts(b, ",\"challenges\":[");
	for (size_t i = 0; i < v->nheaders; i++) {
		const struct verdict_header *h = &v->headers[i];
		if (i)
			buf_putc(b, ',');
		buf_puts(b, "{\"name\":");
		json_cstr(b, h->name);
		buf_printf(b, ",\"result\":\"%s\",\"upstream\":", verdict_name(h->result));
		json_cstr(b, h->upstream);
		buf_puts(b, ",\"downstream\":");
		json_cstr(b, h->downstream);
		if (h->nchanges) {
			buf_puts(b, ",\"changes\":[");
			for (size_t k = 0; k < h->nchanges; k++) {
				const struct verdict_change *c = &h->changes[k];
				buf_puts(b, k ? ",{\"scheme\":" : "{\"scheme\":");
				json_cstr(b, c->scheme);
				buf_puts(b, ",\"param\":");
				json_cstr(b, c->param);
				buf_puts(b, ",\"upstream\":");
				json_cstr(b, c->upstream);
				buf_puts(b, ",\"downstream\":");
				json_cstr(b, c->downstream);
				buf_putc(b, '}');
			}
			buf_putc(b, ']');
		}
		buf_putc(b, '}');
	}
	buf_puts(b, "]}\n");
}

static void text_cstr(struct buf *b, const char *s)
{
	text_str(b, s, strlen(s));
}

static void text_quoted(struct buf *b, const char *s)
{
	if (s)
		text_value(b, s, strlen(s));
	else
		buf_puts(b, "(none)");
}

void log_format_verdict_text(struct buf *b, const struct verdict *v, const struct log_meta *m)
{
	buf_printf(b, "authtap[%ld] verdict %s: upstream %ld ", m->pid, verdict_name(v->kind),
		   v->upstream_status);
	text_cstr(b, v->method ? v->method : "-");
	buf_putc(b, ' ');
	text_cstr(b, v->url ? v->url : "-");
	if (v->kind == VERDICT_UNPAIRED) {
		buf_puts(b, " -> no response to the client (");
		text_cstr(b, v->unpaired_why ? v->unpaired_why : "");
		buf_putc(b, ')');
	} else {
		buf_printf(b, " -> client %ld", v->downstream_status);
	}
	for (size_t i = 0; i < v->nheaders; i++) {
		const struct verdict_header *h = &v->headers[i];
		buf_puts(b, "; ");
		text_cstr(b, h->name);
		buf_printf(b, " %s", verdict_name(h->result));
		if (h->result == VERDICT_DROPPED) {
			buf_puts(b, " (upstream sent: ");
			text_cstr(b, h->upstream);
			buf_putc(b, ')');
		}
		for (size_t k = 0; k < h->nchanges; k++) {
			const struct verdict_change *c = &h->changes[k];
			buf_puts(b, k ? ", " : ": ");
			text_cstr(b, c->scheme);
			if (c->param) {
				buf_putc(b, ' ');
				text_cstr(b, c->param);
			}
			buf_putc(b, ' ');
			text_quoted(b, c->upstream);
			buf_puts(b, " -> ");
			text_quoted(b, c->downstream);
		}
	}
	buf_putc(b, '\n');
}

void log_format_summary_json(struct buf *b, const struct verdict_summary *s,
			     const struct log_meta *m)
{
	json_head(b, "summary", m);
	buf_printf(b,
		   ",\"challenges\":%lu,\"forwarded\":%lu,\"dropped\":%lu,\"altered\":%lu,"
		   "\"converted\":%lu,\"unpaired\":%lu}\n",
		   s->challenges, s->forwarded, s->dropped, s->altered, s->converted, s->unpaired);
}

void log_format_summary_text(struct buf *b, const struct verdict_summary *s,
			     const struct log_meta *m)
{
	buf_printf(b,
		   "authtap[%ld] summary: %lu challenges from upstream: %lu forwarded, %lu dropped, "
		   "%lu altered, %lu converted, %lu unpaired\n",
		   m->pid, s->challenges, s->forwarded, s->dropped, s->altered, s->converted,
		   s->unpaired);
}
