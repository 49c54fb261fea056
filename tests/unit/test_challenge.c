/* Unit tests for preload/challenge.c, table-driven like curl's unit1614.c:
 * each case names an input (with an explicit length, so NULs can be in it),
 * the challenges and params it must give and where it must stop.  Inputs are
 * copied to a heap buffer of exactly their length so that ASan catches any
 * read past the end. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "challenge.h"

#define MAX_PARAMS 8
#define MAX_CHALLENGES 4
#define VALID (-1L)

/* An input literal and its length, NULs included. */
#define IN(lit) .in = (lit), .len = sizeof(lit) - 1
/* Expected challenges: with params (name/value pairs), with a token68, bare. */
#define CH(s, ...)                                                                                 \
	{                                                                                          \
		.scheme = (s), .params = { __VA_ARGS__ }                                           \
	}
#define CH68(s, t)                                                                                 \
	{                                                                                          \
		.scheme = (s), .token68 = (t)                                                      \
	}
#define BARE(s)                                                                                    \
	{                                                                                          \
		.scheme = (s)                                                                      \
	}
#define NONE                                                                                       \
	{                                                                                          \
		.scheme = NULL                                                                     \
	} /* no challenge at all */

struct want_param {
	const char *name;
	const char *value; /* with quoting undone */
};

struct want_challenge {
	const char *scheme; /* NULL ends the list */
	const char *token68;
	struct want_param params[MAX_PARAMS];
};

struct parse_case {
	const char *name;
	const char *in;
	size_t len;
	long malformed_at; /* VALID when the whole value parses */
	struct want_challenge ch[MAX_CHALLENGES];
};

