/* Fuzz target: the record writers (format_response_json and format_response_text in
 * preload/format_response.c).  The input becomes one record:
 *
 *   byte 0     record flags in bits 0-4; bit 5: not the final response;
 *              bit 6: headers unknown (no header API); bit 7: multi api
 *   byte 1     value_cap: 0 none, 1-127 that many bytes, 128-255 (n-127)*64
 *   byte 2     status (one of a few, by n % 8) and request (n / 8)
 *   byte 3     result: 0xff unknown (removed from its multi handle), else n
 *   byte 4     bit 0: method unknown (NULL); bit 1: url unknown (NULL)
 *   the rest   method RS url RS name RS value RS name RS value ...
 *
 * where RS is the byte 0x1e; method and url end at a NUL as C strings do,
 * names and values are any bytes.  The JSON record must be one line that
 * jansson parses strictly (no duplicate names) and that gives every input
 * byte back (a header is a prefix of the input when value_cap cut it, and
 * then the record says "truncated"); the text record must be lines of
 * valid UTF-8 (the first "authtap[", the others indented by two spaces)
 * with no control byte, DEL, C1 control, bidi or invisible character but
 * the newlines; with the raw header lines too (AUTHTAP_RAW) or not. */
#include <jansson.h>
#include <stdbool.h>
#include <string.h>

#include "challenge.h"
#include "fuzz.h"
#include "escape.h"
#include "format.h"

const char *fuzz_input_name;

#define FUZZ_LOG_MAX_HEADERS 64
#define FUZZ_LOG_RS 0x1e

static const char *const flag_names[] = {
    "no_challenge", "incomplete", "truncated", "status_inferred", "connect",
};

static const long statuses[] = {401, 407, 403, 0, 200, 302, 999, -1};

struct input {
	const char *p;
	size_t len, at;
};

/* The next field, up to RS or the end; false when there is none. */
static bool next_field(struct input *in, const char **p, size_t *len)
{
	if (in->at > in->len)
		return false;
	const char *start = in->p + in->at;
	const char *rs = memchr(start, FUZZ_LOG_RS, in->len - in->at);
	*p = start;
	*len = rs ? (size_t)(rs - start) : in->len - in->at;
	in->at += *len + 1;
	return true;
}

