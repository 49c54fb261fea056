/* The body carry scan: a value is found exactly (not inside a longer one),
 * as written or JSON-escaped, in a plain body or in event-stream data
 * lines, the same for every split of the body. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "carry.h"
#include "fpm_capture.h"

#define IN(s) s, sizeof(s) - 1

#define RM "https://mcp.example/.well-known/oauth-protected-resource"
#define RM_ESC "https:\\/\\/mcp.example\\/.well-known\\/oauth-protected-resource"
#define CH "Bearer resource_metadata=\"" RM "\""

struct carry_case {
	const char *name;
	enum carry_framing framing;
	const char *in;
	size_t len;
	size_t limit;        /* 0: the default */
	bool ended;          /* carry_end after the body */
	unsigned want;       /* bit 0: the challenge CH, bit 1: the URL RM */
	const char *needle2; /* instead of CH, when set */
};

#define BOTH 3u
#define CHAL 1u
#define URL 2u

static const struct carry_case cases[] = {
    {"json-rpc error, escaped challenge", CARRY_PLAIN,
     IN("{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32001,\"message\":\"Unauthorized\","
        "\"data\":{\"wwwAuthenticate\":\"Bearer resource_metadata=\\\"" RM "\\\"\"}}}"),
     0, true, BOTH, NULL},
    {"the same, the body not yet ended", CARRY_PLAIN,
     IN("{\"error\":{\"data\":{\"wwwAuthenticate\":\"Bearer resource_metadata=\\\"" RM "\\\"\"}}}"),
     0, false, BOTH, NULL},
    {"slashes escaped too", CARRY_PLAIN,
     IN("{\"wwwAuthenticate\":\"Bearer resource_metadata=\\\"" RM_ESC "\\\"\"}"), 0, true, BOTH,
     NULL},
    {"only the url, as a field", CARRY_PLAIN, IN("{\"resource_metadata\":\"" RM_ESC "\"}"), 0, true,
     URL, NULL},
    {"unicode escapes", CARRY_PLAIN,
     IN("{\"w\":\"\\u0042earer resource_metadata=\\u0022https:\\u002f/mcp.example/"
        ".well-known/oauth-protected-resource\\u0022\"}"),
     0, true, BOTH, NULL},
    {"json inside a json string (a tool result's text)", CARRY_PLAIN,
     IN("{\"content\":[{\"type\":\"text\",\"text\":\"{\\\"wwwAuthenticate\\\":\\\"Bearer "
        "resource_metadata=\\\\\\\"" RM "\\\\\\\"\\\"}\"}]}"),
     0, true, BOTH, NULL},
    {"raw header text in an html body", CARRY_PLAIN, IN("<pre>WWW-Authenticate: " CH "\r\n</pre>"),
     0, true, BOTH, NULL},
    {"a challenge in prose", CARRY_PLAIN, IN("{\"message\":\"upstream said " CH " (401)\"}"), 0,
     true, BOTH, NULL},
    {"the whole body is the challenge, ended", CARRY_PLAIN, IN(CH), 0, true, BOTH, NULL},
    {"the whole body is the challenge, not ended", CARRY_PLAIN, IN(CH), 0, false, URL, NULL},
    {"a longer url", CARRY_PLAIN, IN("{\"resource_metadata\":\"" RM "2\"}"), 0, true, 0, NULL},
    {"a longer path", CARRY_PLAIN, IN("{\"resource_metadata\":\"" RM "/mcp\"}"), 0, true, 0, NULL},
    {"a url with a query", CARRY_PLAIN, IN("see " RM "?x=1 "), 0, true, 0, NULL},
    {"the url inside another url", CARRY_PLAIN, IN("\"https://evil.example/?u=" RM "\""), 0, true,
     0, NULL},
    {"the url after a scheme-like prefix", CARRY_PLAIN, IN("x" RM " "), 0, true, 0, NULL},
    {"a challenge with more params", CARRY_PLAIN, IN("\"" CH ", error=\"invalid_token\"\""), 0,
     true, URL, NULL},
    {"a challenge, spaces, then more", CARRY_PLAIN, IN("\"" CH " \t, Basic realm=x\""), 0, true,
     URL, NULL},
    {"a challenge glued to a longer scheme", CARRY_PLAIN, IN("\"X" CH "\""), 0, true, URL, NULL},
    {"a challenge glued to more text", CARRY_PLAIN, IN("\"" CH "x\""), 0, true, URL, NULL},
    {"token68: a longer token", CARRY_PLAIN, IN("Basic abcd"), 0, true, 0, "Basic abc"},
    {"token68: padding follows", CARRY_PLAIN, IN("Basic abc="), 0, true, 0, "Basic abc"},
    {"token68: exact", CARRY_PLAIN, IN("\"Basic abc\""), 0, true, CHAL, "Basic abc"},
    {"utf-8 from a surrogate pair", CARRY_PLAIN,
     IN("{\"w\":\"Bearer realm=\\\"\\ud83d\\ude00\\\"\"}"), 0, true, CHAL,
     "Bearer realm=\"\xf0\x9f\x98\x80\""},
    {"a lone surrogate is not the character", CARRY_PLAIN,
     IN("{\"w\":\"Bearer realm=\\\"\\ud83d\\\"\"}"), 0, true, 0,
     "Bearer realm=\"\xf0\x9f\x98\x80\""},
    {"an escape cut by the end", CARRY_PLAIN, IN("\"" RM_ESC "\\"), 0, true, 0, NULL},
    {"a backslash that escapes nothing stands for itself", CARRY_PLAIN, IN(RM_ESC "\\q"), 0, true,
     URL, NULL},
    {"the limit cuts right after the url", CARRY_PLAIN, IN("{\"r\":\"" RM "\"}"),
     sizeof("{\"r\":\"" RM) - 1, true, 0, NULL},
    {"the limit leaves one byte after it", CARRY_PLAIN, IN("{\"r\":\"" RM "\"}"),
     sizeof("{\"r\":\"" RM "\"") - 1, true, URL, NULL},
    {"the body ends at the limit", CARRY_PLAIN, IN("{\"r\":\"" RM), sizeof("{\"r\":\"" RM) - 1,
     true, URL, NULL},
    {"nothing", CARRY_PLAIN, "", 0, 0, true, 0, NULL},
    {"sse: php-fpm's event", CARRY_SSE,
     IN("event: message\n"
        "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32001,\"data\":{"
        "\"wwwAuthenticate\":\"Bearer resource_metadata=\\\"" RM_ESC "\\\"\"}}}\n\n"),
     0, false, BOTH, NULL},
    {"sse: no space after the colon, CRLF", CARRY_SSE, IN("data:" RM "\r\n\r\n"), 0, false, URL,
     NULL},
    {"sse: lone CR ends the line", CARRY_SSE, IN("data:" RM "\rdata: x\r"), 0, false, URL, NULL},
    {"sse: the last line unended, body ended", CARRY_SSE, IN("data: " CH), 0, true, BOTH, NULL},
    {"sse: the last line unended, body goes on", CARRY_SSE, IN("data: " CH), 0, false, URL, NULL},
    {"sse: other fields and comments are not read", CARRY_SSE,
     IN("event: " CH "\n: " CH "\nid: " RM "\ndatax: " RM "\ndat: " RM "\n\n"), 0, true, 0, NULL},
    {"sse: a value split over two data lines", CARRY_SSE,
     IN("data: Bearer resource_metadata=\ndata: \"" RM "\"\n\n"), 0, true, URL, NULL},
    {"sse: the data prefix is not part of the text", CARRY_SSE, IN("data:" RM "x\n"), 0, true, 0,
     NULL},
    {"plain: data: is just text", CARRY_PLAIN, IN("data:" RM "\n"), 0, true, 0, NULL},
};