static struct parse_case parse_cases[] = {
    /* RFC 9110 §11.6.1, the example's two lines as one value. */
    {"rfc9110 newauth and basic",
     IN("Newauth realm=\"apps\", type=1, title=\"Login to \\\"apps\\\"\", "
        "Basic realm=\"simple\""),
     VALID,
     {CH("Newauth", {"realm", "apps"}, {"type", "1"}, {"title", "Login to \"apps\""}),
      CH("Basic", {"realm", "simple"})}},
    /* RFC 7616 §3.9.1: SHA-256 and MD5 offered, combined into one value. */
    {"rfc7616 digest sha-256 and md5",
     IN("Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
        "algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
        "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\", "
        "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", "
        "algorithm=MD5, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", "
        "opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""),
     VALID,
     {CH("Digest", {"realm", "http-auth@example.org"}, {"qop", "auth, auth-int"},
         {"algorithm", "SHA-256"}, {"nonce", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"},
         {"opaque", "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"}),
      CH("Digest", {"realm", "http-auth@example.org"}, {"qop", "auth, auth-int"},
         {"algorithm", "MD5"}, {"nonce", "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"},
         {"opaque", "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"})}},
    /* RFC 7616 §3.9.2, its line folds turned into runs of SP. */
    {"rfc7616 digest userhash",
     IN("Digest     realm=\"api@example.org\",     qop=\"auth\",     "
        "algorithm=SHA-512-256,     nonce=\"5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK\",     "
        "opaque=\"HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS\",     charset=UTF-8,     "
        "userhash=true"),
     VALID,
     {CH("Digest", {"realm", "api@example.org"}, {"qop", "auth"}, {"algorithm", "SHA-512-256"},
         {"nonce", "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK"},
         {"opaque", "HRPCssKJSGjCrkzDg8OhwpzCiGPChXYjwrI2QmXDnsOS"}, {"charset", "UTF-8"},
         {"userhash", "true"})}},
    /* RFC 7617 §2 and §2.1. */
    {"rfc7617 basic",
     IN("Basic realm=\"WallyWorld\""),
     VALID,
     {CH("Basic", {"realm", "WallyWorld"})}},
    {"rfc7617 basic charset",
     IN("Basic realm=\"foo\", charset=\"UTF-8\""),
     VALID,
     {CH("Basic", {"realm", "foo"}, {"charset", "UTF-8"})}},
    /* RFC 6750 §3 and §3.1. */
    {"rfc6750 bearer realm",
     IN("Bearer realm=\"example\""),
     VALID,
     {CH("Bearer", {"realm", "example"})}},
    {"rfc6750 bearer invalid_token",
     IN("Bearer realm=\"example\", error=\"invalid_token\", "
        "error_description=\"The access token expired\""),
     VALID,
     {CH("Bearer", {"realm", "example"}, {"error", "invalid_token"},
         {"error_description", "The access token expired"})}},
    {"rfc6750 bearer insufficient_scope",
     IN("Bearer realm=\"example\", error=\"insufficient_scope\", "
        "scope=\"openid profile email\""),
     VALID,
     {CH("Bearer", {"realm", "example"}, {"error", "insufficient_scope"},
         {"scope", "openid profile email"})}},
    /* RFC 9728 §5.1, folded after the "=", which leaves BWS. */
    {"rfc9728 resource_metadata",
     IN("Bearer resource_metadata= "
        "\"https://resource.example.com/.well-known/oauth-protected-resource\""),
     VALID,
     {CH("Bearer", {"resource_metadata", "https://resource.example.com/.well-known/"
                                         "oauth-protected-resource"})}},
    {"rfc9728 resource_metadata with scope",
     IN("Bearer error=\"insufficient_scope\", scope=\"files:read files:write\", "
        "resource_metadata=\"https://resource.example.com/.well-known/"
        "oauth-protected-resource\""),
     VALID,
     {CH("Bearer", {"error", "insufficient_scope"}, {"scope", "files:read files:write"},
         {"resource_metadata", "https://resource.example.com/.well-known/"
                               "oauth-protected-resource"})}},
    /* RFC 4559 §4. */
    {"rfc4559 negotiate", IN("Negotiate"), VALID, {BARE("Negotiate")}},
    {"rfc4559 negotiate token68",
     IN("Negotiate a87421000492aa874209af8bc028"),
     VALID,
     {CH68("Negotiate", "a87421000492aa874209af8bc028")}},

    /* A scheme must be followed by SP, a comma or the end, so Basic="y"
     * cannot open a challenge; it is an auth-param named Basic. */
    {"param named like a scheme",
     IN("Basic realm=\"x\", Basic=\"y\""),
     VALID,
     {CH("Basic", {"realm", "x"}, {"Basic", "y"})}},
    {"param named like a scheme, BWS",
     IN("Basic realm=\"x\", Basic =\"y\""),
     VALID,
     {CH("Basic", {"realm", "x"}, {"Basic", "y"})}},
    {"same scheme twice",
     IN("Basic realm=\"x\", Basic realm=\"y\""),
     VALID,
     {CH("Basic", {"realm", "x"}), CH("Basic", {"realm", "y"})}},
    {"comma in quotes", IN("Basic realm=\"a, b\""), VALID, {CH("Basic", {"realm", "a, b"})}},
    {"equals and comma in quotes",
     IN("Basic realm=\"a=b, Basic c=d\""),
     VALID,
     {CH("Basic", {"realm", "a=b, Basic c=d"})}},
    {"escaped quotes",
     IN("Newauth title=\"Login to \\\"apps\\\"\""),
     VALID,
     {CH("Newauth", {"title", "Login to \"apps\""})}},
    {"escaped backslash and letter",
     IN("Basic realm=\"a\\\\b\\c\""),
     VALID,
     {CH("Basic", {"realm", "a\\bc"})}},
    {"empty quoted value", IN("Basic realm=\"\""), VALID, {CH("Basic", {"realm", ""})}},
    {"token values",
     IN("Newauth type=1, id=abc-DEF.1~, x=!#$%&'*+^_`|"),
     VALID,
     {CH("Newauth", {"type", "1"}, {"id", "abc-DEF.1~"}, {"x", "!#$%&'*+^_`|"})}},
    {"duplicate params kept",
     IN("Basic realm=\"a\", realm=\"b\""),
     VALID,
     {CH("Basic", {"realm", "a"}, {"realm", "b"})}},
    {"token68 padding", IN("Negotiate abc=="), VALID, {CH68("Negotiate", "abc==")}},
    {"token68 every character",
     IN("Bearer mF_9.B5f-4.1JqM~+/0Zz="),
     VALID,
     {CH68("Bearer", "mF_9.B5f-4.1JqM~+/0Zz=")}},
    /* "abc= ," fits token68 exactly; as a param its value would be empty. */
    {"token68 padding then OWS comma",
     IN("Basic abc= , Negotiate"),
     VALID,
     {CH68("Basic", "abc="), BARE("Negotiate")}},
    {"name= at the end is token68", IN("Bearer realm="), VALID, {CH68("Bearer", "realm=")}},
    {"token68 trailing OWS", IN("Negotiate abc==  \t"), VALID, {CH68("Negotiate", "abc==")}},
    {"token68 after htab", IN("Negotiate\tYII="), VALID, {CH68("Negotiate", "YII=")}},
    {"token68 then a challenge",
     IN("Negotiate abc, Basic realm=\"x\""),
     VALID,
     {CH68("Negotiate", "abc"), CH("Basic", {"realm", "x"})}},
    {"whitespace around equals",
     IN("Basic realm = \"x\" , charset =UTF-8"),
     VALID,
     {CH("Basic", {"realm", "x"}, {"charset", "UTF-8"})}},
    {"htab as whitespace",
     IN("Basic\trealm\t=\t\"x\"\t,\tcharset=UTF-8\t"),
     VALID,
     {CH("Basic", {"realm", "x"}, {"charset", "UTF-8"})}},
    {"several SP after scheme", IN("Basic    realm=\"x\""), VALID, {CH("Basic", {"realm", "x"})}},
    {"no space after commas",
     IN("Newauth a=b,c=\"d\",Basic,NTLM"),
     VALID,
     {CH("Newauth", {"a", "b"}, {"c", "d"}), BARE("Basic"), BARE("NTLM")}},
    {"bare scheme then another",
     IN("Negotiate, Basic realm=\"x\""),
     VALID,
     {BARE("Negotiate"), CH("Basic", {"realm", "x"})}},
    {"bare scheme last",
     IN("Basic realm=\"x\", Negotiate"),
     VALID,
     {CH("Basic", {"realm", "x"}), BARE("Negotiate")}},
    {"bare schemes",
     IN("Negotiate, NTLM, Basic"),
     VALID,
     {BARE("Negotiate"), BARE("NTLM"), BARE("Basic")}},
    /* After a comma "token =" continues the challenge, even a bare one. */
    {"param after bare scheme",
     IN("Negotiate, realm=\"x\""),
     VALID,
     {CH("Negotiate", {"realm", "x"})}},
    {"empty elements", IN(", Basic realm=\"x\" ,, "), VALID, {CH("Basic", {"realm", "x"})}},
    {"empty elements between params",
     IN("Basic realm=\"x\" , , ,charset=UTF-8,"),
     VALID,
     {CH("Basic", {"realm", "x"}, {"charset", "UTF-8"})}},
    {"empty elements between challenges",
     IN(" ,\t, Negotiate ,, ,\tBasic ,"),
     VALID,
     {BARE("Negotiate"), BARE("Basic")}},
    {"empty value", IN(""), VALID, {NONE}},
    {"only whitespace", IN(" \t  "), VALID, {NONE}},
    {"only commas", IN(", ,,\t,"), VALID, {NONE}},
    {"lowercase scheme", IN("bearer realm=\"x\""), VALID, {CH("bearer", {"realm", "x"})}},
    {"uppercase scheme and name", IN("BASIC REALM=\"x\""), VALID, {CH("BASIC", {"REALM", "x"})}},
    {"scheme of every tchar",
     IN("X-a!#$%&'*+.^_`|~9 a=b"),
     VALID,
     {CH("X-a!#$%&'*+.^_`|~9", {"a", "b"})}},
    {"non-ascii in quotes is data",
     IN("Basic realm=\"caf\xc3\xa9 \xff\x80\""),
     VALID,
     {CH("Basic", {"realm", "caf\xc3\xa9 \xff\x80"})}},

    /* Malformed: the offset is the first byte no reading can take. */
    {"unterminated quote", IN("Basic realm=\"abc"), 16, {BARE("Basic")}},
    {"trailing backslash in quote", IN("Basic realm=\"abc\\"), 17, {BARE("Basic")}},
    {"unterminated quote keeps earlier params",
     IN("Basic realm=\"x\", Newauth realm=\"apps\", type=1, title=\"Login"),
     59,
     {CH("Basic", {"realm", "x"}), CH("Newauth", {"realm", "apps"}, {"type", "1"})}},
    {"lone equals", IN("="), 0, {NONE}},
    {"equals without name after scheme", IN("Basic =x"), 6, {BARE("Basic")}},
    {"equals without name after comma",
     IN("Basic realm=\"x\", =y"),
     17,
     {CH("Basic", {"realm", "x"})}},
    {"value missing at the end", IN("Basic a=b, realm="), 17, {CH("Basic", {"a", "b"})}},
    {"value missing before comma", IN("Basic a=b, realm=, c=d"), 17, {CH("Basic", {"a", "b"})}},
    {"value missing before OWS comma",
     IN("Basic a=b, realm= , c=d"),
     18,
     {CH("Basic", {"a", "b"})}},
    {"scheme then name and equals",
     IN("Basic realm=\"x\", Newauth="),
     25,
     {CH("Basic", {"realm", "x"})}},
    {"missing comma between params",
     IN("Basic realm=\"x\" charset=y"),
     16,
     {CH("Basic", {"realm", "x"})}},
    {"missing comma between challenges",
     IN("Basic realm=\"x\" Negotiate"),
     16,
     {CH("Basic", {"realm", "x"})}},
    {"junk glued to quoted value", IN("Basic realm=\"x\"y"), 15, {CH("Basic", {"realm", "x"})}},
    {"unquoted value with slash", IN("Digest nonce=abc/def"), 16, {CH("Digest", {"nonce", "abc"})}},
    {"scheme glued to quote", IN("Basic\"x\""), 5, {NONE}},
    {"quoted scheme", IN("\"Basic\" realm=x"), 0, {NONE}},
    {"NUL in scheme", IN("Bas\0ic realm=\"x\""), 3, {NONE}},
    {"NUL after scheme", IN("Negotiate\0, Basic"), 9, {NONE}},
    {"NUL in quoted value", IN("Basic realm=\"a\0b\""), 14, {BARE("Basic")}},
    {"NUL in token value", IN("Basic realm=a\0b"), 13, {CH("Basic", {"realm", "a"})}},
    {"NUL between challenges",
     IN("Basic realm=\"x\", \0, NTLM"),
     17,
     {CH("Basic", {"realm", "x"})}},
    {"non-ascii in name",
     IN("Basic r\xc3\xa9"
        "alm=\"x\""),
     7,
     {BARE("Basic")}},
    {"non-ascii in scheme", IN("B\xc3\xa1sic"), 1, {NONE}},
    {"DEL in quoted value", IN("Basic realm=\"a\x7f\""), 14, {BARE("Basic")}},
    {"control byte after backslash", IN("Basic realm=\"a\\\x01\""), 15, {BARE("Basic")}},
    {"CR LF after value", IN("Basic realm=\"x\"\r\n"), 15, {CH("Basic", {"realm", "x"})}},
    {"two token68 words", IN("Negotiate abc def"), 14, {BARE("Negotiate")}},
    /* The further of the two readings wins: token68 got to "ghi". */
    {"token68 slash then word", IN("Negotiate abc/def ghi"), 18, {BARE("Negotiate")}},
    /* A token68 challenge takes no params: realm is the next scheme. */
    {"param after token68", IN("Negotiate abc, realm=\"x\""), 20, {CH68("Negotiate", "abc")}},
    {"token68 after a param", IN("Basic realm=\"x\", abc=="), 21, {CH("Basic", {"realm", "x"})}},
    {"token68 after empty element", IN("Negotiate , abc=="), 16, {BARE("Negotiate")}},
};

static char *dup_exact(const char *in, size_t len)
{
	char *buf = malloc(len ? len : 1);

	cr_assert_not_null(buf);
	if (len)
		memcpy(buf, in, len);
	return buf;
}

static bool view_eq(struct challenge_view v, const char *want)
{
	size_t n = strlen(want);

	return v.len == n && (n == 0 || memcmp(v.p, want, n) == 0);
}

static bool view_in(struct challenge_view v, const char *s, size_t len)
{
	return v.p >= s && v.p <= s + len && v.len <= (size_t)(s + len - v.p);
}

static size_t count_challenges(const struct parse_case *tc)
{
	size_t n = 0;

	while (n < MAX_CHALLENGES && tc->ch[n].scheme)
		n++;
	return n;
}

static void check_challenge(const struct parse_case *tc, size_t i, const struct challenge *ch,
                            const char *buf)
{
	const struct want_challenge *w = &tc->ch[i];
	struct challenge_param p;
	size_t pos = 0, np = 0;
	char val[256];

	cr_expect(view_in(ch->scheme, buf, tc->len), "%s: #%zu: scheme outside the value", tc->name,
	          i);
	cr_expect(view_eq(ch->scheme, w->scheme), "%s: #%zu: scheme '%.*s', want '%s'", tc->name, i,
	          (int)ch->scheme.len, ch->scheme.p, w->scheme);
	if (w->token68) {
		cr_expect(ch->token68.p && view_eq(ch->token68, w->token68),
		          "%s: #%zu: token68 '%.*s', want '%s'", tc->name, i, (int)ch->token68.len,
		          ch->token68.p ? ch->token68.p : "", w->token68);
		cr_expect(view_in(ch->token68, buf, tc->len), "%s: token68 outside", tc->name);
	} else {
		cr_expect_null(ch->token68.p, "%s: #%zu: unexpected token68 '%.*s'", tc->name, i,
		               (int)ch->token68.len, ch->token68.p);
	}
	cr_expect(ch->params_at <= ch->params_end && ch->params_end <= tc->len,
	          "%s: #%zu: params range [%zu, %zu)", tc->name, i, ch->params_at, ch->params_end);
	while (challenge_param_next(ch, &pos, &p)) {
		if (np >= MAX_PARAMS || !w->params[np].name) {
			cr_expect_fail("%s: #%zu: extra param '%.*s'", tc->name, i, (int)p.name.len,
			               p.name.p);
			np++;
			break;
		}
		cr_expect(view_in(p.name, buf, tc->len) && view_in(p.value, buf, tc->len),
		          "%s: param outside the value", tc->name);
		cr_expect(view_eq(p.name, w->params[np].name),
		          "%s: #%zu: param %zu name '%.*s', want '%s'", tc->name, i, np,
		          (int)p.name.len, p.name.p, w->params[np].name);
		cr_assert_lt(p.value.len, sizeof(val));
		size_t n = challenge_unquote(&p, val, sizeof(val));
		cr_expect(n == strlen(w->params[np].value) &&
		              memcmp(val, w->params[np].value, n) == 0,
		          "%s: #%zu: param %s = '%.*s', want '%s'", tc->name, i, w->params[np].name,
		          (int)n, val, w->params[np].value);
		np++;
	}
	while (np < MAX_PARAMS && w->params[np].name) {
		cr_expect_fail("%s: #%zu: missing param '%s'", tc->name, i, w->params[np].name);
		np++;
	}
}

#define NCASES (sizeof(parse_cases) / sizeof(parse_cases[0]))

static void run_case(const struct parse_case *tc)
{
	char *buf = dup_exact(tc->in, tc->len);
	struct challenge_cursor c;
	struct challenge ch;
	size_t n = 0, want = count_challenges(tc);

	challenge_start(&c, buf, tc->len);
	while (challenge_next(&c, &ch)) {
		if (n < want)
			check_challenge(tc, n, &ch, buf);
		else
			cr_expect_fail("%s: extra challenge '%.*s'", tc->name, (int)ch.scheme.len,
			               ch.scheme.p);
		cr_assert_leq(n, tc->len, "%s: challenge_next does not stop", tc->name);
		n++;
	}
	cr_expect_eq(n, want, "%s: %zu challenges, want %zu", tc->name, n, want);
	if (tc->malformed_at == VALID) {
		cr_expect(!c.malformed, "%s: malformed at %zu, want valid", tc->name,
		          c.malformed_at);
	} else {
		cr_expect(c.malformed, "%s: not malformed, want malformed at %ld", tc->name,
		          tc->malformed_at);
		cr_expect_eq(c.malformed_at, (size_t)tc->malformed_at,
		             "%s: malformed at %zu, want %ld", tc->name, c.malformed_at,
		             tc->malformed_at);
	}
	cr_expect_eq(challenge_next(&c, &ch), 0, "%s: challenge_next after the end", tc->name);
	cr_expect_null(ch.scheme.p, "%s: *out not cleared at the end", tc->name);
	free(buf);
}

/* One test over the whole table, as in curl's unit1614.c.  Criterion 2.4's
 * ParameterizedTest is avoided on purpose: its runner leaks (LeakSanitizer
 * fails an ASan build) and pointers in parameters do not survive BoxFort's
 * re-exec of the worker. */
Test(challenge, parse_table)
{
	size_t i;

	for (i = 0; i < NCASES; i++)
		run_case(&parse_cases[i]);
}

static bool same_view(struct challenge_view a, struct challenge_view b)
{
	return a.p == b.p && a.len == b.len;
}

/* challenge_next_params(), with room for max params, against
 * challenge_next() and the param walk over the same value; buf holds
 * exactly len bytes. */
static void check_next_params(const char *what, const char *buf, size_t len, size_t max)
{
	struct challenge_cursor a, b;
	struct challenge ca, cb;
	struct challenge_param kept[MAX_PARAMS + 1], p;
	int ra, rb;

	cr_assert_leq(max, MAX_PARAMS + 1);
	challenge_start(&a, buf, len);
	challenge_start(&b, buf, len);
	do {
		size_t n = 12345, pos = 0, k = 0;

		ra = challenge_next(&a, &ca);
		rb = challenge_next_params(&b, &cb, kept, max, &n);
		cr_assert_eq(ra, rb, "%s, max %zu: %d, want %d", what, max, rb, ra);
		cr_expect(same_view(ca.scheme, cb.scheme) && same_view(ca.token68, cb.token68) &&
		              ca.params_at == cb.params_at && ca.params_end == cb.params_end &&
		              ca.s == cb.s,
		          "%s, max %zu: another challenge", what, max);
		cr_expect(a.pos == b.pos && a.malformed == b.malformed &&
		              a.malformed_at == b.malformed_at,
		          "%s, max %zu: another cursor", what, max);
		while (challenge_param_next(&ca, &pos, &p)) {
			if (k < max)
				cr_expect(same_view(p.name, kept[k].name) &&
				              same_view(p.value, kept[k].value) &&
				              p.quoted == kept[k].quoted,
				          "%s, max %zu: param %zu differs", what, max, k);
			k++;
		}
		cr_expect_eq(n, k, "%s, max %zu: %zu params, want %zu", what, max, n, k);
	} while (ra);
}

Test(challenge, next_params_match_the_param_walk)
{
	for (size_t i = 0; i < NCASES; i++) {
		const struct parse_case *tc = &parse_cases[i];
		char *buf = dup_exact(tc->in, tc->len);

		for (size_t max = 0; max <= MAX_PARAMS + 1; max += max < 2 ? 1 : MAX_PARAMS - 1)
			check_next_params(tc->name, buf, tc->len, max);
		free(buf);
	}
}

Test(challenge, views_point_into_the_value)
{
	static const char in[] = "Newauth realm=\"apps\", title=\"Login to \\\"apps\\\"\"";
	char *buf = dup_exact(in, sizeof(in) - 1);
	struct challenge_cursor c;
	struct challenge ch;
	struct challenge_param p;
	size_t pos = 0;

	challenge_start(&c, buf, sizeof(in) - 1);
	cr_assert_eq(challenge_next(&c, &ch), 1);
	cr_expect_eq(ch.s, buf);
	cr_expect_eq(ch.scheme.p, buf);
	cr_assert_eq(challenge_param_next(&ch, &pos, &p), 1);
	cr_expect_eq(p.name.p, buf + 8);
	cr_expect_eq(p.value.p, buf + 15, "the view is the inside of the quotes");
	cr_expect_eq(p.value.len, 4);
	cr_expect(p.quoted);
	cr_assert_eq(challenge_param_next(&ch, &pos, &p), 1);
	cr_expect(view_eq(p.value, "Login to \\\"apps\\\""), "escapes stay in the view");
	cr_expect(p.quoted);
	cr_expect_eq(challenge_param_next(&ch, &pos, &p), 0);
	cr_expect_eq(challenge_param_next(&ch, &pos, &p), 0, "stays at the end");
	free(buf);
}

Test(challenge, unquoted_token_value)
{
	static const char in[] = "Newauth type=1";
	struct challenge_cursor c;
	struct challenge ch;
	struct challenge_param p;
	size_t pos = 0;

	challenge_start(&c, in, sizeof(in) - 1);
	cr_assert_eq(challenge_next(&c, &ch), 1);
	cr_assert_eq(challenge_param_next(&ch, &pos, &p), 1);
	cr_expect_not(p.quoted);
	cr_expect(view_eq(p.value, "1"));
}

Test(challenge, token68_has_no_params)
{
	static const char in[] = "Negotiate abc==";
	struct challenge_cursor c;
	struct challenge ch;
	struct challenge_param p;
	size_t pos = 0;

	challenge_start(&c, in, sizeof(in) - 1);
	cr_assert_eq(challenge_next(&c, &ch), 1);
	cr_expect_eq(challenge_param_next(&ch, &pos, &p), 0);
}

Test(challenge, zeroed_and_null_inputs)
{
	struct challenge_cursor c;
	struct challenge ch;
	struct challenge_param p;
	size_t pos = 0;

	memset(&ch, 0, sizeof(ch));
	cr_expect_eq(challenge_param_next(&ch, &pos, &p), 0);
	challenge_start(&c, NULL, 10);
	cr_expect_eq(challenge_next(&c, &ch), 0);
	cr_expect_not(c.malformed);
}

/* A hand-made challenge whose range cuts a param in half must not lead the
 * param walk outside it. */
Test(challenge, param_range_is_respected)
{
	static const char in[] = "Basic realm=\"xyz\", a=b";
	struct challenge ch;
	struct challenge_param p;
	size_t pos = 0;

	memset(&ch, 0, sizeof(ch));
	ch.s = in;
	ch.params_at = 6;
	ch.params_end = 14;
	cr_expect_eq(challenge_param_next(&ch, &pos, &p), 0);
	ch.params_end = 18;
	cr_expect_eq(challenge_param_next(&ch, &pos, &p), 0, "pos was left at the end");
	pos = 0;
	cr_expect_eq(challenge_param_next(&ch, &pos, &p), 1);
	cr_expect_eq(challenge_param_next(&ch, &pos, &p), 0);
}

Test(challenge, malformed_partial_then_sticky)
{
	static const char in[] = "Basic realm=\"x\", Bearer error=\"a, Digest realm=y";
	struct challenge_cursor c;
	struct challenge ch;

	challenge_start(&c, in, sizeof(in) - 1);
	cr_assert_eq(challenge_next(&c, &ch), 1);
	cr_expect(challenge_view_is(ch.scheme, "basic"));
	cr_assert_eq(challenge_next(&c, &ch), 1);
	cr_expect(challenge_view_is(ch.scheme, "bearer"));
	cr_expect_eq(challenge_next(&c, &ch), 0);
	cr_expect(c.malformed);
	cr_expect_eq(c.malformed_at, sizeof(in) - 1);
	cr_expect_eq(challenge_next(&c, &ch), 0);
	cr_expect(c.malformed);
}

static struct challenge_param quoted_param(const char *inside)
{
	struct challenge_param p = {{"x", 1}, {inside, strlen(inside)}, true};

	return p;
}

Test(challenge, unquote_snprintf_semantics)
{
	struct challenge_param p = quoted_param("Login to \\\"apps\\\"");
	char buf[32];

	/* Login to "apps" is 15 bytes. */
	memset(buf, '#', sizeof(buf));
	cr_expect_eq(challenge_unquote(&p, buf, sizeof(buf)), 15);
	cr_expect_str_eq(buf, "Login to \"apps\"");
	cr_expect_eq(buf[16], '#', "wrote past the NUL");

	memset(buf, '#', sizeof(buf));
	cr_expect_eq(challenge_unquote(&p, buf, 16), 15, "exact fit");
	cr_expect_str_eq(buf, "Login to \"apps\"");

	memset(buf, '#', sizeof(buf));
	cr_expect_eq(challenge_unquote(&p, buf, 15), 15, "one short");
	cr_expect_str_eq(buf, "Login to \"apps");
	cr_expect_eq(buf[15], '#');

	memset(buf, '#', sizeof(buf));
	cr_expect_eq(challenge_unquote(&p, buf, 5), 15);
	cr_expect_str_eq(buf, "Logi");
	cr_expect_eq(buf[5], '#');

	memset(buf, '#', sizeof(buf));
	cr_expect_eq(challenge_unquote(&p, buf, 1), 15);
	cr_expect_eq(buf[0], '\0');
	cr_expect_eq(buf[1], '#');

	memset(buf, '#', sizeof(buf));
	cr_expect_eq(challenge_unquote(&p, buf, 0), 15, "size 0 still counts");
	cr_expect_eq(buf[0], '#', "size 0 writes nothing");
	cr_expect_eq(challenge_unquote(&p, NULL, 0), 15, "NULL with size 0");
}

Test(challenge, unquote_cases)
{
	struct challenge_param p;
	char buf[16];

	p = quoted_param("a\\\\b\\c");
	cr_expect_eq(challenge_unquote(&p, buf, sizeof(buf)), 4);
	cr_expect_str_eq(buf, "a\\bc");

	p = quoted_param("");
	memset(buf, '#', sizeof(buf));
	cr_expect_eq(challenge_unquote(&p, buf, sizeof(buf)), 0);
	cr_expect_eq(buf[0], '\0');

	/* A token is copied as it is; it cannot hold "\" anyway. */
	p = quoted_param("a\\b");
	p.quoted = false;
	cr_expect_eq(challenge_unquote(&p, buf, sizeof(buf)), 3);
	cr_expect_str_eq(buf, "a\\b");

	/* A trailing lone "\" cannot come from the parser; it is kept. */
	p = quoted_param("ab\\");
	cr_expect_eq(challenge_unquote(&p, buf, sizeof(buf)), 3);
	cr_expect_str_eq(buf, "ab\\");

	p.value.p = NULL;
	p.value.len = 0;
	cr_expect_eq(challenge_unquote(&p, buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "");
}

static struct challenge_view view_of(const char *s, size_t len)
{
	struct challenge_view v = {s, len};

	return v;
}

Test(challenge, view_is)
{
	cr_expect(challenge_view_is(view_of("Bearer", 6), "bearer"));
	cr_expect(challenge_view_is(view_of("BEARER", 6), "bearer"));
	cr_expect(challenge_view_is(view_of("bearer", 6), "BeArEr"));
	cr_expect(challenge_view_is(view_of("Bearer realm", 6), "bearer"), "only len bytes");
	cr_expect_not(challenge_view_is(view_of("Bearer", 6), "bear"));
	cr_expect_not(challenge_view_is(view_of("Bear", 4), "bearer"));
	cr_expect_not(challenge_view_is(view_of("Bearex", 6), "bearer"));
	cr_expect(challenge_view_is(view_of("", 0), ""));
	cr_expect(challenge_view_is(view_of(NULL, 0), ""));
	cr_expect_not(challenge_view_is(view_of(NULL, 0), "basic"));
	cr_expect_not(challenge_view_is(view_of(NULL, 3), "abc"));
	cr_expect_not(challenge_view_is(view_of("abc", 3), NULL));
	cr_expect_not(challenge_view_is(view_of("a\0", 2), "a"), "NUL in the view");
	cr_expect_not(challenge_view_is(view_of("\xc3", 1), "\xe3"), "no folding above ASCII");
	cr_expect_not(challenge_view_is(view_of("[", 1), "{"), "only letters fold");
	cr_expect_not(challenge_view_is(view_of("@", 1), "`"));
}

/* Long values, built at run time.  (No Criterion .timeout: in 2.4 it leaks
 * in the runner when tests run in parallel, which fails ASan builds.) */
static char *repeat(const char *head, const char *unit, size_t times, const char *tail, size_t *len)
{
	size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail), i;
	char *buf;

	*len = hl + ul * times + tl;
	buf = malloc(*len ? *len : 1);
	cr_assert_not_null(buf);
	memcpy(buf, head, hl);
	for (i = 0; i < times; i++)
		memcpy(buf + hl + i * ul, unit, ul);
	memcpy(buf + hl + ul * times, tail, tl);
	return buf;
}

Test(challenge, long_value_many_params)
{
	struct challenge_cursor c;
	struct challenge ch;
	struct challenge_param p;
	size_t len, pos = 0, n = 0;
	char *buf = repeat("Digest ", "a=b, ", 20000, "last=\"end\", Basic", &len);

	cr_assert_geq(len, 100000);
	challenge_start(&c, buf, len);
	cr_assert_eq(challenge_next(&c, &ch), 1);
	while (challenge_param_next(&ch, &pos, &p)) {
		n++;
		if (n <= 20000)
			cr_assert(view_eq(p.name, "a") && view_eq(p.value, "b"), "param %zu", n);
		else
			cr_assert(view_eq(p.name, "last") && view_eq(p.value, "end") && p.quoted);
	}
	cr_expect_eq(n, 20001);
	cr_assert_eq(challenge_next(&c, &ch), 1);
	cr_expect(view_eq(ch.scheme, "Basic"));
	cr_expect_eq(challenge_next(&c, &ch), 0);
	cr_expect_not(c.malformed);
	free(buf);
}

/* A rescan per param would be quadratic: a million params would then never
 * finish, and meson's timeout fails the test.  No time is measured here. */
Test(challenge, a_million_params_and_challenges)
{
	struct challenge_cursor c;
	struct challenge ch;
	struct challenge_param p;
	size_t n = 1000000, len, mlen, pos = 0, k;
	char *buf = repeat("Digest ", "a=b, ", n, "", &len);
	char *many = repeat("", "A, ", n, "", &mlen);

	challenge_start(&c, buf, len);
	cr_assert_eq(challenge_next(&c, &ch), 1);
	for (k = 0; challenge_param_next(&ch, &pos, &p); k++)
		;
	cr_expect_eq(k, n);
	cr_expect_eq(challenge_next(&c, &ch), 0);
	challenge_start(&c, many, mlen);
	for (k = 0; challenge_next(&c, &ch); k++)
		;
	cr_expect_eq(k, n);
	free(buf);
	free(many);
}

Test(challenge, long_value_numbered_params)
{
	struct challenge_cursor c;
	struct challenge ch;
	struct challenge_param p;
	size_t len = 0, cap = 8000 * 24, pos = 0, n = 0;
	char *buf = malloc(cap), name[32], value[32], got[32];

	cr_assert_not_null(buf);
	len = (size_t)snprintf(buf, cap, "Newauth ");
	while (len + 40 < cap && n < 8000) {
		len += (size_t)snprintf(buf + len, cap - len, "n%zu = \"v\\%zu\" ,", n, n);
		n++;
	}
	challenge_start(&c, buf, len);
	cr_assert_eq(challenge_next(&c, &ch), 1);
	n = 0;
	while (challenge_param_next(&ch, &pos, &p)) {
		snprintf(name, sizeof(name), "n%zu", n);
		snprintf(value, sizeof(value), "v%zu", n);
		cr_assert(view_eq(p.name, name), "param %zu", n);
		cr_assert_lt(challenge_unquote(&p, got, sizeof(got)), sizeof(got));
		cr_assert_str_eq(got, value);
		n++;
	}
	cr_expect_eq(n, 8000);
	cr_expect_eq(challenge_next(&c, &ch), 0);
	cr_expect_not(c.malformed);
	free(buf);
}

Test(challenge, long_value_many_challenges)
{
	struct challenge_cursor c;
	struct challenge ch;
	size_t len, n = 0;
	char *buf = repeat("", "Negotiate, NTLM abc=, ", 5000, "Basic", &len);

	challenge_start(&c, buf, len);
	while (challenge_next(&c, &ch))
		n++;
	cr_expect_eq(n, 10001);
	cr_expect_not(c.malformed);
	free(buf);
}

Test(challenge, long_runs)
{
	struct challenge_cursor c;
	struct challenge ch;
	struct challenge_param p;
	size_t len, pos = 0;
	char *buf;

	/* 100 KiB of SP between scheme and token68. */
	buf = repeat("Negotiate", " ", 100000, "abc==", &len);
	challenge_start(&c, buf, len);
	cr_assert_eq(challenge_next(&c, &ch), 1);
	cr_expect(view_eq(ch.token68, "abc=="));
	cr_expect_eq(challenge_next(&c, &ch), 0);
	cr_expect_not(c.malformed);
	free(buf);

	/* A 100 KiB token68 candidate that turns out to be neither reading. */
	buf = repeat("Basic ", "a", 100000, "\"", &len);
	challenge_start(&c, buf, len);
	cr_assert_eq(challenge_next(&c, &ch), 1);
	cr_expect_eq(challenge_next(&c, &ch), 0);
	cr_expect(c.malformed);
	cr_expect_eq(c.malformed_at, len - 1);
	free(buf);

	/* 50,000 escaped quotes. */
	buf = repeat("Basic realm=\"", "\\\"", 50000, "\"", &len);
	challenge_start(&c, buf, len);
	cr_assert_eq(challenge_next(&c, &ch), 1);
	cr_assert_eq(challenge_param_next(&ch, &pos, &p), 1);
	cr_expect_eq(challenge_unquote(&p, NULL, 0), 50000);
	cr_expect_not(c.malformed);
	free(buf);

	/* Nothing but empty elements. */
	buf = repeat("", ", \t", 50000, "", &len);
	challenge_start(&c, buf, len);
	cr_expect_eq(challenge_next(&c, &ch), 0);
	cr_expect_not(c.malformed);
	free(buf);
}

/* Random inputs with a fixed seed.  Generated valid values must parse back to
 * what was generated; mutated and random ones must keep the invariants and
 * re-serialize to a value that parses to the same challenges. */
static uint64_t rng_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t rng_below(uint64_t *s, size_t n)
{
	return (size_t)(rng_next(s) % n);
}

struct strbuf {
	char *p;
	size_t len, cap;
};

static void sb_put(struct strbuf *b, const char *p, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		cr_assert_not_null(b->p);
	}
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void sb_puts(struct strbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

static void sb_view(struct strbuf *b, struct challenge_view v)
{
	sb_put(b, v.p, v.len);
}

#define GEN_CHALLENGES 5
#define GEN_PARAMS 5

struct gen_param {
	char name[12];
	char value[40]; /* as sent: escapes in */
	bool quoted;
};

struct gen_challenge {
	char scheme[12];
	char token68[24];
	int nparams;
	struct gen_param params[GEN_PARAMS];
};

static void gen_from(uint64_t *s, char *out, size_t max, const char *alphabet)
{
	size_t n = 1 + rng_below(s, max - 1), k = strlen(alphabet), i;

	for (i = 0; i < n; i++)
		out[i] = alphabet[rng_below(s, k)];
	out[n] = '\0';
}

static const char tchars[] =
    "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
static const char t68chars[] = "-._~+/0123456789abcdefXYZ";

static void gen_quoted(uint64_t *s, char *out, size_t max)
{
	static const char *const pieces[] = {
	    "a", "Z", " ", "\t", ",", "=", "\\\"", "\\\\", "\\a", "\xc3\xa9", "\xff", "'", "~",
	};
	size_t n = 0, k;

	while (n + 3 < max && rng_below(s, 8)) {
		const char *piece = pieces[rng_below(s, sizeof(pieces) / sizeof(pieces[0]))];

		k = strlen(piece);
		if (n + k + 1 > max)
			break;
		memcpy(out + n, piece, k);
		n += k;
	}
	out[n] = '\0';
}

static void gen_ows(uint64_t *s, struct strbuf *b, size_t min)
{
	size_t n = min + rng_below(s, 3);

	while (n--)
		sb_puts(b, rng_below(s, 3) ? " " : "\t");
}

static void gen_sep(uint64_t *s, struct strbuf *b)
{
	gen_ows(s, b, 0);
	sb_puts(b, ",");
	while (!rng_below(s, 4)) {
		gen_ows(s, b, 0);
		sb_puts(b, ",");
	}
	gen_ows(s, b, 0);
}

static int gen_value(uint64_t *s, struct gen_challenge *g, struct strbuf *b)
{
	int n = 1 + (int)rng_below(s, GEN_CHALLENGES), i, j;

	if (!rng_below(s, 3))
		gen_sep(s, b);
	for (i = 0; i < n; i++) {
		struct gen_challenge *c = &g[i];

		memset(c, 0, sizeof(*c));
		if (i)
			gen_sep(s, b);
		gen_from(s, c->scheme, sizeof(c->scheme), tchars);
		sb_puts(b, c->scheme);
		switch (rng_below(s, 3)) {
		case 0:
			break;
		case 1:
			gen_from(s, c->token68, sizeof(c->token68) - 3, t68chars);
			strcat(c->token68, &"=="[rng_below(s, 3) % 3 == 0 ? 0 : 2]);
			gen_ows(s, b, 1);
			sb_puts(b, c->token68);
			if (rng_below(s, 2))
				gen_ows(s, b, 0);
			break;
		default:
			c->nparams = 1 + (int)rng_below(s, GEN_PARAMS);
			gen_ows(s, b, 1);
			for (j = 0; j < c->nparams; j++) {
				struct gen_param *p = &c->params[j];

				if (j)
					gen_sep(s, b);
				gen_from(s, p->name, sizeof(p->name), tchars);
				sb_puts(b, p->name);
				gen_ows(s, b, 0);
				sb_puts(b, "=");
				gen_ows(s, b, 0);
				p->quoted = rng_below(s, 2);
				if (p->quoted) {
					gen_quoted(s, p->value, sizeof(p->value));
					sb_puts(b, "\"");
					sb_puts(b, p->value);
					sb_puts(b, "\"");
				} else {
					gen_from(s, p->value, sizeof(p->value), tchars);
					sb_puts(b, p->value);
				}
			}
			break;
		}
	}
	if (!rng_below(s, 3))
		gen_sep(s, b);
	else if (!rng_below(s, 3))
		gen_ows(s, b, 1);
	return n;
}

Test(challenge, random_valid_values_parse_back)
{
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	struct gen_challenge g[GEN_CHALLENGES];
	struct strbuf b = {0};
	int iter;

	for (iter = 0; iter < 20000; iter++) {
		struct challenge_cursor c;
		struct challenge ch;
		struct challenge_param p;
		char *buf;
		int n, i = 0, j;
		size_t pos;

		b.len = 0;
		n = gen_value(&seed, g, &b);
		buf = dup_exact(b.p, b.len);
		challenge_start(&c, buf, b.len);
		while (challenge_next(&c, &ch)) {
			cr_assert_lt(i, n, "iter %d: extra challenge in '%.*s'", iter, (int)b.len,
			             buf);
			cr_assert(view_eq(ch.scheme, g[i].scheme), "iter %d: scheme in '%.*s'",
			          iter, (int)b.len, buf);
			if (g[i].token68[0])
				cr_assert(ch.token68.p && view_eq(ch.token68, g[i].token68),
				          "iter %d: token68 in '%.*s'", iter, (int)b.len, buf);
			else
				cr_assert_null(ch.token68.p, "iter %d: token68 in '%.*s'", iter,
				               (int)b.len, buf);
			pos = 0;
			j = 0;
			while (challenge_param_next(&ch, &pos, &p)) {
				cr_assert_lt(j, g[i].nparams, "iter %d: extra param in '%.*s'",
				             iter, (int)b.len, buf);
				cr_assert(view_eq(p.name, g[i].params[j].name) &&
				              view_eq(p.value, g[i].params[j].value) &&
				              p.quoted == g[i].params[j].quoted,
				          "iter %d: param %d of #%d in '%.*s'", iter, j, i,
				          (int)b.len, buf);
				j++;
			}
			cr_assert_eq(j, g[i].nparams, "iter %d: params of #%d in '%.*s'", iter, i,
			             (int)b.len, buf);
			i++;
		}
		cr_assert_eq(i, n, "iter %d: challenges in '%.*s'", iter, (int)b.len, buf);
		cr_assert_not(c.malformed, "iter %d: malformed at %zu in '%.*s'", iter,
		              c.malformed_at, (int)b.len, buf);
		free(buf);
	}
	free(b.p);
}

static bool is_tchar_byte(unsigned char ch)
{
	return ch && strchr(tchars, ch);
}

/* Writes the challenges of a value in a canonical form. */
static void canonical(const char *buf, size_t len, struct strbuf *out)
{
	struct challenge_cursor c;
	struct challenge ch;
	struct challenge_param p;
	size_t pos, np;
	bool first = true;

	out->len = 0;
	challenge_start(&c, buf, len);
	while (challenge_next(&c, &ch)) {
		if (!first)
			sb_puts(out, ", ");
		first = false;
		sb_view(out, ch.scheme);
		if (ch.token68.p) {
			sb_puts(out, " ");
			sb_view(out, ch.token68);
		}
		pos = 0;
		np = 0;
		while (challenge_param_next(&ch, &pos, &p)) {
			sb_puts(out, np++ ? ", " : " ");
			sb_view(out, p.name);
			sb_puts(out, "=");
			if (p.quoted)
				sb_puts(out, "\"");
			sb_view(out, p.value);
			if (p.quoted)
				sb_puts(out, "\"");
		}
	}
}

/* Checks what holds for any input, and returns the number of challenges. */
static size_t check_invariants(const char *buf, size_t len, uint64_t iter)
{
	struct challenge_cursor c;
	struct challenge ch;
	struct challenge_param p;
	const char *last = buf;
	size_t n = 0, pos, i;
	char small[3];

	challenge_start(&c, buf, len);
	while (challenge_next(&c, &ch)) {
		cr_assert_leq(n, len, "iter %" PRIu64 ": no progress", iter);
		cr_assert(ch.scheme.len > 0 && view_in(ch.scheme, buf, len) && ch.scheme.p >= last,
		          "iter %" PRIu64 ": scheme", iter);
		for (i = 0; i < ch.scheme.len; i++)
			cr_assert(is_tchar_byte(ch.scheme.p[i]), "iter %" PRIu64 ": scheme byte",
			          iter);
		last = ch.scheme.p + ch.scheme.len;
		if (ch.token68.p) {
			cr_assert(ch.token68.len > 0 && view_in(ch.token68, buf, len) &&
			              ch.token68.p >= last,
			          "iter %" PRIu64 ": token68", iter);
			last = ch.token68.p + ch.token68.len;
		}
		cr_assert(ch.s == buf && ch.params_at <= ch.params_end && ch.params_end <= len,
		          "iter %" PRIu64 ": range", iter);
		pos = 0;
		while (challenge_param_next(&ch, &pos, &p)) {
			cr_assert_null(ch.token68.p, "iter %" PRIu64 ": params and token68", iter);
			cr_assert(p.name.len > 0 && p.name.p >= last && p.value.p >= p.name.p &&
			              p.value.p + p.value.len <= buf + ch.params_end,
			          "iter %" PRIu64 ": param views", iter);
			for (i = 0; i < p.name.len; i++)
				cr_assert(is_tchar_byte(p.name.p[i]), "iter %" PRIu64 ": name byte",
				          iter);
			last = p.value.p + p.value.len;
			i = challenge_unquote(&p, small, sizeof(small));
			cr_assert_leq(i, p.value.len);
			cr_assert_eq(small[i < sizeof(small) ? i : sizeof(small) - 1], '\0');
		}
		n++;
	}
	cr_assert_leq(c.malformed_at, len, "iter %" PRIu64 ": malformed_at", iter);
	cr_assert_eq(challenge_next(&c, &ch), 0);
	return n;
}

/* Parses a and b side by side: same schemes, token68s and params. */
static void check_same(const char *a, size_t alen, const char *b, size_t blen, uint64_t iter)
{
	struct challenge_cursor ca, cb;
	struct challenge x, y;
	struct challenge_param px, py;
	size_t posx, posy;
	int rx, ry;

	challenge_start(&ca, a, alen);
	challenge_start(&cb, b, blen);
	for (;;) {
		rx = challenge_next(&ca, &x);
		ry = challenge_next(&cb, &y);
		cr_assert_eq(rx, ry, "iter %" PRIu64 ": '%.*s' vs '%.*s'", iter, (int)alen, a,
		             (int)blen, b);
		if (!rx)
			break;
		cr_assert(x.scheme.len == y.scheme.len &&
		              !memcmp(x.scheme.p, y.scheme.p, x.scheme.len),
		          "iter %" PRIu64 ": scheme", iter);
		cr_assert_eq(!x.token68.p, !y.token68.p, "iter %" PRIu64, iter);
		if (x.token68.p)
			cr_assert(x.token68.len == y.token68.len &&
			          !memcmp(x.token68.p, y.token68.p, x.token68.len));
		posx = posy = 0;
		for (;;) {
			rx = challenge_param_next(&x, &posx, &px);
			ry = challenge_param_next(&y, &posy, &py);
			cr_assert_eq(rx, ry, "iter %" PRIu64 ": params of '%.*s' vs '%.*s'", iter,
			             (int)alen, a, (int)blen, b);
			if (!rx)
				break;
			cr_assert(px.name.len == py.name.len &&
			              !memcmp(px.name.p, py.name.p, px.name.len) &&
			              px.value.len == py.value.len &&
			              !memcmp(px.value.p, py.value.p, px.value.len) &&
			              px.quoted == py.quoted,
			          "iter %" PRIu64 ": param", iter);
		}
	}
	cr_assert_not(cb.malformed, "iter %" PRIu64 ": canonical form '%.*s' is malformed at %zu",
	              iter, (int)blen, b, cb.malformed_at);
}

Test(challenge, random_inputs_keep_invariants)
{
	static const char *const pieces[] = {
	    "Basic", "realm",   "a",          "Z9", "=",    "==",   "\"",    "\\",
	    ",",     " ",       "\t",         "\0", "\x80", "\xff", "/",     "+",
	    "!",     "\"x,y\"", "\"a\\\"b\"", "\r", "\x7f", "\x01", "abc==",
	};
	uint64_t seed = 0x1234567887654321ull, iter;
	struct gen_challenge g[GEN_CHALLENGES];
	struct strbuf in = {0}, canon = {0};

	for (iter = 0; iter < 60000; iter++) {
		char *buf;
		size_t k;

		in.len = 0;
		switch (iter % 3) {
		case 0:
			/* Valid values with a few bytes replaced, cut or inserted. */
			gen_value(&seed, g, &in);
			for (k = 1 + rng_below(&seed, 3); k && in.len; k--) {
				size_t at = rng_below(&seed, in.len);
				const char *piece =
				    pieces[rng_below(&seed, sizeof(pieces) / sizeof(pieces[0]))];

				if (rng_below(&seed, 4) == 0)
					in.len = at;
				else
					in.p[at] = piece[0];
			}
			break;
		case 1:
			/* Pieces glued at random. */
			for (k = rng_below(&seed, 24); k; k--) {
				size_t pi = rng_below(&seed, sizeof(pieces) / sizeof(pieces[0]));

				sb_put(&in, pieces[pi], pi == 11 ? 1 : strlen(pieces[pi]));
			}
			break;
		default:
			/* Raw bytes. */
			for (k = rng_below(&seed, 32); k; k--) {
				char ch = (char)rng_below(&seed, 256);

				sb_put(&in, &ch, 1);
			}
			break;
		}
		buf = dup_exact(in.p ? in.p : "", in.len);
		check_invariants(buf, in.len, iter);
		check_next_params("random input", buf, in.len, (size_t)iter % 4);
		canonical(buf, in.len, &canon);
		{
			char *cbuf = dup_exact(canon.p ? canon.p : "", canon.len);

			check_same(buf, in.len, cbuf, canon.len, iter);
			free(cbuf);
		}
		free(buf);
	}
	free(in.p);
	free(canon.p);
}
