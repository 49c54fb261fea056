/* Unit tests for the record writers in preload/format_response.c and format_verdict.c.  Every JSON
 * record is parsed back with jansson (which rejects invalid UTF-8 and, with JSON_REJECT_DUPLICATES,
 * a name given twice) and compared with what went in, byte for byte.  JSON_ALLOW_NUL is needed
 * because a NUL in a header is written, correctly, as \u0000.  Every text record is checked to be
 * one line that is safe on a terminal. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "escape.h"
#include "format.h"
#include "verdict.h"

#define HDR(n, v)                                                                                  \
	{                                                                                          \
		(n), sizeof(n) - 1, (v), sizeof(v) - 1                                             \
	}
#define WWW(v) HDR("WWW-Authenticate", v)
#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

#define MCP_VALUE                                                                                  \
	"Bearer realm=\"mcp\", "                                                                   \
	"resource_metadata=\"http://x/.well-known/oauth-protected-resource\", scope=\"mcp:tools\""

static const struct record_transfer xfer = {
    .handle = (const void *)(uintptr_t)0x5a5a1000,
    .api = RECORD_API_EASY,
    .method = "GET",
    .url = "http://example.test/mcp",
    .result = 0,
};

/* 2026-11-26T12:34:56.789Z */
static const struct log_meta meta = {
    .ts = {1795696496, 789654321},
    .pid = 4242,
    .tid = 4243,
    .raw = true, /* text: the header lines too */
};

static struct record record_of(const struct record_header *h, size_t n)
{
	return (struct record){
	    .transfer = &xfer,
	    .status = 401,
	    .final = true,
	    .headers_known = true,
	    .nheaders = n,
	    .headers = h,
	};
}

/* One record is one line: a single "\n", at the end. */
static bool one_line(const char *p, size_t len)
{
	return len > 0 && p[len - 1] == '\n' && memchr(p, '\n', len - 1) == NULL;
}

/* Formats r as JSON and parses it back; NULL (after a failed expectation)
 * when the output is not one line of valid JSON. */
static json_t *json_of(const struct record *r, const struct log_meta *m, const char *what)
{
	struct buf b = {0};
	json_error_t err;
	json_t *root = NULL;

	format_response_json(&b, r, m);
	cr_expect(!buf_failed(&b), "%s: buffer failed", what);
	if (!one_line(b.p, b.len)) {
		cr_expect_fail("%s: not one line: %.*s", what, (int)(b.len < 2000 ? b.len : 2000),
		               b.p);
		goto out;
	}
	root = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	if (!root) {
		cr_expect_fail("%s: %s at column %d in %.*s", what, err.text, err.column,
		               (int)(b.len < 2000 ? b.len : 2000), b.p);
		goto out;
	}
	if (!json_is_object(root)) {
		cr_expect_fail("%s: not an object", what);
		json_decref(root);
		root = NULL;
	}
out:
	buf_free(&b);
	return root;
}

/* A text record: a first line "authtap[...", then lines indented by two
 * spaces, each ended. */
static bool text_lines(const char *p, size_t len)
{
	if (len < 8 || strncmp(p, "authtap[", 8) != 0 || p[len - 1] != '\n')
		return false;
	for (const char *nl = memchr(p, '\n', len); nl + 1 < p + len;
	     nl = memchr(nl + 1, '\n', (size_t)(p + len - nl - 1)))
		if (nl[1] != ' ' || nl[2] != ' ')
			return false;
	return true;
}

/* Formats r as text; the result is NUL-terminated (the writer escapes
 * NULs, which the terminal check below also verifies). */
static char *text_of(const struct record *r, const struct log_meta *m, const char *what)
{
	struct buf b = {0};

	format_response_text(&b, r, m);
	cr_assert(!buf_failed(&b), "%s: buffer failed", what);
	cr_expect(text_lines(b.p, b.len), "%s: not a text record: %.*s", what, (int)b.len, b.p);
	for (size_t i = 0; i + 1 < b.len; i++) {
		unsigned char c = (unsigned char)b.p[i];
		if ((c < 0x20 && c != '\n') || c == 0x7f) {
			cr_expect_fail("%s: byte 0x%02x at %zu of the text record", what, c, i);
			break;
		}
	}
	buf_putc(&b, '\0');
	cr_assert(!buf_failed(&b));
	return b.p;
}

/* The bytes a JSON string stands for: as they are, or, in an object that
 * says "encoding":"latin1", each code point U+0000..U+00FF taken back to
 * one byte. */
static bool field_is(json_t *obj, const char *key, const char *want, size_t want_len)
{
	json_t *s = json_object_get(obj, key);
	const char *enc = json_string_value(json_object_get(obj, "encoding"));
	bool latin1 = enc && strcmp(enc, "latin1") == 0;

	if (!json_is_string(s))
		return false;
	const unsigned char *p = (const unsigned char *)json_string_value(s);
	size_t n = json_string_length(s), j = 0;
	for (size_t i = 0; i < n; j++) {
		unsigned c;
		if (!latin1 || p[i] < 0x80) {
			c = p[i++];
		} else if ((p[i] == 0xc2 || p[i] == 0xc3) && i + 1 < n) {
			c = ((p[i] & 0x1fu) << 6) | (p[i + 1] & 0x3fu);
			i += 2;
		} else {
			return false; /* above U+00FF: not latin1 */
		}
		if (j >= want_len || (unsigned char)want[j] != c)
			return false;
	}
	return j == want_len;
}

static bool has_encoding(json_t *obj)
{
	const char *enc = json_string_value(json_object_get(obj, "encoding"));

	return enc && strcmp(enc, "latin1") == 0;
}

static bool has_flag(json_t *root, const char *name)
{
	json_t *flags = json_object_get(root, "flags");
	size_t i;
	json_t *f;

	json_array_foreach(flags, i, f) if (json_is_string(f) &&
	                                    strcmp(json_string_value(f), name) == 0) return true;
	return false;
}

static json_t *header_at(json_t *root, size_t i)
{
	return json_array_get(json_object_get(root, "headers"), i);
}

static json_t *challenge_at(json_t *root, size_t i)
{
	return json_array_get(json_object_get(root, "challenges"), i);
}