static char *cstr(const char *p, size_t len)
{
	char *s = malloc(len + 1);
	FUZZ_CHECK(s);
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

/* The bytes a JSON string stands for: as they are, or, when latin1, each
 * code point U+0000..U+00FF taken back to one byte.  Returns false when a
 * latin1 string holds a code point above U+00FF.  *out is malloc'ed. */
static bool decode(json_t *s, bool latin1, char **out, size_t *out_len)
{
	FUZZ_CHECK(json_is_string(s));
	const unsigned char *p = (const unsigned char *)json_string_value(s);
	size_t n = json_string_length(s), j = 0;
	char *o = malloc(n + 1);

	FUZZ_CHECK(o);
	for (size_t i = 0; i < n; j++) {
		if (!latin1 || p[i] < 0x80) {
			o[j] = (char)p[i++];
		} else if ((p[i] == 0xc2 || p[i] == 0xc3) && i + 1 < n) {
			o[j] = (char)(((p[i] & 0x1fu) << 6) | (p[i + 1] & 0x3fu));
			i += 2;
		} else {
			free(o);
			return false;
		}
	}
	*out = o;
	*out_len = j;
	return true;
}

static bool is_latin1(json_t *obj, const char *key)
{
	const char *enc = json_string_value(json_object_get(obj, key));

	if (!enc)
		return false;
	FUZZ_CHECK(strcmp(enc, "latin1") == 0);
	return true;
}

/* obj[key] gives back exactly want (a NULL want: JSON null). */
static void check_str(json_t *obj, const char *key, const char *enc_key, const char *want)
{
	json_t *v = json_object_get(obj, key);
	char *got;
	size_t len;

	if (!want) {
		FUZZ_CHECK(json_is_null(v));
		return;
	}
	FUZZ_CHECK(decode(v, is_latin1(obj, enc_key), &got, &len));
	FUZZ_CHECK(len == strlen(want) && memcmp(got, want, len) == 0);
	free(got);
}

static bool has_flag(json_t *root, const char *name)
{
	json_t *flags = json_object_get(root, "flags"), *f;
	size_t i;

	json_array_foreach(flags, i, f) if (strcmp(json_string_value(f), name) == 0) return true;
	return false;
}

static size_t count_challenges(const struct record_header *h, bool *malformed, size_t *at)
{
	struct challenge_cursor c;
	struct challenge ch;
	size_t n = 0;

	challenge_start(&c, h->value, h->value_len);
	while (challenge_next(&c, &ch))
		n++;
	*malformed = c.malformed;
	*at = c.malformed_at;
	return n;
}

static void check_json(const struct record *r, const struct log_meta *m)
{
	struct buf b = {0};
	json_error_t err;

	format_response_json(&b, r, m);
	FUZZ_CHECK(!buf_failed(&b));
	FUZZ_CHECK(b.len > 0 && b.p[b.len - 1] == '\n');
	FUZZ_CHECK(memchr(b.p, '\n', b.len - 1) == NULL);
	json_t *root = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (!root)
		fprintf(stderr, "%s at column %d of %.*s", err.text, err.column, (int)b.len, b.p);
	FUZZ_CHECK(root && json_is_object(root));

	FUZZ_CHECK(json_integer_value(json_object_get(root, "v")) == 1);
	FUZZ_CHECK(json_integer_value(json_object_get(root, "status")) == r->status);
	FUZZ_CHECK(json_integer_value(json_object_get(root, "request")) == r->request);
	FUZZ_CHECK(json_is_boolean(json_object_get(root, "final")));
	FUZZ_CHECK(json_is_true(json_object_get(root, "final")) == r->final);
	if (r->transfer->result == RECORD_RESULT_UNKNOWN)
		FUZZ_CHECK(json_is_null(json_object_get(root, "result")));
	else
		FUZZ_CHECK(json_integer_value(json_object_get(root, "result")) ==
		           r->transfer->result);
	check_str(root, "method", "method_encoding", r->transfer->method);
	check_str(root, "url", "url_encoding", r->transfer->url);

	json_t *flags = json_object_get(root, "flags"), *f;
	size_t i;
	FUZZ_CHECK(json_is_array(flags));
	json_array_foreach(flags, i, f)
	{
		FUZZ_CHECK(json_is_string(f));
		size_t k = 0;
		while (k < 5 && strcmp(json_string_value(f), flag_names[k]) != 0)
			k++;
		FUZZ_CHECK(k < 5);
	}
	for (size_t k = 0; k < 5; k++)
		if (r->flags & (1u << k))
			FUZZ_CHECK(has_flag(root, flag_names[k]));

	json_t *headers = json_object_get(root, "headers");
	json_t *challenges = json_object_get(root, "challenges");
	if (!r->headers_known) {
		FUZZ_CHECK(json_is_null(headers) && json_is_null(challenges));
		goto out;
	}
	FUZZ_CHECK(json_is_array(headers) && json_array_size(headers) == r->nheaders);
	size_t want_challenges = 0;
	for (i = 0; i < r->nheaders; i++) {
		const struct record_header *h = &r->headers[i];
		json_t *o = json_array_get(headers, i);
		bool latin1 = is_latin1(o, "encoding");
		char *got;
		size_t len;

		FUZZ_CHECK(decode(json_object_get(o, "name"), latin1, &got, &len));
		FUZZ_CHECK(len == h->name_len && memcmp(got, h->name, len) == 0);
		free(got);
		FUZZ_CHECK(decode(json_object_get(o, "value"), latin1, &got, &len));
		FUZZ_CHECK(len <= h->value_len && memcmp(got, h->value, len) == 0);
		if (len < h->value_len) {
			FUZZ_CHECK(m->value_cap && len <= m->value_cap);
			FUZZ_CHECK(has_flag(root, "truncated"));
		}
		free(got);

		bool malformed;
		size_t at;
		want_challenges += count_challenges(h, &malformed, &at);
		json_t *ma = json_object_get(o, "malformed_at");
		FUZZ_CHECK(malformed == (ma != NULL));
		if (malformed)
			FUZZ_CHECK(json_integer_value(ma) == (json_int_t)at);
	}
	FUZZ_CHECK(json_is_array(challenges) && json_array_size(challenges) == want_challenges);
	json_t *c;
	json_array_foreach(challenges, i, c)
	{
		FUZZ_CHECK(json_is_string(json_object_get(c, "scheme")));
		json_t *t68 = json_object_get(c, "token68"), *params = json_object_get(c, "params");
		FUZZ_CHECK((t68 != NULL) != (params != NULL));
		FUZZ_CHECK(!t68 || json_is_string(t68));
		FUZZ_CHECK(!params || json_is_object(params));
	}
out:
	json_decref(root);
	buf_free(&b);
}

/* One code point of valid UTF-8 at p; its length, or 0. */
static size_t utf8_one(const unsigned char *p, size_t n, unsigned *cp)
{
	size_t len;
	unsigned min;

	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	} else if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2, min = 0x80, *cp = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3, min = 0x800, *cp = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4, min = 0x10000, *cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (p[k] & 0x3f);
	}
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff))
		return 0;
	return len;
}

