/* Response records (JSON and text).  Pure formatting: no I/O; the only
 * state is a per-thread memo of the last JSON headers part. */
#include "format.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "challenge.h"
#include "escape.h"

static const char *const flag_names[] = {
    "no_challenge", "incomplete", "truncated", "status_inferred", "connect", "at_exit", "http2",
};

/* The names of the flags set, comma-separated, as JSON strings or bare. */
static void put_flags(struct buf *b, unsigned flags, bool quoted)
{
	bool first = true;

	if (!flags)
		return;
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
		bad |= escape_json_class[c];
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
	escape_json(b, lower, name.len, latin1);
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
	size_t n = escape_cut_len((const unsigned char *)v, len, cap, latin1);
	if (n < len)
		*cut = true;
	escape_json(b, v, n, latin1);
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
		escape_json(b, ch.scheme.p, ch.scheme.len, latin1);
		if (ch.token68.p) {
			size_t n = escape_cut_len((const unsigned char *)ch.token68.p,
			                          ch.token68.len, cap, latin1);
			if (n < ch.token68.len)
				*cut = true;
			buf_puts(b, ",\"token68\":");
			escape_json(b, ch.token68.p, n, latin1);
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
	return !escape_utf8_valid((const unsigned char *)h->name, h->name_len) ||
	       !escape_utf8_valid((const unsigned char *)h->value, h->value_len);
}

/* UTC from seconds since the epoch, by arithmetic: gmtime_r takes libc's
 * time zone lock, which a child forked while another thread held it would
 * wait on forever.  Days to a civil date counts in 400-year eras of
 * 146097 days, with years starting in March so that leap days come last. */
/* The thread's last second, written: records come many to the second, and
 * then only the milliseconds are new.  The key is the whole tv_sec. */
static __thread __attribute__((tls_model("initial-exec"))) struct {
	bool valid;
	time_t sec;
	char out[26];
} ts_memo;

void format_json_ts(struct buf *b, const struct timespec *ts)
{
	long ms0 = ts->tv_nsec / 1000000;
	char *o0;

	if (ts_memo.valid && ts_memo.sec == ts->tv_sec && ms0 >= 0 && ms0 <= 999 &&
	    (o0 = buf_room(b, 26))) {
		memcpy(o0, ts_memo.out, 21);
		o0[21] = (char)('0' + ms0 / 100);
		memcpy(o0 + 22, buf_dec2 + 2 * (ms0 % 100), 2);
		memcpy(o0 + 24, "Z\"", 2);
		buf_commit(b, 26);
		return;
	}
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
		memcpy(ts_memo.out, o, 26);
		ts_memo.sec = ts->tv_sec;
		ts_memo.valid = true;
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
		size_t n =
		    escape_cut_len((const unsigned char *)h->value, h->value_len, cap, latin1);

		if (n < h->value_len)
			*cut = true;
		if (i)
			buf_putc(b, ',');
		buf_puts(b, "{\"name\":");
		escape_json(b, h->name, h->name_len, latin1);
		buf_puts(b, ",\"value\":");
		escape_json(b, h->value, n, latin1);
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
} format_memo;

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
				memcpy(format_memo.key + at, &len[k], sizeof(len[k]));
				memcpy(format_memo.key + at + sizeof(len[k]), part[k], len[k]);
			} else {
				size_t kept;
				memcpy(&kept, format_memo.key + at, sizeof(kept));
				if (kept != len[k] || memcmp(format_memo.key + at + sizeof(kept),
				                             part[k], len[k]) != 0)
					return false;
			}
			at += sizeof(len[k]) + len[k];
		}
	}
	if (write)
		format_memo.key_len = at;
	return write || at == format_memo.key_len;
}