static const char *str_at(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* Compares j with the JSON text want, printing both when they differ. */
static void expect_json(json_t *j, const char *want, const char *what)
{
	json_error_t err;
	json_t *w = json_loads(want, 0, &err);

	cr_assert_not_null(w, "%s: bad expectation: %s", what, err.text);
	if (!json_equal(j, w)) {
		char *got = j ? json_dumps(j, JSON_COMPACT) : NULL;
		cr_expect_fail("%s:\n  got  %s\n  want %s", what, got ? got : "(nothing)", want);
		free(got);
	}
	json_decref(w);
}

Test(log_json, fields)
{
	static const struct record_header h[] = {WWW(MCP_VALUE)};
	struct record r = record_of(h, 1);
	json_t *root = json_of(&r, &meta, "fields");

	cr_assert_not_null(root);
	cr_expect_eq(json_integer_value(json_object_get(root, "v")), 1);
	cr_expect_str_eq(str_at(root, "type"), "response");
	cr_expect_str_eq(str_at(root, "ts"), "2026-11-26T12:34:56.789Z");
	cr_expect_eq(json_integer_value(json_object_get(root, "pid")), 4242);
	cr_expect_eq(json_integer_value(json_object_get(root, "tid")), 4243);
	const char *handle = str_at(root, "handle");
	cr_assert_not_null(handle);
	cr_expect(strncmp(handle, "0x", 2) == 0, "handle \"%s\"", handle);
	cr_expect_eq(strtoull(handle, NULL, 16), 0x5a5a1000ull, "handle \"%s\"", handle);
	cr_expect_str_eq(str_at(root, "api"), "easy");
	cr_expect_str_eq(str_at(root, "method"), "GET");
	cr_expect_str_eq(str_at(root, "url"), "http://example.test/mcp");
	cr_expect(json_is_integer(json_object_get(root, "result")));
	cr_expect_eq(json_integer_value(json_object_get(root, "result")), 0);
	cr_expect_eq(json_integer_value(json_object_get(root, "status")), 401);
	cr_expect(json_is_true(json_object_get(root, "final")));
	cr_expect_eq(json_integer_value(json_object_get(root, "request")), 0);
	expect_json(json_object_get(root, "headers"),
	            "[{\"name\":\"WWW-Authenticate\",\"value\":"
	            "\"Bearer realm=\\\"mcp\\\", resource_metadata="
	            "\\\"http://x/.well-known/oauth-protected-resource\\\", "
	            "scope=\\\"mcp:tools\\\"\"}]",
	            "headers");
	expect_json(json_object_get(root, "challenges"),
	            "[{\"scheme\":\"Bearer\",\"params\":{\"realm\":\"mcp\","
	            "\"resource_metadata\":\"http://x/.well-known/oauth-protected-resource\","
	            "\"scope\":\"mcp:tools\"}}]",
	            "challenges");
	expect_json(json_object_get(root, "flags"), "[]", "flags");
	json_decref(root);
}

Test(log_json, other_fields)
{
	static const struct record_header h[] = {HDR("Proxy-Authenticate", "Basic realm=\"p\"")};
	struct record_transfer t = {
	    .handle = (const void *)(uintptr_t)0xdeadbee0,
	    .api = RECORD_API_MULTI,
	    .method = NULL,
	    .url = NULL,
	    .result = 56,
	};
	struct record r = {
	    .transfer = &t,
	    .status = 407,
	    .final = false,
	    .request = 2,
	    .headers_known = true,
	    .nheaders = 1,
	    .headers = h,
	};
	json_t *root = json_of(&r, &meta, "other fields");

	cr_assert_not_null(root);
	cr_expect_str_eq(str_at(root, "api"), "multi");
	cr_expect(json_is_null(json_object_get(root, "method")));
	cr_expect(json_is_null(json_object_get(root, "url")));
	cr_expect_eq(json_integer_value(json_object_get(root, "result")), 56);
	cr_expect_eq(json_integer_value(json_object_get(root, "status")), 407);
	cr_expect(json_is_false(json_object_get(root, "final")));
	cr_expect_eq(json_integer_value(json_object_get(root, "request")), 2);
	cr_expect_eq(strtoull(str_at(root, "handle"), NULL, 16), 0xdeadbee0ull);
	cr_expect_str_eq(str_at(header_at(root, 0), "name"), "Proxy-Authenticate");
	cr_expect_str_eq(str_at(challenge_at(root, 0), "scheme"), "Basic");
	json_decref(root);
}

struct ts_case {
	time_t sec;
	long nsec;
	const char *want;
};

static const struct ts_case ts_cases[] = {
    {1795696496, 789654321, "2026-11-26T12:34:56.789Z"},
    {1795696496, 999999999, "2026-11-26T12:34:56.999Z"},
    {1795696496, 1000000, "2026-11-26T12:34:56.001Z"},
    {0, 0, "1970-01-01T00:00:00.000Z"},
    {951782400, 0, "2000-02-29T00:00:00.000Z"},
};

Test(log_json, ts)
{
	static const struct record_header h[] = {WWW("Basic")};
	struct record r = record_of(h, 1);

	for (size_t i = 0; i < NELEM(ts_cases); i++) {
		struct log_meta m = meta;
		m.ts.tv_sec = ts_cases[i].sec;
		m.ts.tv_nsec = ts_cases[i].nsec;
		json_t *root = json_of(&r, &m, ts_cases[i].want);
		if (!root)
			continue;
		const char *ts = str_at(root, "ts");
		cr_expect(ts && strcmp(ts, ts_cases[i].want) == 0, "ts \"%s\", want \"%s\"",
		          ts ? ts : "(null)", ts_cases[i].want);
		json_decref(root);
	}
}

Test(log_json, headers_unknown)
{
	struct record r = record_of(NULL, 0);
	json_t *root;

	r.headers_known = false;
	root = json_of(&r, &meta, "headers unknown");
	cr_assert_not_null(root);
	cr_expect(json_is_null(json_object_get(root, "headers")));
	cr_expect(json_is_null(json_object_get(root, "challenges")));
	json_decref(root);

	r.headers_known = true;
	r.flags = RECORD_NO_CHALLENGE;
	root = json_of(&r, &meta, "no headers");
	cr_assert_not_null(root);
	expect_json(json_object_get(root, "headers"), "[]", "no headers: headers");
	expect_json(json_object_get(root, "challenges"), "[]", "no headers: challenges");
	expect_json(json_object_get(root, "flags"), "[\"no_challenge\"]", "no headers: flags");
	json_decref(root);
}

struct flags_case {
	unsigned flags;
	const char *want;
};

static const struct flags_case flags_cases[] = {
    {0, "[]"},
    {RECORD_NO_CHALLENGE, "[\"no_challenge\"]"},
    {RECORD_INCOMPLETE, "[\"incomplete\"]"},
    {RECORD_TRUNCATED, "[\"truncated\"]"},
    {RECORD_STATUS_INFERRED, "[\"status_inferred\"]"},
    {RECORD_CONNECT, "[\"connect\"]"},
    {RECORD_INCOMPLETE | RECORD_CONNECT, "[\"incomplete\",\"connect\"]"},
    {RECORD_NO_CHALLENGE | RECORD_INCOMPLETE | RECORD_TRUNCATED | RECORD_STATUS_INFERRED |
         RECORD_CONNECT,
     "[\"no_challenge\",\"incomplete\",\"truncated\",\"status_inferred\",\"connect\"]"},
};

Test(log_json, flags)
{
	static const struct record_header h[] = {WWW("Basic realm=\"x\"")};

	for (size_t i = 0; i < NELEM(flags_cases); i++) {
		struct record r = record_of(h, 1);
		char what[64];

		r.flags = flags_cases[i].flags;
		snprintf(what, sizeof(what), "flags 0x%x", r.flags);
		json_t *root = json_of(&r, &meta, what);
		if (!root)
			continue;
		expect_json(json_object_get(root, "flags"), flags_cases[i].want, what);
		json_decref(root);
	}
}

#define MAX_HDRS 3
#define NONE (-1L)

struct challenge_case {
	const char *name;
	struct record_header h[MAX_HDRS];
	size_t n;
	const char *want; /* the "challenges" array */
	long malformed_at[MAX_HDRS];
};

static const struct challenge_case challenge_cases[] = {
    {"mcp bearer",
     {WWW(MCP_VALUE)},
     1,
     "[{\"scheme\":\"Bearer\",\"params\":{\"realm\":\"mcp\","
     "\"resource_metadata\":\"http://x/.well-known/oauth-protected-resource\","
     "\"scope\":\"mcp:tools\"}}]",
     {NONE}},
    {"token68",
     {WWW("Negotiate abc==")},
     1,
     "[{\"scheme\":\"Negotiate\",\"token68\":\"abc==\"}]",
     {NONE}},
    {"bare scheme", {WWW("Negotiate")}, 1, "[{\"scheme\":\"Negotiate\",\"params\":{}}]", {NONE}},
    {"scheme as sent",
     {WWW("bAsIc realm=x")},
     1,
     "[{\"scheme\":\"bAsIc\",\"params\":{\"realm\":\"x\"}}]",
     {NONE}},
    {"two in one value",
     {WWW("Basic realm=\"a\", Bearer error=\"invalid_token\", "
          "error_description=\"expired\"")},
     1,
     "[{\"scheme\":\"Basic\",\"params\":{\"realm\":\"a\"}},"
     "{\"scheme\":\"Bearer\",\"params\":{\"error\":\"invalid_token\","
     "\"error_description\":\"expired\"}}]",
     {NONE}},
    {"across headers, in header order",
     {WWW("Bearer realm=\"first\""), WWW("Negotiate, NTLM"),
      HDR("Proxy-Authenticate", "Basic realm=\"third\", charset=\"UTF-8\"")},
     3,
     "[{\"scheme\":\"Bearer\",\"params\":{\"realm\":\"first\"}},"
     "{\"scheme\":\"Negotiate\",\"params\":{}},{\"scheme\":\"NTLM\",\"params\":{}},"
     "{\"scheme\":\"Basic\",\"params\":{\"realm\":\"third\",\"charset\":\"UTF-8\"}}]",
     {NONE, NONE, NONE}},
    {"names lower-cased",
     {WWW("Basic Realm=x, CHARSET=\"UTF-8\"")},
     1,
     "[{\"scheme\":\"Basic\",\"params\":{\"realm\":\"x\",\"charset\":\"UTF-8\"}}]",
     {NONE}},
    {"repeated names",
     {WWW("Bearer scope=\"a\", Scope=\"b\", realm=r, SCOPE=c")},
     1,
     "[{\"scheme\":\"Bearer\",\"params\":{\"scope\":\"a\",\"realm\":\"r\"},"
     "\"repeated\":[{\"name\":\"scope\",\"value\":\"b\"},"
     "{\"name\":\"scope\",\"value\":\"c\"}]}]",
     {NONE}},
    {"quoted-pair undone",
     {WWW("Newauth realm=\"apps\", title=\"Login to \\\"apps\\\"\"")},
     1,
     "[{\"scheme\":\"Newauth\",\"params\":{\"realm\":\"apps\","
     "\"title\":\"Login to \\\"apps\\\"\"}}]",
     {NONE}},
    {"unterminated quote",
     {WWW("Bearer realm=\"unterminated")},
     1,
     "[{\"scheme\":\"Bearer\",\"params\":{}}]",
     {26}},
    {"junk after a param, then a good header",
     {WWW("Basic realm=\"x\" charset=y"), WWW("Bearer realm=\"y\"")},
     2,
     "[{\"scheme\":\"Basic\",\"params\":{\"realm\":\"x\"}},"
     "{\"scheme\":\"Bearer\",\"params\":{\"realm\":\"y\"}}]",
     {16, NONE}},
    {"empty value", {WWW("")}, 1, "[]", {NONE}},
};

Test(log_json, challenges)
{
	for (size_t i = 0; i < NELEM(challenge_cases); i++) {
		const struct challenge_case *c = &challenge_cases[i];
		struct record r = record_of(c->h, c->n);
		json_t *root = json_of(&r, &meta, c->name);

		if (!root)
			continue;
		expect_json(json_object_get(root, "challenges"), c->want, c->name);
		cr_expect_eq(json_array_size(json_object_get(root, "headers")), c->n, "%s: headers",
		             c->name);
		for (size_t k = 0; k < c->n; k++) {
			json_t *h = header_at(root, k);
			json_t *at = json_object_get(h, "malformed_at");
			cr_expect(field_is(h, "name", c->h[k].name, c->h[k].name_len),
			          "%s: header %zu name", c->name, k);
			cr_expect(field_is(h, "value", c->h[k].value, c->h[k].value_len),
			          "%s: header %zu value", c->name, k);
			if (c->malformed_at[k] == NONE)
				cr_expect_null(at, "%s: header %zu has malformed_at", c->name, k);
			else
				cr_expect(json_is_integer(at) &&
				              json_integer_value(at) == c->malformed_at[k],
				          "%s: header %zu malformed_at %lld, want %ld", c->name, k,
				          (long long)json_integer_value(at), c->malformed_at[k]);
		}
		json_decref(root);
	}
}

/* qdtext and obs-text: the bytes that may stand alone inside quotes. */
static bool is_qdtext(unsigned c)
{
	return c == '\t' || (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f);
}

/* Every byte value inside a header value: 'Basic realm="a' B 'b"'. */
Test(log_json, every_byte_in_value)
{
	for (unsigned b = 0; b < 256; b++) {
		char v[] = "Basic realm=\"a?b\"";
		char what[32];

		v[14] = (char)b;
		snprintf(what, sizeof(what), "byte 0x%02x", b);
		struct record_header h = {"WWW-Authenticate", 16, v, sizeof(v) - 1};
		struct record r = record_of(&h, 1);
		json_t *root = json_of(&r, &meta, what);
		if (!root)
			continue;
		json_t *jh = header_at(root, 0);
		cr_expect(field_is(jh, "value", v, sizeof(v) - 1), "%s: value", what);
		cr_expect(field_is(jh, "name", "WWW-Authenticate", 16), "%s: name", what);
		cr_expect_eq(has_encoding(jh), b >= 0x80, "%s: encoding", what);
		if (is_qdtext(b)) {
			json_t *ch = challenge_at(root, 0);
			json_t *params = json_object_get(ch, "params");
			/* The challenge object says its own encoding. */
			json_t *realm = json_object();
			json_object_set(realm, "realm", json_object_get(params, "realm"));
			if (has_encoding(ch))
				json_object_set_new(realm, "encoding", json_string("latin1"));
			cr_expect(field_is(realm, "realm", v + 13, 3), "%s: realm", what);
			cr_expect_eq(has_encoding(ch), b >= 0x80, "%s: challenge encoding", what);
			json_decref(realm);
		}
		json_decref(root);
	}
}

Test(log_json, every_byte_in_name)
{
	for (unsigned b = 0; b < 256; b++) {
		char name[] = "X-?-Auth";
		char what[32];

		name[2] = (char)b;
		snprintf(what, sizeof(what), "name byte 0x%02x", b);
		struct record_header h = {name, sizeof(name) - 1, "Basic", 5};
		struct record r = record_of(&h, 1);
		json_t *root = json_of(&r, &meta, what);
		if (!root)
			continue;
		json_t *jh = header_at(root, 0);
		cr_expect(field_is(jh, "name", name, sizeof(name) - 1), "%s: name", what);
		cr_expect(field_is(jh, "value", "Basic", 5), "%s: value", what);
		cr_expect_eq(has_encoding(jh), b >= 0x80, "%s: encoding", what);
		json_decref(root);
	}
}

Test(log_json, all_bytes_in_one)
{
	char all[256];
	struct record_header h[2];

	for (unsigned b = 0; b < 256; b++)
		all[b] = (char)b;
	h[0] = (struct record_header){"WWW-Authenticate", 16, all, sizeof(all)};
	h[1] = (struct record_header){all, sizeof(all), "Basic realm=x", 13};
	struct record r = record_of(h, 2);
	json_t *root = json_of(&r, &meta, "all bytes");

	cr_assert_not_null(root);
	cr_expect(has_encoding(header_at(root, 0)));
	cr_expect(field_is(header_at(root, 0), "value", all, sizeof(all)), "all bytes: value");
	cr_expect(has_encoding(header_at(root, 1)));
	cr_expect(field_is(header_at(root, 1), "name", all, sizeof(all)), "all bytes: name");
	cr_expect(field_is(header_at(root, 1), "value", "Basic realm=x", 13),
	          "all bytes: other field of a latin1 header");
	json_decref(root);
}

struct utf8_case {
	const char *name;
	const char *bytes;
	bool valid;
};

static const struct utf8_case utf8_cases[] = {
    {"U+0080", "\xc2\x80", true},
    {"e acute", "\xc3\xa9", true},
    {"U+07FF", "\xdf\xbf", true},
    {"U+0800", "\xe0\xa0\x80", true},
    {"euro", "\xe2\x82\xac", true},
    {"U+D7FF", "\xed\x9f\xbf", true},
    {"U+E000", "\xee\x80\x80", true},
    {"U+FFFF", "\xef\xbf\xbf", true},
    {"U+10000", "\xf0\x90\x80\x80", true},
    {"emoji", "\xf0\x9f\x98\x80", true},
    {"U+10FFFF", "\xf4\x8f\xbf\xbf", true},
    {"mixed", "caf\xc3\xa9 \xe2\x82\xac", true},
    {"overlong NUL", "\xc0\x80", false},
    {"overlong 2", "\xc1\xbf", false},
    {"overlong 3", "\xe0\x80\x80", false},
    {"overlong U+07FF", "\xe0\x9f\xbf", false},
    {"overlong 4", "\xf0\x8f\xbf\xbf", false},
    {"surrogate D800", "\xed\xa0\x80", false},
    {"surrogate DFFF", "\xed\xbf\xbf", false},
    {"above U+10FFFF", "\xf4\x90\x80\x80", false},
    {"F5 lead", "\xf5\x80\x80\x80", false},
    {"five bytes", "\xf8\x88\x80\x80\x80", false},
    {"FF", "\xff", false},
    {"lone continuation", "\x80", false},
    {"truncated euro", "\xe2\x82", false},
    {"lead at end", "ok\xc3", false},
    {"lead then ASCII",
     "\xc3"
     "A",
     false},
    {"truncated emoji", "\xf0\x9f\x98", false},
    {"valid then stray", "\xc3\xa9\xa9", false},
};

Test(log_json, utf8)
{
	for (size_t i = 0; i < NELEM(utf8_cases); i++) {
		const struct utf8_case *c = &utf8_cases[i];
		char v[64];
		int n = snprintf(v, sizeof(v), "Basic realm=\"%s\"", c->bytes);
		struct record_header h = {"WWW-Authenticate", 16, v, (size_t)n};
		struct record r = record_of(&h, 1);
		json_t *root = json_of(&r, &meta, c->name);

		if (!root)
			continue;
		json_t *jh = header_at(root, 0);
		cr_expect_eq(has_encoding(jh), !c->valid, "%s: encoding", c->name);
		cr_expect(field_is(jh, "value", v, (size_t)n), "%s: value", c->name);
		if (c->valid)
			cr_expect_str_eq(str_at(jh, "value"), v, "%s: as it is", c->name);
		json_decref(root);
	}
}

/* Strange method and URL bytes still give one line of valid JSON. */
Test(log_json, odd_method_and_url)
{
	static const struct record_header h[] = {WWW("Basic")};
	struct record_transfer t = xfer;
	struct record r = record_of(h, 1);
	json_t *root;

	r.transfer = &t;
	t.method = "GE\nT\x01";
	t.url = "http://h/\xff\xfe\r\n\"x\\";
	root = json_of(&r, &meta, "odd method and url");
	cr_assert_not_null(root);
	cr_expect_str_eq(str_at(root, "method"), "GE\nT\x01");
	json_decref(root);
}

static size_t utf8_len_ok(const char *s, size_t len, size_t cap, const char *orig, const char *what)
{
	cr_expect_leq(len, cap, "%s: %zu bytes, cap %zu", what, len, cap);
	cr_expect(memcmp(s, orig, len) == 0, "%s: not a prefix", what);
	return len;
}

Test(log_json, value_cap_ascii)
{
	char v[128];
	int n = snprintf(v, sizeof(v), "Bearer realm=\"%0100d\", error=x", 0);
	struct record_header h = {"WWW-Authenticate", 16, v, (size_t)n};
	struct record r = record_of(&h, 1);
	struct log_meta m = meta;
	json_t *root;

	m.value_cap = 16;
	root = json_of(&r, &m, "ascii cap");
	cr_assert_not_null(root);
	json_t *jv = json_object_get(header_at(root, 0), "value");
	cr_expect_eq(json_string_length(jv), 16);
	utf8_len_ok(json_string_value(jv), json_string_length(jv), 16, v, "value");
	json_t *realm = json_object_get(json_object_get(challenge_at(root, 0), "params"), "realm");
	cr_expect_eq(json_string_length(realm), 16, "realm cut to 16");
	cr_expect_str_eq(str_at(json_object_get(challenge_at(root, 0), "params"), "error"), "x");
	cr_expect(has_flag(root, "truncated"));
	json_decref(root);

	/* A cap the record fits in changes nothing. */
	m.value_cap = (size_t)n;
	root = json_of(&r, &m, "cap not reached");
	cr_assert_not_null(root);
	cr_expect(field_is(header_at(root, 0), "value", v, (size_t)n));
	cr_expect(!has_flag(root, "truncated"));
	json_decref(root);

	m.value_cap = 0;
	root = json_of(&r, &m, "no cap");
	cr_assert_not_null(root);
	cr_expect(field_is(header_at(root, 0), "value", v, (size_t)n));
	cr_expect(!has_flag(root, "truncated"));
	json_decref(root);

	/* Cut, and already flagged by the capture: "truncated" once. */
	m.value_cap = 16;
	r.flags = RECORD_TRUNCATED;
	root = json_of(&r, &m, "flag once");
	cr_assert_not_null(root);
	expect_json(json_object_get(root, "flags"), "[\"truncated\"]", "flag once");
	json_decref(root);
}

/* Every cap over a value of three-byte characters: never half a character,
 * never more cut than one character needs. */
Test(log_json, value_cap_utf8)
{
	char v[128] = "Bearer realm=\"";
	size_t n = strlen(v);

	for (int i = 0; i < 20; i++, n += 3)
		memcpy(v + n, "\xe2\x82\xac", 3);
	v[n++] = '"';
	for (size_t cap = 1; cap <= 40; cap++) {
		struct record_header h = {"WWW-Authenticate", 16, v, n};
		struct record r = record_of(&h, 1);
		struct log_meta m = meta;
		char what[32];

		m.value_cap = cap;
		snprintf(what, sizeof(what), "cap %zu", cap);
		json_t *root = json_of(&r, &m, what);
		if (!root)
			continue;
		json_t *jh = header_at(root, 0);
		cr_expect(!has_encoding(jh), "%s: still UTF-8", what);
		size_t len = json_string_length(json_object_get(jh, "value"));
		utf8_len_ok(str_at(jh, "value"), len, cap, v, what);
		cr_expect_gt(len + 3, cap, "%s: cut to %zu", what, len);
		json_t *params = json_object_get(challenge_at(root, 0), "params");
		const char *realm = str_at(params, "realm");
		size_t rlen = json_string_length(json_object_get(params, "realm"));
		cr_expect(realm && rlen <= cap && rlen % 3 == 0 && rlen + 3 > cap &&
		              memcmp(realm, v + 14, rlen) == 0,
		          "%s: realm cut to %zu", what, rlen);
		cr_expect(has_flag(root, "truncated"), "%s: flagged", what);
		json_decref(root);
	}
}

/* Latin-1 values are cut by bytes: each byte is one character. */
Test(log_json, value_cap_latin1)
{
	char v[64];
	int n = snprintf(v, sizeof(v), "Basic realm=\"%s\"",
	                 "\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5\xf4\xf3\xf2\xf1\xf0");
	struct record_header h = {"WWW-Authenticate", 16, v, (size_t)n};
	struct record r = record_of(&h, 1);
	struct log_meta m = meta;

	m.value_cap = 15;
	json_t *root = json_of(&r, &m, "latin1 cap");
	cr_assert_not_null(root);
	cr_expect(has_encoding(header_at(root, 0)));
	cr_expect(field_is(header_at(root, 0), "value", v, 15));
	cr_expect(has_flag(root, "truncated"));
	json_decref(root);
}

Test(log_json, value_cap_token68)
{
	char v[128];
	int n = snprintf(v, sizeof(v), "Negotiate %s",
	                 "YIIJvwYGKwYBBQUCoIIJszCCCa+gMDAuBgkqhkiC9xIBAgIGCSqGSIb3EgECAgYKKwYB");
	struct record_header h = {"WWW-Authenticate", 16, v, (size_t)n};
	struct record r = record_of(&h, 1);
	struct log_meta m = meta;

	m.value_cap = 16;
	json_t *root = json_of(&r, &m, "token68 cap");
	cr_assert_not_null(root);
	json_t *t68 = json_object_get(challenge_at(root, 0), "token68");
	cr_expect(json_is_string(t68));
	cr_expect_leq(json_string_length(t68), 16);
	cr_expect(strncmp(json_string_value(t68), v + 10, json_string_length(t68)) == 0);
	cr_expect(has_flag(root, "truncated"));
	json_decref(root);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Formats r as JSON and parses it, timing the formatting alone. */
static json_t *json_timed(const struct record *r, const char *what, double *secs)
{
	double t0 = now();
	struct buf b = {0};
	json_error_t err;

	format_response_json(&b, r, &meta);
	*secs = now() - t0;
	cr_assert(!buf_failed(&b));
	cr_assert(one_line(b.p, b.len), "%s: one line", what);
	json_t *root = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
	cr_assert_not_null(root, "%s: %s at column %d", what, err.text, err.column);
	buf_free(&b);
	return root;
}

#define MANY_PARAMS 50000

/* A hostile value: linear work, whatever the names. */
Test(log_json, many_params, .timeout = 60)
{
	struct buf v = {0};
	double secs;

	buf_puts(&v, "Bearer p0=v0");
	for (int i = 1; i < MANY_PARAMS; i++)
		buf_printf(&v, ", P%d=\"v%d\"", i, i);
	struct record_header h = {"WWW-Authenticate", 16, v.p, v.len};
	struct record r = record_of(&h, 1);
	json_t *root = json_timed(&r, "many params", &secs);
	json_t *params = json_object_get(challenge_at(root, 0), "params");

	cr_expect_eq(json_object_size(params), MANY_PARAMS);
	cr_expect_str_eq(str_at(params, "p49999"), "v49999");
	cr_expect_null(json_object_get(challenge_at(root, 0), "repeated"));
	cr_expect_lt(secs, 2.0, "%.2f s for %d params", secs, MANY_PARAMS);
	json_decref(root);
	buf_free(&v);
}

Test(log_json, many_repeated_params, .timeout = 60)
{
	struct buf v = {0};
	double secs;

	/* Each name twice, the second time in upper case. */
	buf_puts(&v, "Bearer ");
	for (int i = 0; i < MANY_PARAMS / 2; i++)
		buf_printf(&v, "%sn%d=a%d, N%d=b%d", i ? ", " : "", i, i, i, i);
	struct record_header h = {"WWW-Authenticate", 16, v.p, v.len};
	struct record r = record_of(&h, 1);
	json_t *root = json_timed(&r, "many repeated", &secs);
	json_t *ch = challenge_at(root, 0);
	json_t *rep = json_object_get(ch, "repeated");

	cr_expect_eq(json_object_size(json_object_get(ch, "params")), MANY_PARAMS / 2);
	cr_expect_str_eq(str_at(json_object_get(ch, "params"), "n7"), "a7");
	cr_assert_eq(json_array_size(rep), MANY_PARAMS / 2);
	cr_expect_str_eq(str_at(json_array_get(rep, 7), "name"), "n7");
	cr_expect_str_eq(str_at(json_array_get(rep, 7), "value"), "b7");
	cr_expect_lt(secs, 2.0, "%.2f s", secs);
	json_decref(root);
	buf_free(&v);

	/* One name over and over. */
	v = (struct buf){0};
	buf_puts(&v, "Bearer a=0");
	for (int i = 1; i < MANY_PARAMS; i++)
		buf_printf(&v, ", A=%d", i);
	h = (struct record_header){"WWW-Authenticate", 16, v.p, v.len};
	r = record_of(&h, 1);
	root = json_timed(&r, "one name", &secs);
	ch = challenge_at(root, 0);
	expect_json(json_object_get(ch, "params"), "{\"a\":\"0\"}", "one name: params");
	rep = json_object_get(ch, "repeated");
	cr_expect_eq(json_array_size(rep), MANY_PARAMS - 1);
	cr_expect_str_eq(str_at(json_array_get(rep, MANY_PARAMS - 2), "value"), "49999");
	cr_expect_lt(secs, 2.0, "%.2f s", secs);
	json_decref(root);
	buf_free(&v);
}

#define MANY_HEADERS 500

Test(log_json, many_headers, .timeout = 60)
{
	struct record_header h[MANY_HEADERS];
	char values[MANY_HEADERS][64];
	double secs;

	for (int i = 0; i < MANY_HEADERS; i++) {
		int n = snprintf(values[i], sizeof(values[i]),
		                 "Basic realm=\"r%d\", Bearer scope=\"s%d\"", i, i);
		h[i] = (struct record_header){"WWW-Authenticate", 16, values[i], (size_t)n};
	}
	struct record r = record_of(h, MANY_HEADERS);
	json_t *root = json_timed(&r, "many headers", &secs);

	cr_expect_eq(json_array_size(json_object_get(root, "headers")), MANY_HEADERS);
	cr_assert_eq(json_array_size(json_object_get(root, "challenges")), 2 * MANY_HEADERS);
	for (int i = 0; i < MANY_HEADERS; i++) {
		char want[16];
		snprintf(want, sizeof(want), "r%d", i);
		json_t *ch = challenge_at(root, 2 * (size_t)i);
		cr_expect_str_eq(str_at(json_object_get(ch, "params"), "realm"), want);
		cr_expect_str_eq(str_at(challenge_at(root, 2 * (size_t)i + 1), "scheme"), "Bearer");
	}
	cr_expect_lt(secs, 2.0, "%.2f s", secs);
	json_decref(root);
}

/* The challenge lines of a text record: after the first line, before the
 * raw header lines ("  > "); NULL when there are none. */
static const char *parsed_of(const char *line)
{
	static char part[16384];
	const char *p = strchr(line, '\n');
	if (!p || !p[1])
		return NULL;
	const char *raw = strstr(p, "\n  > ");
	size_t n = raw ? (size_t)(raw + 1 - (p + 1)) : strlen(p + 1);
	if (n >= sizeof(part))
		n = sizeof(part) - 1;
	memcpy(part, p + 1, n);
	part[n] = '\0';
	return part;
}

Test(log_text, line)
{
	static const struct record_header h[] = {WWW(MCP_VALUE)};
	struct record r = record_of(h, 1);
	char *line = text_of(&r, &meta, "mcp");

	cr_expect(strncmp(line, "authtap[4242] 401 GET http://example.test/mcp\n", 46) == 0,
	          "line: %s", line);
	cr_expect(strstr(line, "\n  > WWW-Authenticate: " MCP_VALUE "\n"), "line: %s", line);
	const char *parsed = parsed_of(line);
	cr_assert_not_null(parsed, "line: %s", line);
	cr_expect(strstr(parsed, "Bearer"), "line: %s", line);
	cr_expect(strstr(parsed, "realm=mcp"), "line: %s", line);
	cr_expect(strstr(parsed, "scope=mcp:tools"), "line: %s", line);
	cr_expect(strstr(parsed, "resource_metadata=http://x/.well-known/oauth-protected-resource"),
	          "line: %s", line);
	free(line);
}

Test(log_text, error_and_schemes)
{
	static const struct record_header h[] = {
	    WWW("Bearer error=\"invalid_token\", error_description=\"expired\""),
	    WWW("Negotiate abc=="),
	};
	struct record r = record_of(h, 2);
	char *line = text_of(&r, &meta, "error");
	const char *parsed = parsed_of(line);

	cr_assert_not_null(parsed, "line: %s", line);
	cr_expect(strstr(parsed, "error=invalid_token"), "line: %s", line);
	const char *bearer = strstr(parsed, "Bearer"), *neg = strstr(parsed, "Negotiate");
	cr_expect(bearer && neg && bearer < neg, "both schemes, in order: %s", line);
	free(line);
}

Test(log_text, status_unknown)
{
	static const struct record_header h[] = {WWW("Basic")};
	struct record r = record_of(h, 1);
	char *line;

	r.status = 0;
	line = text_of(&r, &meta, "status 0");
	cr_expect(strncmp(line, "authtap[4242] ??? GET http://example.test/mcp", 45) == 0,
	          "line: %s", line);
	free(line);
}

Test(log_text, backslash)
{
	/* On the wire: Basic realm="C:\\dir" (a quoted-pair). */
	static const struct record_header h[] = {WWW("Basic realm=\"C:\\\\dir\"")};
	struct record r = record_of(h, 1);
	char *line = text_of(&r, &meta, "backslash");
	const char *parsed = parsed_of(line);

	cr_expect(strstr(line, "Basic realm=\"C:\\\\\\\\dir\""), "raw value, doubled: %s", line);
	cr_assert_not_null(parsed, "line: %s", line);
	cr_expect(strstr(parsed, "realm=\"C:\\\\dir\""), "unquoted value, doubled: %s", line);
	free(line);
}

/* Parsed values: bare when one plain word, else quoted so that
 * realm="a, b" does not read as two things. */
Test(log_text, quoting)
{
	static const struct record_header h[] = {
	    WWW("Bearer realm=\"a, b\", scope=\"openid profile\", error=invalid_token, "
	        "error_description=\"say \\\"hi\\\"\""),
	    WWW("Basic realm=\"\""),
	};
	struct record r = record_of(h, 2);
	char *line = text_of(&r, &meta, "quoting");
	const char *parsed = parsed_of(line);

	cr_assert_not_null(parsed, "line: %s", line);
	cr_expect(strstr(parsed, " realm=\"a, b\""), "line: %s", line);
	cr_expect(strstr(parsed, " scope=\"openid profile\""), "line: %s", line);
	cr_expect(strstr(parsed, " error=invalid_token"), "line: %s", line);
	cr_expect(strstr(parsed, " error_description=\"say \\\"hi\\\"\""), "line: %s", line);
	cr_expect(strstr(parsed, "  Basic  realm=\"\"\n"), "empty value: %s", line);
	free(line);
}

static bool has_escape(const char *line, unsigned b)
{
	char lower[8], upper[8];

	snprintf(lower, sizeof(lower), "\\x%02x", b);
	snprintf(upper, sizeof(upper), "\\x%02X", b);
	return strstr(line, lower) || strstr(line, upper);
}

Test(log_text, every_byte)
{
	for (unsigned b = 0; b < 256; b++) {
		char v[] = "Basic realm=\"a?b\"";
		char name[] = "X-?-Auth";
		char what[32];

		v[14] = (char)b;
		name[2] = (char)b;
		snprintf(what, sizeof(what), "byte 0x%02x", b);
		struct record_header h[] = {
		    {"WWW-Authenticate", 16, v, sizeof(v) - 1},
		    {name, sizeof(name) - 1, "Basic", 5},
		};
		struct record r = record_of(h, 2);
		char *line = text_of(&r, &meta, what);

		if (b < 0x20 || b >= 0x7f) {
			cr_expect(has_escape(line, b), "%s: no \\x escape: %s", what, line);
		} else if (b == '\\') {
			cr_expect(strstr(line, "a\\\\b"), "%s: %s", what, line);
		} else {
			char raw[] = "a?b";
			raw[1] = (char)b;
			cr_expect(strstr(line, raw), "%s: %s", what, line);
		}
		if (b >= 0x80)
			cr_expect(strchr(line, (char)b) == NULL, "%s: stray byte kept: %s", what,
			          line);
		free(line);
	}
}

Test(log_text, all_bytes)
{
	char all[256];

	for (unsigned b = 0; b < 256; b++)
		all[b] = (char)b;
	struct record_header h[] = {
	    {"WWW-Authenticate", 16, all, sizeof(all)},
	    {all, sizeof(all), "Basic", 5},
	};
	struct record r = record_of(h, 2);
	char *line = text_of(&r, &meta, "all bytes");

	for (unsigned b = 0x80; b < 0x100; b++)
		cr_expect(has_escape(line, b), "0x%02x not escaped", b);
	free(line);
}

Test(log_text, utf8)
{
	for (size_t i = 0; i < NELEM(utf8_cases); i++) {
		const struct utf8_case *c = &utf8_cases[i];
		char v[64];
		int n = snprintf(v, sizeof(v), "Basic realm=\"%s\"", c->bytes);
		struct record_header h = {"WWW-Authenticate", 16, v, (size_t)n};
		struct record r = record_of(&h, 1);
		char *line = text_of(&r, &meta, c->name);

		/* C1 controls are valid UTF-8, and escape sequences all the same. */
		bool c1 = (unsigned char)c->bytes[0] == 0xc2 && (unsigned char)c->bytes[1] < 0xa0;
		if (c->valid && !c1)
			cr_expect(strstr(line, c->bytes), "%s: kept as it is: %s", c->name, line);
		else
			cr_expect(strstr(line, "\\x"), "%s: escaped: %s", c->name, line);
		free(line);
	}
}

Test(log_text, odd_method_and_url)
{
	static const struct record_header h[] = {WWW("Basic")};
	struct record_transfer t = xfer;
	struct record r = record_of(h, 1);

	r.transfer = &t;
	t.method = "GE\nT";
	t.url = "http://h/\r\n\x1b[31m";
	char *line = text_of(&r, &meta, "odd method and url");
	cr_expect(strstr(line, "\\x1b"), "line: %s", line);
	free(line);
}

Test(log_text, value_cap_flags)
{
	char v[160];
	int n = snprintf(v, sizeof(v), "Bearer realm=\"%0100d\"", 0);
	struct record_header h = {"WWW-Authenticate", 16, v, (size_t)n};
	struct record r = record_of(&h, 1);
	struct log_meta m = meta;

	m.value_cap = 16;
	char *line = text_of(&r, &m, "text cap");
	cr_expect(strstr(line, "truncated"), "line: %s", line);
	cr_expect(strstr(line, "WWW-Authenticate: Bearer realm=\"00"), "line: %s", line);
	cr_expect_null(strstr(line, "WWW-Authenticate: Bearer realm=\"000"),
	               "value cut at 16 bytes: %s", line);
	free(line);
}

/* log.h: "header values and parameters are cut to this many bytes".  The
 * sink shrinks the cap until a record fits in one pipe write, which only
 * works when the text writer cuts parameters too. */
Test(log_text, value_cap_params)
{
	char v[160];
	int n = snprintf(v, sizeof(v), "Bearer realm=\"%0100d\"", 0);
	struct record_header h = {"WWW-Authenticate", 16, v, (size_t)n};
	struct record r = record_of(&h, 1);
	struct log_meta m = meta;

	m.value_cap = 16;
	char *line = text_of(&r, &m, "text param cap");
	cr_expect_null(strstr(line, "00000000000000000"), "a param longer than 16 bytes: %s", line);
	free(line);
}

/* A valid UTF-8 value stays valid when cut: no half character shown as
 * \xHH escapes. */
Test(log_text, value_cap_utf8)
{
	char v[128] = "Bearer realm=\"";
	size_t n = strlen(v);

	for (int i = 0; i < 20; i++, n += 3)
		memcpy(v + n, "\xe2\x82\xac", 3);
	v[n++] = '"';
	for (size_t cap = 14; cap <= 20; cap++) {
		struct record_header h = {"WWW-Authenticate", 16, v, n};
		struct record r = record_of(&h, 1);
		struct log_meta m = meta;
		char what[32];

		m.value_cap = cap;
		snprintf(what, sizeof(what), "text cap %zu", cap);
		char *line = text_of(&r, &m, what);
		cr_expect_null(strstr(line, "\\x"), "%s: %s", what, line);
		free(line);
	}
}

/* Two headers that take most paths of the JSON writer at once: escapes in
 * a value and in an unquoted param, UTF-8, a token68, names repeated in
 * other cases, malformed_at.  The bytes are the ones the writer gave
 * before it was made faster, and must stay so. */
static const struct record_header golden_headers[] = {
    WWW(MCP_VALUE),
    HDR("Proxy-Authenticate", "Basic realm=\"caf\xc3\xa9 \\\"q\\\"\", Negotiate abc==, "
                              "Digest realm=x, REALM=y, Realm=\"z\", n=1 junk"),
};

static const char golden_json[] =
    "{\"v\":1,\"type\":\"response\",\"ts\":\"2026-11-26T12:34:56.789Z\",\"pid\":4242,\"ti"
    "d\":4243,\"handle\":\"0x5a5a1000\",\"api\":\"easy\",\"method\":\"GET\",\"url\":\"htt"
    "p://example.test/mcp\",\"result\":0,\"status\":401,\"final\":true,\"request\":0,\"he"
    "aders\":[{\"name\":\"WWW-Authenticate\",\"value\":\"Bearer realm=\\\"mcp\\\", resour"
    "ce_metadata=\\\"http://x/.well-known/oauth-protected-resource\\\", scope=\\\"mcp:too"
    "ls\\\"\"},{\"name\":\"Proxy-Authenticate\",\"value\":\"Basic realm=\\\"caf\xc3\xa9 \\\\\\\""
    "q\\\\\\\"\\\", Negotiate abc==, Digest realm=x, REALM=y, Realm=\\\"z\\\", n=1 junk\""
    ",\"malformed_at\":84}],\"challenges\":[{\"scheme\":\"Bearer\",\"params\":{\"realm\":"
    "\"mcp\",\"resource_metadata\":\"http://x/.well-known/oauth-protected-resource\",\"sc"
    "ope\":\"mcp:tools\"}},{\"scheme\":\"Basic\",\"params\":{\"realm\":\"caf\xc3\xa9 \\\""
    "q\\\"\"}},{\"scheme\":\"Negotiate\",\"token68\":\"abc==\"},{\"scheme\":\"Digest\",\""
    "params\":{\"realm\":\"x\",\"n\":\"1\"},\"repeated\":[{\"name\":\"realm\",\"value\":\""
    "y\"},{\"name\":\"realm\",\"value\":\"z\"}]}],\"flags\":[]}\n";

static const char golden_text[] =
    "authtap[4242] 401 GET http://example.test/mcp\n"
    "  Bearer    realm=mcp resource_metadata=http://x/.well-known/oauth-protected-resource "
    "scope=mcp:tools\n"
    "  Basic     realm=\"caf\xc3\xa9 \\\"q\\\"\" (Proxy-Authenticate)\n"
    "  Negotiate abc== (Proxy-Authenticate)\n"
    "  Digest    realm=x realm=y realm=z (+1 more) (Proxy-Authenticate)\n"
    "  (malformed at byte 84 of this header)\n"
    "  > WWW-Authenticate: Bearer realm=\"mcp\", "
    "resource_metadata=\"http://x/.well-known/oauth-protected-resource\", scope=\"mcp:tools\"\n"
    "  > Proxy-Authenticate: Basic realm=\"caf\xc3\xa9 \\\\\"q\\\\\"\", Negotiate abc==, Digest "
    "realm=x, REALM=y, Realm=\"z\", n=1 junk\n";

static void expect_bytes(const struct buf *b, const char *want, size_t want_len, const char *what)
{
	cr_expect(!buf_failed(b), "%s: buffer failed", what);
	cr_expect(b->len == want_len && memcmp(b->p, want, want_len) == 0,
	          "%s:\n  got  %.*s\n  want %s", what, (int)b->len, b->p, want);
}

Test(log_json, golden_bytes)
{
	struct record r = record_of(golden_headers, NELEM(golden_headers));
	struct buf b = {0};

	format_response_json(&b, &r, &meta);
	expect_bytes(&b, golden_json, sizeof(golden_json) - 1, "json");
	b.len = 0;
	format_response_text(&b, &r, &meta);
	expect_bytes(&b, golden_text, sizeof(golden_text) - 1, "text");
	buf_free(&b);
}

/* Records written into lent storage of any size, moving to the heap part
 * way or not at all, and written again into a used buffer as logfile.c does
 * at smaller caps, are the same bytes. */
Test(log_json, lent_storage)
{
	struct record r = record_of(golden_headers, NELEM(golden_headers));

	for (size_t size = 0; size <= sizeof(golden_json) + 16; size++) {
		char *store = malloc(size ? size : 1);
		struct buf b;
		char what[32];

		cr_assert_not_null(store);
		snprintf(what, sizeof(what), "lent %zu bytes", size);
		buf_init(&b, store, size);
		format_response_json(&b, &r, &meta);
		expect_bytes(&b, golden_json, sizeof(golden_json) - 1, what);
		/* Appends ask for a little more room than they use. */
		if (size < sizeof(golden_json) - 1 || size >= sizeof(golden_json) + 8)
			cr_expect_eq(b.p == store, size >= sizeof(golden_json), "%s: moved", what);
		b.len = 0;
		format_response_text(&b, &r, &meta);
		expect_bytes(&b, golden_text, sizeof(golden_text) - 1, what);
		buf_free(&b); /* frees the heap copy, never the storage */
		free(store);
	}
}

/* format_response.c keeps the headers part of a thread's last record and uses it
 * again for the same headers and cap: every record must still come out as
 * if made afresh, whatever came before it.  A fresh record is made right
 * after one with other headers; then every pair of records is written one
 * after the other, and the second, and a repeat of it, must match. */
Test(log_json, kept_headers_part_is_never_stale)
{
	static char long_value[3000];
	memset(long_value, 'a', sizeof(long_value) - 1);
	memcpy(long_value, "Basic realm=", 12);
	const struct record_header ab_c[] = {HDR("ab", "c")}, a_bc[] = {HDR("a", "bc")};
	const struct record_header mcp_last[] = {WWW(MCP_VALUE "x")};
	const struct record_header other[] = {WWW("Other x=1")};
	struct record_header longer[] = {
	    {"WWW-Authenticate", 16, long_value, sizeof(long_value) - 1}};
	struct {
		struct record r;
		size_t cap;
	} cases[] = {
	    {record_of(golden_headers, NELEM(golden_headers)), 0},
	    {record_of(golden_headers, NELEM(golden_headers)), 8},
	    {record_of(golden_headers, 1), 0},
	    {record_of(mcp_last, 1), 0},
	    {record_of(ab_c, 1), 0},
	    {record_of(a_bc, 1), 0},
	    {record_of(longer, 1), 0},
	    {record_of(golden_headers, 0), 0},
	};
	size_t n = NELEM(cases);
	struct buf fresh[NELEM(cases)];
	struct log_meta m = meta;
	struct record o = record_of(other, 1);

	for (size_t i = 0; i < n; i++) {
		struct buf scratch = {0};
		format_response_json(&scratch, &o, &m);
		buf_free(&scratch);
		fresh[i] = (struct buf){0};
		m.value_cap = cases[i].cap;
		format_response_json(&fresh[i], &cases[i].r, &m);
		m.value_cap = 0;
		cr_assert(!buf_failed(&fresh[i]));
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			char what[64];
			struct buf b = {0};
			m.value_cap = cases[i].cap;
			format_response_json(&b, &cases[i].r, &m);
			for (int again = 0; again < 2; again++) {
				snprintf(what, sizeof(what), "case %zu after case %zu (%d)", j, i,
				         again);
				b.len = 0;
				m.value_cap = cases[j].cap;
				format_response_json(&b, &cases[j].r, &m);
				expect_bytes(&b, fresh[j].p, fresh[j].len, what);
			}
			m.value_cap = 0;
			buf_free(&b);
		}
	}
	for (size_t i = 0; i < n; i++)
		buf_free(&fresh[i]);
}

/* buf_putint against printf, sign and padding as the writers use them:
 * the width counts digits, at most 24 of them. */
Test(buf, putint)
{
	static const long long values[] = {
	    0,
	    1,
	    9,
	    10,
	    99,
	    100,
	    101,
	    999,
	    1000,
	    4242,
	    65535,
	    99999,
	    100000,
	    2147483647LL,
	    4294967296LL,
	    999999999999999999LL,
	    1000000000000000000LL,
	    9223372036854775807LL,
	    -1,
	    -9,
	    -10,
	    -100,
	    -4242,
	    -9223372036854775807LL - 1,
	};

	for (size_t i = 0; i < NELEM(values); i++) {
		for (int width = -1; width <= 30; width++) {
			struct buf b = {0};
			char want[64];
			unsigned long long u = values[i] < 0 ? 0ULL - (unsigned long long)values[i]
			                                     : (unsigned long long)values[i];

			snprintf(want, sizeof(want), "%s%0*llu", values[i] < 0 ? "-" : "",
			         width > 24  ? 24
			         : width < 0 ? 0
			                     : width,
			         u);
			buf_putint(&b, values[i], width);
			buf_putc(&b, '\0');
			cr_assert(!buf_failed(&b));
			cr_expect_str_eq(b.p, want, "%lld width %d", values[i], width);
			buf_free(&b);
		}
	}
}

Test(buf, puthex)
{
	static const unsigned long long values[] = {0, 1, 15, 16, 0x5a5a1000, 0xdeadbeefULL, ~0ULL};

	for (size_t i = 0; i < NELEM(values); i++) {
		struct buf b = {0};
		char want[32];

		snprintf(want, sizeof(want), "%llx", values[i]);
		buf_puthex(&b, values[i]);
		buf_putc(&b, '\0');
		cr_expect_str_eq(b.p, want);
		buf_free(&b);
	}
}

/* Lent storage is used, outgrown into the heap with its bytes, and never
 * freed; a failure is sticky for inline appends too. */
Test(buf, lent_and_failed)
{
	char store[8];
	struct buf b;

	buf_init(&b, store, sizeof(store));
	buf_puts(&b, "abc");
	buf_putc(&b, 'd');
	cr_expect_eq(b.p, store);
	buf_puts(&b, "efghijklmnop");
	cr_expect_neq(b.p, store);
	buf_put(&b, NULL, 0);
	buf_putc(&b, '\0');
	cr_expect_str_eq(b.p, "abcdefghijklmnop");
	buf_free(&b);
	cr_expect_null(b.p);

	buf_init(&b, store, sizeof(store));
	buf_puts(&b, "ab");
	buf_fail(&b);
	buf_puts(&b, "c");
	buf_putc(&b, 'd');
	buf_putint(&b, 7, 0);
	cr_expect(buf_failed(&b));
	cr_expect_eq(b.len, 2);
	buf_free(&b);
}

/* What the JSON writer must make of one string byte: a reference written
 * the slow way, for the word-at-a-time scanner to be held against. */
static void ref_escape(char *out, const unsigned char *s, size_t len, bool latin1)
{
	static const char hex[] = "0123456789abcdef";

	*out++ = '"';
	for (size_t i = 0; i < len; i++) {
		unsigned c = s[i];
		if (c == '"' || c == '\\') {
			*out++ = '\\', *out++ = (char)c;
		} else if (c == '\n' || c == '\r' || c == '\t') {
			*out++ = '\\', *out++ = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
		} else if (c < 0x20) {
			out += sprintf(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
		} else if (c >= 0x80 && latin1) {
			*out++ = (char)(0xc0 | (c >> 6)), *out++ = (char)(0x80 | (c & 0x3f));
		} else {
			*out++ = (char)c;
		}
	}
	*out++ = '"';
	*out = '\0';
}

/* Each byte that needs escaping (and a UTF-8 character, which does not),
 * at every offset of values of every length around the eight-byte words,
 * once and twice. */
Test(log_json, escapes_at_every_offset)
{
	static const char *const specials[] = {"\"",   "\\",   "\n",   "\r",   "\t",       "\x01",
	                                       "\x1f", "\x7f", "\x80", "\xff", "\xc3\xa9", " "};
	unsigned char v[64];
	char want[64 * 6 + 3], what[64];
	struct buf b = {0};

	for (size_t len = 1; len <= 40; len++) {
		for (size_t k = 0; k < NELEM(specials); k++) {
			size_t sl = strlen(specials[k]);
			for (size_t at = 0; at + sl <= len; at++) {
				/* The second copy never overlaps the first. */
				int copies = at + 2 * sl <= len ? 2 : 1;
				for (int twice = 0; twice < copies; twice++) {
					memset(v, 'a' + (int)(len % 26), len);
					memcpy(v + at, specials[k], sl);
					if (twice)
						memcpy(v + (len - sl), specials[k], sl);
					bool latin1 = (v[at] == 0x80 || v[at] == 0xff);
					struct record_header h = {"N", 1, (const char *)v, len};
					struct record r = record_of(&h, 1);

					snprintf(what, sizeof(what),
					         "len %zu, special %zu at %zu%s", len, k, at,
					         twice ? " and at the end" : "");
					ref_escape(want, v, len, latin1);
					b.len = 0;
					format_response_json(&b, &r, &meta);
					buf_putc(&b, '\0');
					cr_assert(!buf_failed(&b));
					const char *got = strstr(b.p, "\"value\":");
					cr_assert_not_null(got, "%s", what);
					got += 8;
					cr_expect(strncmp(got, want, strlen(want)) == 0 &&
					              (got[strlen(want)] == '}' ||
					               got[strlen(want)] == ','),
					          "%s:\n  got  %.*s\n  want %s", what,
					          (int)strlen(want) + 1, got, want);
				}
			}
		}
	}
	buf_free(&b);
}

/* Params of a challenge are read onto the stack up to 16 and through the
 * heap beyond: around that edge, with repeated names, "params" and
 * "repeated" keep the order the names came in. */
Test(log_json, params_around_the_stack_limit)
{
	for (int n = 1; n <= 40; n++) {
		char v[2048], want[4096], what[32];
		size_t vl = (size_t)snprintf(v, sizeof(v), "Digest ");
		size_t wl = (size_t)snprintf(want, sizeof(want), "\"params\":{");
		bool first = true;

		for (int i = 0; i < n; i++) {
			/* Every third name repeats the first of its group of three, in
			 * upper case. */
			int name = i % 3 == 2 ? i - 2 : i;
			vl += (size_t)snprintf(v + vl, sizeof(v) - vl, "%s%s%d=\"v%d\"",
			                       i ? ", " : "", i % 3 == 2 ? "P" : "p", name, i);
		}
		for (int i = 0; i < n; i++) {
			if (i % 3 == 2)
				continue;
			wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "%s\"p%d\":\"v%d\"",
			                       first ? "" : ",", i, i);
			first = false;
		}
		wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "}");
		first = true;
		for (int i = 2; i < n; i += 3) {
			wl += (size_t)snprintf(want + wl, sizeof(want) - wl,
			                       "%s{\"name\":\"p%d\",\"value\":\"v%d\"}",
			                       first ? ",\"repeated\":[" : ",", i - 2, i);
			first = false;
		}
		if (!first)
			wl += (size_t)snprintf(want + wl, sizeof(want) - wl, "]");
		snprintf(want + wl, sizeof(want) - wl, "}]");

		struct record_header h = {"WWW-Authenticate", 16, v, vl};
		struct record r = record_of(&h, 1);
		struct buf b = {0};

		snprintf(what, sizeof(what), "%d params", n);
		format_response_json(&b, &r, &meta);
		buf_putc(&b, '\0');
		cr_assert(!buf_failed(&b));
		cr_expect_not_null(strstr(b.p, want), "%s: no %s in %s", what, want, b.p);
		buf_free(&b);
	}
}