static void check_text(const struct record *r, const struct log_meta *m)
{
	struct buf b = {0};

	format_response_text(&b, r, m);
	FUZZ_CHECK(!buf_failed(&b));
	FUZZ_CHECK(b.len > 0 && b.p[b.len - 1] == '\n');
	FUZZ_CHECK(b.len >= 8 && memcmp(b.p, "authtap[", 8) == 0);
	const unsigned char *p = (const unsigned char *)b.p;
	for (size_t i = 0; i + 1 < b.len;) {
		unsigned cp;
		size_t n = utf8_one(p + i, b.len - 1 - i, &cp);
		if (!n)
			fprintf(stderr, "not UTF-8 at %zu of %.*s", i, (int)b.len, b.p);
		FUZZ_CHECK(n > 0);
		/* Lines: the first is the record's, every other is indented. */
		if (cp == '\n') {
			FUZZ_CHECK(i + 3 <= b.len && p[i + 1] == ' ' && p[i + 2] == ' ');
			i++;
			continue;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || escape_hidden(cp))
			fprintf(stderr, "control U+%04X at %zu of %.*s", cp, i, (int)b.len, b.p);
		FUZZ_CHECK(cp >= 0x20 && !(cp >= 0x7f && cp < 0xa0) && !escape_hidden(cp));
		i += n;
	}
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;

	uint8_t opts = data[0], cap = data[1], st = data[2], res = data[3], nulls = data[4];
	struct input in = {(const char *)data + 5, size - 5, 0};
	const char *p;
	size_t len;

	char *method = next_field(&in, &p, &len) ? cstr(p, len) : cstr("", 0);
	char *url = next_field(&in, &p, &len) ? cstr(p, len) : cstr("", 0);
	struct record_header headers[FUZZ_LOG_MAX_HEADERS];
	size_t n = 0;
	while (n < FUZZ_LOG_MAX_HEADERS && next_field(&in, &p, &len)) {
		/* Exact-size copies: a read past a name or value is a report. */
		char *name = malloc(len ? len : 1);
		FUZZ_CHECK(name);
		memcpy(name, p, len);
		headers[n].name = name;
		headers[n].name_len = len;
		if (next_field(&in, &p, &len)) {
			char *value = malloc(len ? len : 1);
			FUZZ_CHECK(value);
			memcpy(value, p, len);
			headers[n].value = value;
			headers[n].value_len = len;
		} else {
			headers[n].value = malloc(1);
			headers[n].value_len = 0;
		}
		n++;
	}

	struct record_transfer t = {
	    .handle = (const void *)(uintptr_t)0x5a5a1000,
	    .api = (opts & 0x80) ? RECORD_API_MULTI : RECORD_API_EASY,
	    .method = (nulls & 1) ? NULL : method,
	    .url = (nulls & 2) ? NULL : url,
	    .result = res == 0xff ? RECORD_RESULT_UNKNOWN : res,
	};
	struct record r = {
	    .transfer = &t,
	    .status = statuses[st % 8],
	    .final = !(opts & 0x20),
	    .request = st / 8,
	    .flags = opts & 0x1f,
	    .headers_known = !(opts & 0x40),
	    .nheaders = (opts & 0x40) ? 0 : n,
	    .headers = headers,
	};
	struct log_meta m = {
	    .ts = {1795696496, 789654321},
	    .pid = 4242,
	    .tid = 4243,
	    .value_cap = cap < 128 ? cap : (size_t)(cap - 127) * 64,
	};

	check_json(&r, &m);
	check_text(&r, &m);
	m.raw = true;
	check_text(&r, &m);

	for (size_t i = 0; i < n; i++) {
		free((void *)headers[i].name);
		free((void *)headers[i].value);
	}
	free(method);
	free(url);
	return 0;
}
