/* The query API through shim/authtap.h, from a host that links nothing of
 * authtap (tests/apihost.c), run with and without the preload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

static struct server srv;

static void setup(void)
{
	server_start(&srv);
}

static void teardown(void)
{
	server_stop(&srv);
}

TestSuite(api, .init = setup, .fini = teardown, .timeout = 60);

static char preload_var[4096];

/* Runs apihost with the given commands, with the preload or without it. */
static char *host(bool preload, const char *const cmds[], const char *const extra_env[])
{
	const char *argv[64] = {TEST_APIHOST};
	const char *env[8] = {0};
	size_t k = 1, e = 0;

	for (size_t i = 0; cmds[i]; i++)
		argv[k++] = cmds[i];
	snprintf(preload_var, sizeof(preload_var), "LD_PRELOAD=%s", TEST_PRELOAD);
	if (preload)
		env[e++] = preload_var;
	for (size_t i = 0; extra_env && extra_env[i]; i++)
		env[e++] = extra_env[i];
	struct run r;
	run(&r, argv, env);
	cr_assert_eq(r.code, 0, "apihost failed (%d): %s", r.code, r.err);
	cr_expect_str_eq(r.err, "");
	char *out = r.out;
	r.out = NULL;
	run_free(&r);
	return out;
}

static char *expected_value(void)
{
	char *rm = server_url(&srv, "/.well-known/oauth-protected-resource");
	char *v;
	cr_assert(asprintf(&v, "Bearer realm=\"mcp\", resource_metadata=\"%s\", scope=\"mcp:tools\"",
			   rm) > 0);
	free(rm);
	return v;
}

Test(api, answers_with_the_preload)
{
	char *u401 = server_url(&srv, "/401");
	char *v = expected_value();
	char *rm = server_url(&srv, "/.well-known/oauth-protected-resource");
	char *out = host(true,
			 (const char *[]){"active", "get", u401, "status", "count", "challenges",
					  "value", "0", "512", "name", "0", "64", "scheme", "0", "64",
					  "param", "Bearer", "resource_metadata", "512", "param", "bearer",
					  "SCOPE", "64", "param", "-", "realm", "64", "param", "Basic",
					  "realm", "64", "param", "-", "nope", "64", "value", "1", "64",
					  "last", NULL},
			 NULL);
	char *want;
	cr_assert(asprintf(&want,
			   "active 1\nget 0\nstatus 401\ncount 1\nchallenges 1\n"
			   "value %zu [%s]\nname 16 [WWW-Authenticate]\nscheme 6 [Bearer]\n"
			   "param %zu [%s]\nparam 9 [mcp:tools]\nparam 3 [mcp]\n"
			   "param -1 [################################################################]\n"
			   "param -1 [################################################################]\n"
			   "value -1 [################################################################]\n"
			   "last self\n",
			   strlen(v), v, strlen(rm), rm) > 0);
	cr_expect_str_eq(out, want);
}

Test(api, none_without_the_preload)
{
	char *u401 = server_url(&srv, "/401");
	char *out = host(false,
			 (const char *[]){"active", "get", u401, "status", "count", "challenges",
					  "value", "0", "8", "param", "-", "realm", "8", "last", NULL},
			 NULL);
	cr_expect_str_eq(out, "active 0\nget 0\nstatus 0\ncount 0\nchallenges 0\n"
			      "value -1 [########]\nparam -1 [########]\nlast null\n");
}

Test(api, none_when_disabled)
{
	char *u401 = server_url(&srv, "/401");
	char *out = host(true, (const char *[]){"active", "get", u401, "status", "last", NULL},
			 (const char *[]){"AUTHTAP_DISABLE=1", NULL});
	cr_expect_str_eq(out, "active 0\nget 0\nstatus 0\nlast null\n");
}

Test(api, snprintf_semantics)
{
	char *u401 = server_url(&srv, "/401");
	char *v = expected_value();
	char *out = host(true,
			 (const char *[]){"get", u401, "value", "0", "7", "value", "0", "0", "param",
					  "Bearer", "scope", "4", "param", "Bearer", "scope", "0",
					  "scheme", "0", "1", NULL},
			 NULL);
	char *want;
	cr_assert(asprintf(&want,
			   "get 0\nvalue %zu [Bearer]\nvalue %zu\nparam 9 [mcp]\nparam 9\n"
			   "scheme 6 []\n",
			   strlen(v), strlen(v)) > 0);
	cr_expect_str_eq(out, want);
}

Test(api, freshness)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	char *out = host(true,
			 (const char *[]){"get", u401, "status", "get", u200, "status", "count",
					  "last", "get", u401, "status", "forget", "status", "last",
					  "get", u401, "cleanup", "old-status", "status", NULL},
			 NULL);
	cr_expect_str_eq(out, "get 0\nstatus 401\nget 0\nstatus 0\ncount 0\nlast null\n"
			      "get 0\nstatus 401\nstatus 0\nlast null\n"
			      "get 0\nold-status 0\nstatus 0\n");
}

Test(api, several_challenges)
{
	char *many = server_url(&srv, "/401-many");
	char *out = host(true,
			 (const char *[]){"get", many, "count", "challenges", "scheme", "0", "32",
					  "scheme", "2", "32", "scheme", "3", "32", "param", "-", "realm",
					  "32", "param", "Bearer", "realm", "32", "param", "-",
					  "charset", "32", NULL},
			 NULL);
	cr_expect_str_eq(out, "get 0\ncount 3\nchallenges 3\nscheme 9 [Negotiate]\n"
			      "scheme 6 [Bearer]\nscheme -1 [################################]\n"
			      "param 4 [a, b]\nparam 3 [mcp]\nparam 5 [UTF-8]\n");
}

Test(api, threads_query_while_others_transfer_and_clean_up, .timeout = 120)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	char *v = expected_value();
	char *out = host(true, (const char *[]){"stress", "8", "3", u401, u200, v, NULL}, NULL);
	cr_expect_str_eq(out, "stress transfers=some queries=some torn=0\n");
}