/* GitHub issue 12, item 9: a bidi override (U+202E) reorders what a
 * terminal shows, a line separator (U+2028) and zero-width characters
 * (U+200B, U+FEFF, tags) hide text.  Text shows them as \uXXXX. */
static const struct {
	const char *name, *bytes, *shown;
} hidden_cases[] = {
    {"U+202E right-to-left override", "\xe2\x80\xae", "\\u202e"},
    {"U+2066 left-to-right isolate", "\xe2\x81\xa6", "\\u2066"},
    {"U+2028 line separator", "\xe2\x80\xa8", "\\u2028"},
    {"U+2029 paragraph separator", "\xe2\x80\xa9", "\\u2029"},
    {"U+200B zero width space", "\xe2\x80\x8b", "\\u200b"},
    {"U+200F right-to-left mark", "\xe2\x80\x8f", "\\u200f"},
    {"U+FEFF zero width no-break space", "\xef\xbb\xbf", "\\ufeff"},
    {"U+00AD soft hyphen", "\xc2\xad", "\\u00ad"},
    {"U+E0041 tag latin capital A", "\xf3\xa0\x81\x81", "\\U000e0041"},
};

static char *fmt_realm(const char *shown)
{
	char *s = NULL;
	cr_assert(asprintf(&s, "realm=a%sb", shown) > 0);
	return s;
}

