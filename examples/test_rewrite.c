/* rewrite_challenge(): the fixed proxy's one piece of parsing. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "rewrite.h"

#define URL "http://127.0.0.1:8080/.well-known/oauth-protected-resource"

struct rewrite_case {
	const char *name;
	const char *in;
	const char *out;
};

static const struct rewrite_case cases[] = {
	{"mcp challenge",
	 "Bearer resource_metadata=\"http://10.0.0.1:9000/.well-known/oauth-protected-resource\", "
	 "scope=\"mcp:tools\"",
	 "Bearer resource_metadata=\"" URL "\", scope=\"mcp:tools\""},
	{"last param", "Bearer scope=\"a b\", resource_metadata=\"http://x/y\"",
	 "Bearer scope=\"a b\", resource_metadata=\"" URL "\""},
	{"token value", "Bearer resource_metadata=http://x/y, scope=a",
	 "Bearer resource_metadata=\"" URL "\", scope=a"},
	{"name case and spaces", "Bearer Resource_Metadata = \"http://x/\"",
	 "Bearer Resource_Metadata = \"" URL "\""},
	{"escaped quote in value", "Bearer resource_metadata=\"http://x/\\\"y\", scope=s",
	 "Bearer resource_metadata=\"" URL "\", scope=s"},
	{"inside another quoted value", "Bearer realm=\"resource_metadata=x\", scope=s",
	 "Bearer realm=\"resource_metadata=x\", scope=s"},
	{"longer name", "Bearer my_resource_metadata=\"x\"", "Bearer my_resource_metadata=\"x\""},
	{"no param", "Basic realm=\"simple\"", "Basic realm=\"simple\""},
	{"two challenges", "Basic realm=\"r\", Bearer resource_metadata=\"a\"",
	 "Basic realm=\"r\", Bearer resource_metadata=\"" URL "\""},
	{"unterminated quote", "Bearer resource_metadata=\"http://x", "Bearer resource_metadata=\"" URL "\""},
	{"empty", "", ""},
};

Test(rewrite, challenge)
{
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = rewrite_challenge(cases[i].in, URL);

		cr_assert_not_null(out, "%s", cases[i].name);
		cr_expect_str_eq(out, cases[i].out, "%s", cases[i].name);
		free(out);
	}
}

Test(rewrite, quotes_the_url)
{
	char *out = rewrite_challenge("Bearer resource_metadata=x", "http://a/\"b\\");

	cr_assert_not_null(out);
	cr_expect_str_eq(out, "Bearer resource_metadata=\"http://a/\\\"b\\\\\"");
	free(out);
}

Test(rewrite, metadata)
{
	struct fwd_response res = {.status = 200};

	res.body = strdup("{\"resource\":\"http://up\",\"scopes_supported\":[\"mcp:tools\"]}");
	res.body_len = strlen(res.body);
	cr_assert_eq(rewrite_metadata(&res, "/.well-known/oauth-protected-resource", "http://me"), 0);
	cr_expect_str_eq(res.body, "{\"resource\":\"http://me\",\"scopes_supported\":[\"mcp:tools\"]}");
	cr_expect_eq(res.body_len, strlen(res.body));

	/* Other paths and statuses pass through untouched. */
	cr_assert_eq(rewrite_metadata(&res, "/mcp", "http://other"), 0);
	cr_expect_str_eq(res.body, "{\"resource\":\"http://me\",\"scopes_supported\":[\"mcp:tools\"]}");
	free(res.body);

	res.body = strdup("not json");
	res.body_len = strlen(res.body);
	cr_expect_eq(rewrite_metadata(&res, "/.well-known/oauth-protected-resource", "http://me"), -1);
	free(res.body);
}