static void json_headers(struct buf *b, const struct record *r, size_t cap, bool *cut)
{
	if (format_memo.valid && format_memo.cap == cap && format_memo.nheaders == r->nheaders &&
	    memo_key(r, false)) {
		buf_put(b, format_memo.out, format_memo.out_len);
		*cut |= format_memo.cut;
		return;
	}
	size_t from = b->len;
	bool made_cut = false;
	json_headers_make(b, r, cap, &made_cut);
	*cut |= made_cut;
	format_memo.valid = false;
	if (buf_failed(b) || b->len - from > LOG_MEMO_OUT || !memo_key(r, true))
		return;
	memcpy(format_memo.out, b->p + from, b->len - from);
	format_memo.out_len = b->len - from;
	format_memo.cut = made_cut;
	format_memo.cap = cap;
	format_memo.nheaders = r->nheaders;
	format_memo.valid = true;
}

/* The record from "pid" to "request" is the same for every record of a
 * thread that fetches the same URL on the same handle, so the thread keeps
 * its last one with everything it was made from: the numbers, the handle,
 * the method's and URL's lengths (SIZE_MAX for none) and their bytes, which
 * are compared where the part holds them verbatim (a method or URL that
 * needed escaping is not kept).  A fork changes the pid, part of the key.
 * Small: static TLS comes out of every thread's stack (16 KiB ones too). */
#define LOG_HEAD_OUT 256

struct head_key {
	long pid, tid, status;
	const void *handle;
	int api, result, request;
	bool final, url_unknown;
	size_t method_len, url_len;
};

static __thread __attribute__((tls_model("initial-exec"))) struct {
	bool valid;
	struct head_key k;
	unsigned short out_len, method_at, url_at;
	char out[LOG_HEAD_OUT];
} head_memo;

/* Writes the part; *at is where s's bytes are in it, verbatim, or 0 when
 * they are not (escaped, or none). */
static void json_head_str(struct buf *b, const char *key, const char *s, size_t len, size_t from,
                          size_t *at)
{
	size_t start = b->len;

	escape_json_field(b, key, s);
	/* ,"key":"...": four quotes, a comma and a colon around key and s. */
	*at = s && b->len - start == strlen(key) + 6 + len ? start + strlen(key) + 5 - from : 0;
}

static void json_head_make(struct buf *b, const struct record *r, const struct log_meta *m,
                           const struct head_key *k, size_t *method_at, size_t *url_at)
{
	const struct record_transfer *t = r->transfer;
	size_t from = b->len;

	buf_puts(b, ",\"pid\":");
	buf_putint(b, m->pid, 0);
	buf_puts(b, ",\"tid\":");
	buf_putint(b, m->tid, 0);
	buf_puts(b, ",\"handle\":\"0x");
	buf_puthex(b, (uintptr_t)t->handle);
	buf_puts(b, "\",\"api\":\"");
	buf_puts(b, record_api_name(t->api));
	buf_puts(b, "\"");
	json_head_str(b, "method", t->method, k->method_len, from, method_at);
	json_head_str(b, "url", r->url_unknown ? NULL : t->url, k->url_len, from, url_at);
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
}

static void json_head(struct buf *b, const struct record *r, const struct log_meta *m)
{
	const struct record_transfer *t = r->transfer;
	const char *url = r->url_unknown ? NULL : t->url;
	struct head_key k;

	/* Every byte of k, padding too, so that it compares with memcmp. */
	memset(&k, 0, sizeof(k));
	k.pid = m->pid;
	k.tid = m->tid;
	k.status = r->status;
	k.handle = t->handle;
	k.api = (int)t->api;
	k.result = t->result;
	k.request = r->request;
	k.final = r->final;
	k.url_unknown = r->url_unknown;
	k.method_len = t->method ? strlen(t->method) : SIZE_MAX;
	k.url_len = url ? strlen(url) : SIZE_MAX;

	if (head_memo.valid && memcmp(&head_memo.k, &k, sizeof(k)) == 0 &&
	    (!t->method ||
	     memcmp(head_memo.out + head_memo.method_at, t->method, k.method_len) == 0) &&
	    (!url || memcmp(head_memo.out + head_memo.url_at, url, k.url_len) == 0)) {
		buf_put(b, head_memo.out, head_memo.out_len);
		return;
	}
	size_t from = b->len, method_at, url_at;
	json_head_make(b, r, m, &k, &method_at, &url_at);
	head_memo.valid = false;
	if (buf_failed(b) || b->len - from > LOG_HEAD_OUT || (t->method && !method_at) ||
	    (url && !url_at))
		return;
	memcpy(head_memo.out, b->p + from, b->len - from);
	head_memo.out_len = (unsigned short)(b->len - from);
	head_memo.method_at = (unsigned short)method_at;
	head_memo.url_at = (unsigned short)url_at;
	memcpy(&head_memo.k, &k, sizeof(k));
	head_memo.valid = true;
}