Test(log_text, hidden_characters_are_shown)
{
	for (size_t i = 0; i < NELEM(hidden_cases); i++) {
		char v[64], url[64];
		int n = snprintf(v, sizeof(v), "Bearer realm=\"a%sb\"", hidden_cases[i].bytes);
		snprintf(url, sizeof(url), "http://h/%s", hidden_cases[i].bytes);
		struct record_header h = {"WWW-Authenticate", 16, v, (size_t)n};
		struct record_transfer t = xfer;
		struct record r = record_of(&h, 1);
		t.url = url;
		r.transfer = &t;
		char *line = text_of(&r, &meta, hidden_cases[i].name);

		cr_expect_null(strstr(line, hidden_cases[i].bytes), "%s: raw: %s",
		               hidden_cases[i].name, line);
		char *parsed_realm = fmt_realm(hidden_cases[i].shown);
		cr_expect(strstr(line, parsed_realm), "%s: %s", hidden_cases[i].name, line);
		free(parsed_realm);
		free(line);
	}
}

/* JSON to a terminal: DEL, C1 controls and the characters above as \u
 * escapes, the same JSON value. */
Test(log_json, terminal_json_escapes_del_c1_and_hidden)
{
	static const char v[] = "Bearer realm=\"d\x7f c1\xc2\x9b"
	                        "31m bidi\xe2\x80\xae ls\xe2\x80\xa8 tag\xf3\xa0\x81\x81\"";
	struct record_header h = {"WWW-Authenticate", 16, v, sizeof(v) - 1};
	struct record r = record_of(&h, 1);
	struct buf b = {0};

	format_response_json(&b, &r, &meta);
	escape_json_terminal(&b, 0);
	cr_assert(!buf_failed(&b));
	for (size_t i = 0; i < b.len; i++) {
		unsigned char c = (unsigned char)b.p[i];
		cr_expect(c != 0x7f, "DEL at %zu", i);
		cr_expect(!(c == 0xc2 && i + 1 < b.len && (unsigned char)b.p[i + 1] < 0xa0),
		          "C1 at %zu", i);
		cr_expect(
		    !(c == 0xe2 && i + 2 < b.len && (unsigned char)b.p[i + 1] == 0x80 &&
		      ((unsigned char)b.p[i + 2] == 0xae || (unsigned char)b.p[i + 2] == 0xa8)),
		    "U+202E or U+2028 at %zu", i);
		cr_expect(c != 0xf3, "a tag at %zu", i);
	}
	json_error_t err;
	json_t *root = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &err);
	cr_assert_not_null(root, "%s: %.*s", err.text, (int)b.len, b.p);
	cr_expect(field_is(header_at(root, 0), "value", v, sizeof(v) - 1), "the value changed");
	cr_expect(!has_encoding(header_at(root, 0)));
	json_decref(root);
	buf_free(&b);
}