#define NCASES (sizeof(cases) / sizeof(cases[0]))

static unsigned run(const struct carry_case *tc, size_t cut1, size_t cut2, bool *done)
{
	struct carry *c = malloc(sizeof(*c));
	const char *chal = tc->needle2 ? tc->needle2 : CH;
	size_t cuts[] = {0, cut1, cut2, tc->len};
	unsigned found = 0;

	carry_init(c, tc->framing, tc->limit);
	cr_assert_eq(carry_add(c, CARRY_CHALLENGE, chal, strlen(chal)), 0);
	cr_assert_eq(carry_add(c, CARRY_URL, RM, strlen(RM)), 1);
	for (int i = 0; i < 3; i++) {
		size_t n = cuts[i + 1] - cuts[i];
		char *piece = malloc(n ? n : 1);
		memcpy(piece, tc->in + cuts[i], n);
		unsigned f = carry_feed(c, piece, n);
		cr_assert_eq(f & found, found, "%s: an answer was taken back", tc->name);
		found = f;
		free(piece);
	}
	if (tc->ended)
		found = carry_end(c);
	*done = carry_done(c);
	free(c);
	return found;
}

Test(carry, table_every_split)
{
	for (size_t i = 0; i < NCASES; i++) {
		const struct carry_case *tc = &cases[i];
		for (size_t a = 0; a <= tc->len; a++) {
			for (size_t b = a; b <= tc->len; b += 1 + (tc->len > 200) * 7) {
				bool done;
				unsigned got = run(tc, a, b, &done);
				cr_assert_eq(got, tc->want,
				             "%s, cut at %zu and %zu: found %u, want %u", tc->name,
				             a, b, got, tc->want);
				if (tc->ended)
					cr_expect(done, "%s: not done after the end", tc->name);
			}
		}
	}
}