void format_response_json(struct buf *b, const struct record *r, const struct log_meta *m)
{
	unsigned flags = r->flags | (m->truncated ? RECORD_TRUNCATED : 0);
	bool cut = false;

	buf_puts(b, "{\"v\":1,\"type\":\"response\",\"ts\":");
	format_json_ts(b, &m->ts);
	json_head(b, r, m);

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

/* Colours for a terminal (SGR), only when log_meta says so. */
#define TEXT_RED "\033[1;31m"
#define TEXT_BOLD "\033[1m"
#define TEXT_OFF "\033[0m"

static void text_sgr(struct buf *b, const struct log_meta *m, const char *sgr)
{
	if (m->color)
		buf_puts(b, sgr);
}

/* The widest scheme of the record, so that the parameters line up. */
static size_t text_scheme_width(const struct record *r)
{
	size_t w = 0;

	for (size_t i = 0; i < r->nheaders; i++) {
		struct challenge_cursor c;
		struct challenge ch;
		challenge_start(&c, r->headers[i].value, r->headers[i].value_len);
		for (int k = 0; k < 64 && challenge_next(&c, &ch); k++)
			if (ch.scheme.len > w)
				w = ch.scheme.len;
	}
	return w < 24 ? w : 24;
}

static bool text_is_www(const struct record_header *h)
{
	static const char www[] = "www-authenticate";

	if (h->name_len != sizeof(www) - 1)
		return false;
	for (size_t i = 0; i < h->name_len; i++) {
		char c = h->name[i];
		if ((c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c) != www[i])
			return false;
	}
	return true;
}

/* One line per challenge of the header:
 *
 *   "  Bearer  realm=mcp scope=mcp:tools resource_metadata=http://…"
 *
 * the parameters people look for first, then how many others there are;
 * a Proxy-Authenticate challenge says so at the end. */
static void text_challenges(struct buf *b, const struct record_header *h, size_t width,
                            const struct log_meta *m, bool *cut)
{
	struct challenge_cursor c;
	struct challenge ch;
	bool latin1 = header_latin1(h), www = text_is_www(h);
	size_t cap = m->value_cap;

	challenge_start(&c, h->value, h->value_len);
	while (challenge_next(&c, &ch)) {
		size_t others = 0;
		buf_puts(b, "  ");
		text_sgr(b, m, TEXT_BOLD);
		escape_text(b, ch.scheme.p, ch.scheme.len);
		text_sgr(b, m, TEXT_OFF);
		if (ch.token68.p) {
			size_t n = escape_cut_len((const unsigned char *)ch.token68.p,
			                          ch.token68.len, cap, latin1);
			*cut |= n < ch.token68.len;
			for (size_t k = ch.scheme.len; k < width + 1; k++)
				buf_putc(b, ' ');
			escape_text(b, ch.token68.p, n);
		} else {
			struct challenge_param p;
			size_t pos = 0;
			bool first = true;
			while (challenge_param_next(&ch, &pos, &p)) {
				size_t k = 0;
				for (; k < sizeof(text_params) / sizeof(text_params[0]); k++)
					if (challenge_view_is(p.name, text_params[k]))
						break;
				if (k == sizeof(text_params) / sizeof(text_params[0])) {
					others++;
					continue;
				}
				if (first)
					for (size_t s = ch.scheme.len; s < width + 1; s++)
						buf_putc(b, ' ');
				else
					buf_putc(b, ' ');
				first = false;
				char small[256];
				char *heap = NULL;
				size_t len;
				const char *v = param_value(&p, small, sizeof(small), &heap, &len);
				buf_puts(b, text_params[k]);
				buf_putc(b, '=');
				if (v) {
					size_t n = escape_cut_len((const unsigned char *)v, len,
					                          cap, latin1);
					*cut |= n < len;
					escape_text_value(b, v, n);
				}
				free(heap);
			}
			if (others)
				buf_printf(b, "%s(+%zu more)", first ? " " : " ", others);
		}
		if (!www) {
			buf_puts(b, " (");
			escape_text(b, h->name, h->name_len);
			buf_putc(b, ')');
		}
		buf_putc(b, '\n');
	}
	if (c.malformed)
		buf_printf(b, "  (malformed at byte %zu of this header)\n", c.malformed_at);
}

/* For people, one line to say what came back, then one indented line per
 * challenge (and with AUTHTAP_RAW=1 the header lines as they came):
 *
 *   authtap[4242] 401 POST http://127.0.0.1:9000/mcp
 *     Bearer  realm=mcp scope=mcp:tools
 *     > WWW-Authenticate: Bearer realm="mcp", scope="mcp:tools"
 *
 * Every line begins with "authtap[" or two spaces; the record is one
 * write. */
void format_response_text(struct buf *b, const struct record *r, const struct log_meta *m)
{
	const struct record_transfer *t = r->transfer;
	unsigned flags = r->flags | (m->truncated ? RECORD_TRUNCATED : 0);

	/* Uncoloured, so that a record's line always begins "authtap[". */
	buf_printf(b, "authtap[%ld] ", m->pid);
	text_sgr(b, m, TEXT_RED);
	if (r->status)
		buf_printf(b, "%ld", r->status);
	else
		buf_puts(b, "???");
	text_sgr(b, m, TEXT_OFF);
	buf_putc(b, ' ');
	if (t->method)
		escape_text(b, t->method, strlen(t->method));
	else
		buf_putc(b, '-');
	buf_putc(b, ' ');
	if (t->url && !r->url_unknown)
		escape_text(b, t->url, strlen(t->url));
	else
		buf_putc(b, '-');

	if (r->flags & RECORD_HTTP2)
		buf_puts(b, " (an HTTP/2 connection: not read)");
	else if (!r->headers_known)
		buf_puts(b, " (headers unknown: this libcurl has no header API)");
	else if (!r->nheaders)
		buf_puts(b, " (no challenge)");
	if (!r->final)
		buf_printf(b, " (response %d of the transfer, not the last)", r->request);
	if (t->result == RECORD_RESULT_UNKNOWN)
		buf_puts(b, " (removed from its multi handle before its result was read)");
	else if (t->result)
		buf_printf(b, " (transfer failed: CURLcode %d)", t->result);

	/* The flags end the first line, and the challenges may cut values:
	 * they are written aside first. */
	char store[1024];
	struct buf rest;
	bool cut = false;
	buf_init(&rest, store, sizeof(store));
	if (r->headers_known && r->nheaders) {
		size_t width = text_scheme_width(r);
		for (size_t i = 0; i < r->nheaders; i++)
			text_challenges(&rest, &r->headers[i], width, m, &cut);
		for (size_t i = 0; m->raw && i < r->nheaders; i++) {
			const struct record_header *h = &r->headers[i];
			size_t n = escape_cut_len((const unsigned char *)h->value, h->value_len,
			                          m->value_cap, header_latin1(h));
			cut |= n < h->value_len;
			buf_puts(&rest, "  > ");
			escape_text(&rest, h->name, h->name_len);
			buf_puts(&rest, ": ");
			escape_text(&rest, h->value, n);
			buf_putc(&rest, '\n');
		}
	}
	if (cut)
		flags |= RECORD_TRUNCATED;
	if (flags) {
		buf_puts(b, " [");
		put_flags(b, flags, false);
		buf_putc(b, ']');
	}
	buf_putc(b, '\n');
	if (buf_failed(&rest))
		buf_fail(b);
	else
		buf_put(b, rest.p, rest.len);
	buf_free(&rest);
}