/* GitHub issue 15, item 3: short and aligned; the raw header on request;
 * colour only when asked (a terminal without NO_COLOR). */
Test(log_text, aligned_raw_on_request_colour_when_asked)
{
	static const struct record_header h[] = {
	    WWW("Bearer realm=\"mcp\", scope=\"mcp:tools\", foo=1, bar=2"),
	    WWW("Negotiate"),
	    HDR("Proxy-Authenticate", "Basic realm=proxy"),
	};
	struct record r = record_of(h, NELEM(h));
	struct log_meta m = meta;
	struct buf b = {0};

	m.raw = false;
	format_response_text(&b, &r, &m);
	buf_putc(&b, '\0');
	cr_expect_str_eq(b.p, "authtap[4242] 401 GET http://example.test/mcp\n"
	                      "  Bearer    realm=mcp scope=mcp:tools (+2 more)\n"
	                      "  Negotiate\n"
	                      "  Basic     realm=proxy (Proxy-Authenticate)\n");
	cr_expect_null(strchr(b.p, '\x1b'));
	buf_free(&b);

	m.color = true;
	b = (struct buf){0};
	format_response_text(&b, &r, &m);
	buf_putc(&b, '\0');
	cr_expect(strstr(b.p, "\x1b[1;31m401\x1b[0m"), "%s", b.p);
	cr_expect(strstr(b.p, "  \x1b[1mBearer\x1b[0m    realm=mcp"), "%s", b.p);
	buf_free(&b);
}