Test(carry, what_cannot_be_looked_for)
{
	struct carry *c = malloc(sizeof(*c));
	char big[CARRY_NEEDLE_MAX + 1];

	memset(big, 'a', sizeof(big));
	carry_init(c, CARRY_PLAIN, 0);
	cr_expect_eq(carry_add(c, CARRY_URL, "", 0), -1);
	cr_expect_eq(carry_add(c, CARRY_URL, "a\nb", 3), -1);
	cr_expect_eq(carry_add(c, CARRY_URL, "a\rb", 3), -1);
	cr_expect_eq(carry_add(c, CARRY_URL, big, sizeof(big)), -1);
	cr_expect_eq(carry_add(c, CARRY_URL, big, sizeof(big) - 1), 0);
	for (int i = 1; i < CARRY_MAX_NEEDLES; i++)
		cr_expect_eq(carry_add(c, CARRY_URL, "x", 1), i);
	cr_expect_eq(carry_add(c, CARRY_URL, "x", 1), -1);
	free(c);
}

/* The longest value there is room for, right at the end of the text, with
 * the ring full of other bytes. */
Test(carry, longest_value)
{
	struct carry *c = malloc(sizeof(*c));
	size_t n = CARRY_NEEDLE_MAX;
	char *needle = malloc(n), *body = malloc(3 * n);

	memset(needle, 'a', n);
	needle[0] = 'h';
	memset(body, ' ', 3 * n);
	memcpy(body + 2 * n, needle, n);
	carry_init(c, CARRY_PLAIN, 0);
	cr_assert_eq(carry_add(c, CARRY_URL, needle, n), 0);
	cr_expect_eq(carry_feed(c, body, 3 * n), 0);
	cr_expect_eq(carry_end(c), 1);
	/* One byte too few. */
	carry_init(c, CARRY_PLAIN, 0);
	cr_assert_eq(carry_add(c, CARRY_URL, needle, n), 0);
	carry_feed(c, body, 3 * n - 1);
	cr_expect_eq(carry_end(c), 0);
	free(needle);
	free(body);
	free(c);
}

Test(carry, done_once_all_found_or_full)
{
	struct carry *c = malloc(sizeof(*c));

	carry_init(c, CARRY_PLAIN, 8);
	carry_add(c, CARRY_URL, "ab", 2);
	cr_expect(!carry_done(c));
	carry_feed(c, "ab ", 3);
	cr_expect(carry_done(c));
	carry_init(c, CARRY_PLAIN, 8);
	carry_add(c, CARRY_URL, "ab", 2);
	carry_feed(c, "xxxxxxxx", 8);
	cr_expect(!carry_done(c), "the limit is reached, not passed");
	carry_feed(c, "x", 1);
	cr_expect(carry_done(c));
	free(c);
}

Test(carry, event_stream_content_type)
{
	static const struct {
		const char *v;
		bool want;
	} t[] = {
	    {"text/event-stream", true},
	    {"Text/Event-Stream; charset=utf-8", true},
	    {" text/event-stream", true},
	    {"text/event-stream;charset=UTF-8", true},
	    {"text/event-streams", false},
	    {"application/json", false},
	    {"", false},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		cr_expect_eq(carry_is_event_stream(t[i].v, strlen(t[i].v)), t[i].want, "%s",
		             t[i].v);
}