/* GitHub issue 12, item 8: verdict strings follow the encoding rule of
 * response records.  A challenge that is not UTF-8 was written as Latin-1
 * with nothing to say so: its bytes could not be taken back. */
Test(log_verdict, not_utf8_is_latin1_and_says_so)
{
	static const char up[] = "Basic realm=\"caf\xe9\"", down[] = "Basic realm=\"other\"";
	struct verdict_change ch = {"Basic", "realm", "caf\xe9", "other"};
	struct verdict_header h = {"WWW-Authenticate", up, down, VERDICT_ALTERED, 1, &ch};
	struct verdict v = {
	    .kind = VERDICT_ALTERED,
	    .handle = (const void *)(uintptr_t)0x1000,
	    .method = "GET",
	    .url = "http://x/",
	    .upstream_status = 401,
	    .downstream_status = 401,
	    .nheaders = 1,
	    .headers = &h,
	};
	struct buf b = {0};
	json_error_t err;

	format_verdict_json(&b, &v, &meta);
	cr_assert(!buf_failed(&b));
	json_t *root = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &err);
	cr_assert_not_null(root, "%s: %.*s", err.text, (int)b.len, b.p);
	json_t *c = json_array_get(json_object_get(root, "challenges"), 0);
	cr_expect(has_encoding(c), "no encoding marker: %.*s", (int)b.len, b.p);
	cr_expect(field_is(c, "upstream", up, sizeof(up) - 1));
	cr_expect(field_is(c, "downstream", down, sizeof(down) - 1));
	json_t *k = json_array_get(json_object_get(c, "changes"), 0);
	cr_expect(has_encoding(k), "no encoding marker on the change");
	cr_expect(field_is(k, "upstream", "caf\xe9", 4));
	cr_expect_null(json_object_get(root, "flags"));
	json_decref(root);
	buf_free(&b);

	/* Cut to fit a pipe: values at most value_cap bytes, flagged. */
	struct log_meta m = meta;
	m.value_cap = 8;
	b = (struct buf){0};
	format_verdict_json(&b, &v, &m);
	root = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &err);
	cr_assert_not_null(root, "%s: %.*s", err.text, (int)b.len, b.p);
	c = json_array_get(json_object_get(root, "challenges"), 0);
	cr_expect(field_is(c, "upstream", up, 8), "%.*s", (int)b.len, b.p);
	cr_expect(has_flag(root, "truncated"));
	json_decref(root);
	buf_free(&b);
}

/* format_response.c keeps, per thread, the part from "pid" to "request" of
 * the last record and the date and time of its last second: every record
 * must still come out as if made afresh, whatever came before it.  The
 * cases differ from the first in one thing each: a URL that extends it,
 * one of the same length, a method, the pid (a fork), the tid, the
 * handle, the api, the result, the status, final, the request, an unknown
 * URL, and seconds, minutes, days or years later (or only milliseconds). */
Test(log_json, kept_head_and_second_are_never_stale)
{
	static const struct record_header h[] = {WWW("Basic realm=\"x\"")};
	struct head_case {
		const char *method, *url;
		long pid, tid;
		uintptr_t handle;
		enum record_api api;
		int result;
		long status;
		bool final;
		int request;
		bool url_unknown;
		time_t sec;
		long nsec;
	} base = {"GET",      "http://example.test/mcp",
	          4242,       4243,
	          0x5a5a1000, RECORD_API_EASY,
	          0,          401,
	          true,       0,
	          false,      1795696496,
	          789654321};
	struct head_case cases[20];
	size_t n = 0;
#define VARY(field, v)                                                                             \
	do {                                                                                       \
		cases[n] = base;                                                                   \
		cases[n].field = (v);                                                              \
		n++;                                                                               \
	} while (0)
	cases[n++] = base;
	VARY(url, "http://example.test/mcp2");
	VARY(url, "http://example.test/mcq");
	VARY(url, NULL);
	VARY(method, "GE");
	VARY(method, "PUT");
	VARY(method, NULL);
	VARY(pid, 4244);
	VARY(tid, 4244);
	VARY(handle, 0x5a5a1010);
	VARY(api, RECORD_API_MULTI);
	VARY(result, 7);
	VARY(result, RECORD_RESULT_UNKNOWN);
	VARY(status, 407);
	VARY(final, false);
	VARY(request, 1);
	VARY(url_unknown, true);
	VARY(sec, 1795696497);
	VARY(sec, 1795696496 + 86400);
	VARY(nsec, 1000000);
#undef VARY
	cr_assert_leq(n, NELEM(cases));

	struct record_transfer t[NELEM(cases)];
	struct record r[NELEM(cases)];
	struct log_meta m[NELEM(cases)];
	struct buf fresh[NELEM(cases)];
	/* Made after this one, a record is made afresh: its URL needs escaping
	 * (nothing kept) and its second is none of the cases'. */
	struct record_transfer ot = xfer;
	ot.url = "http://example.test/\"";
	struct record o = record_of(h, 1);
	o.transfer = &ot;
	struct log_meta om = meta;
	om.ts.tv_sec = 12345;

	for (size_t i = 0; i < n; i++) {
		t[i] = (struct record_transfer){(const void *)cases[i].handle, cases[i].api,
		                                cases[i].method, cases[i].url, cases[i].result};
		r[i] = record_of(h, 1);
		r[i].transfer = &t[i];
		r[i].status = cases[i].status;
		r[i].final = cases[i].final;
		r[i].request = cases[i].request;
		r[i].url_unknown = cases[i].url_unknown;
		m[i] = meta;
		m[i].pid = cases[i].pid;
		m[i].tid = cases[i].tid;
		m[i].ts.tv_sec = cases[i].sec;
		m[i].ts.tv_nsec = cases[i].nsec;

		struct buf scratch = {0};
		format_response_json(&scratch, &o, &om);
		buf_free(&scratch);
		fresh[i] = (struct buf){0};
		format_response_json(&fresh[i], &r[i], &m[i]);
		cr_assert(!buf_failed(&fresh[i]));
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			char what[64];
			struct buf b = {0};
			format_response_json(&b, &r[i], &m[i]);
			for (int again = 0; again < 2; again++) {
				snprintf(what, sizeof(what), "case %zu after case %zu (%d)", j, i,
				         again);
				b.len = 0;
				format_response_json(&b, &r[j], &m[j]);
				expect_bytes(&b, fresh[j].p, fresh[j].len, what);
			}
			buf_free(&b);
		}
	}
	for (size_t i = 0; i < n; i++)
		buf_free(&fresh[i]);
}

/* Issue 13, items 1 and 3: a verdict that cannot single out the client
 * says among how many it could be; one whose client was answered before
 * the transfer started says with what. */
Test(log_verdict, ambiguous_and_client_already_answered)
{
	static const char up[] = "Bearer realm=\"mcp\"";
	struct verdict_header h = {"WWW-Authenticate", up, NULL, VERDICT_AMBIGUOUS, 0, NULL};
	struct verdict v = {
	    .kind = VERDICT_AMBIGUOUS,
	    .candidates = 3,
	    .handle = (const void *)(uintptr_t)0x1000,
	    .method = "POST",
	    .url = "http://x/mcp",
	    .upstream_status = 401,
	    .nheaders = 1,
	    .headers = &h,
	};
	struct buf b = {0};
	json_error_t err;

	format_verdict_json(&b, &v, &meta);
	json_t *root = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &err);
	cr_assert_not_null(root, "%s: %.*s", err.text, (int)b.len, b.p);
	cr_expect_str_eq(json_string_value(json_object_get(root, "verdict")), "ambiguous");
	cr_expect(json_is_null(json_object_get(root, "downstream_status")));
	cr_expect_eq(json_integer_value(json_object_get(root, "candidates")), 3);
	json_decref(root);
	buf_free(&b);
	b = (struct buf){0};
	format_verdict_text(&b, &v, &meta);
	buf_putc(&b, '\0');
	cr_expect(strstr(b.p, "verdict ambiguous: upstream 401 POST http://x/mcp -> one of 3 "
	                      "clients, which one is not known; WWW-Authenticate ambiguous"),
	          "%s", b.p);
	buf_free(&b);

	h.result = v.kind = VERDICT_UNPAIRED;
	v.unpaired_why = "client already answered";
	v.answered_status = 200;
	b = (struct buf){0};
	format_verdict_json(&b, &v, &meta);
	root = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &err);
	cr_assert_not_null(root, "%s: %.*s", err.text, (int)b.len, b.p);
	cr_expect_eq(json_integer_value(json_object_get(root, "downstream_status")), 200);
	cr_expect_str_eq(json_string_value(json_object_get(root, "why")),
	                 "client already answered");
	cr_expect_null(json_object_get(root, "candidates"));
	json_decref(root);
	buf_free(&b);
	b = (struct buf){0};
	format_verdict_text(&b, &v, &meta);
	buf_putc(&b, '\0');
	cr_expect(strstr(b.p, "-> client 200 before the transfer started (client already "
	                      "answered)"),
	          "%s", b.p);
	buf_free(&b);

	struct verdict_summary s = {.challenges = 2, .forwarded = 1, .ambiguous = 1};
	b = (struct buf){0};
	format_summary_json(&b, &s, &meta);
	root = json_loadb(b.p, b.len, JSON_REJECT_DUPLICATES, &err);
	cr_assert_not_null(root, "%s: %.*s", err.text, (int)b.len, b.p);
	cr_expect_eq(json_integer_value(json_object_get(root, "ambiguous")), 1);
	json_decref(root);
	buf_free(&b);
}
