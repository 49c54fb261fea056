/* Authentication and redirect chains, proxies and failures (GitHub issue 5,
 * part 4), each through both interfaces: tests/client (curl_easy_perform)
 * and tests/programs/multiclient (curl_multi_*, messages read), unmodified,
 * against tests/httpd on 127.0.0.1.  Proxy requests go to tests/httpd too,
 * which answers absolute-form requests by their path and CONNECT with 407:
 * nothing leaves 127.0.0.1 (a host under .invalid is never resolved, the
 * proxy is asked for it). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tracing.h"

static struct server srv;

static void setup(void)
{
	server_start(&srv);
}

static void teardown(void)
{
	server_stop(&srv);
}

TestSuite(chains, .init = setup, .fini = teardown, .timeout = 60);

#define DIGEST_VALUE                                                                               \
	"Digest realm=\"test\", qop=\"auth\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "     \
	"opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
#define SCOPE_VALUE "Bearer error=\"insufficient_scope\", scope=\"mcp:tools mcp:admin\""

/* Runs opts + url through the easy client, then through the multi one, and
 * expects the same records (count, and each as wanted) from both. */
static void both(const char *const opts[], const char *url, const char *const env[],
		 size_t count, const struct want *want, void (*more)(const struct traced *))
{
	for (int multi = 0; multi < 2; multi++) {
		const char *argv[32];
		size_t k = 0;
		struct traced t;

		argv[k++] = multi ? TEST_MULTICLIENT : TEST_CLIENT;
		for (size_t i = 0; opts[i]; i++)
			argv[k++] = opts[i];
		if (multi)
			argv[k++] = "read";
		argv[k++] = url;
		argv[k] = NULL;
		trace_run(&t, argv, env);
		expect_count(&t, count, multi ? "multi" : "easy");
		for (size_t i = 0; i < count; i++) {
			struct want w = want[i];
			char what[64];
			w.api = multi ? "multi" : "easy";
			snprintf(what, sizeof(what), "%s record %zu", w.api, i);
			expect_record(t.rec[i], &w, what);
		}
		if (more)
			more(&t);
		trace_free(&t);
	}
}

/* CURLAUTH_DIGEST: the 401 is request 0 of a transfer that ends 200; on
 * HTTP/1.1 its status is inferred. */
Test(chains, digest_negotiation)
{
	char *url = server_url(&srv, "/digest");
	both((const char *[]){"--digest", "user:pass", NULL}, url, NULL, 1,
	     (struct want[]){{.status = 401, .request = 0, .final = false,
			      .flags = "status_inferred", .url = url, .nheaders = 1,
			      .name = "WWW-Authenticate", .value = DIGEST_VALUE}},
	     NULL);
}

Test(chains, anyauth_picks_digest)
{
	char *url = server_url(&srv, "/digest");
	both((const char *[]){"--anyauth", "user:pass", NULL}, url, NULL, 1,
	     (struct want[]){{.status = 401, .request = 0, .final = false,
			      .flags = "status_inferred", .url = url, .nheaders = 1,
			      .name = "WWW-Authenticate", .value = DIGEST_VALUE}},
	     NULL);
}

Test(chains, anyauth_picks_basic)
{
	char *url = server_url(&srv, "/basic");
	both((const char *[]){"--anyauth", "user:pass", NULL}, url, NULL, 1,
	     (struct want[]){{.status = 401, .request = 0, .final = false,
			      .flags = "status_inferred", .url = url, .nheaders = 1,
			      .name = "WWW-Authenticate", .value = "Basic realm=\"test\""}},
	     NULL);
}

Test(chains, redirect_then_401)
{
	char *url = server_url(&srv, "/redirect-401"), *to = server_url(&srv, "/401");
	both((const char *[]){"--follow", NULL}, url, NULL, 1,
	     (struct want[]){{.status = 401, .request = 1, .final = true, .url = to,
			      .nheaders = 1, .name = "WWW-Authenticate",
			      .value = bearer_401(&srv)}},
	     NULL);
}

/* A 302 that carries a challenge is not a 401: not recorded by default. */
Test(chains, redirect_with_a_challenge_is_not_recorded_by_default)
{
	char *url = server_url(&srv, "/302-challenge");
	both((const char *[]){"--follow", NULL}, url, NULL, 0, NULL, NULL);
	both((const char *[]){NULL}, url, NULL, 0, NULL, NULL);
}

static char *chain_first_url;

/* The 302 was the answer to the first URL: a record of it must not name
 * the URL the redirect led to (null, "libcurl cannot tell", is fair). */
static void url_is_the_first(const struct traced *t)
{
	cr_assert_eq(t->n, 1);
	json_t *url = json_object_get(t->rec[0], "url");
	cr_expect(json_is_null(url) || strcmp(json_string_value(url), chain_first_url) == 0,
		  "the 302 came from %s, the record says %s", chain_first_url,
		  json_dumps(url, JSON_ENCODE_ANY));
}

/* With AUTHTAP_STATUS=any it is: HTTP/1.1 keeps no status for request 0,
 * and a response with Location is a redirect of unknown code. */
Test(chains, redirect_with_a_challenge_any_status)
{
	char *url = server_url(&srv, "/302-challenge");
	chain_first_url = url;
	both((const char *[]){"--follow", NULL}, url, (const char *[]){"AUTHTAP_STATUS=any", NULL},
	     1,
	     (struct want[]){{.status = 0, .request = 0, .final = false,
			      .flags = "status_inferred", .nheaders = 1,
			      .name = "WWW-Authenticate", .value = "Bearer realm=\"odd\""}},
	     url_is_the_first);
}

/* Not followed, the 302 is the final response and its status is known. */
Test(chains, unfollowed_redirect_with_a_challenge_any_status)
{
	char *url = server_url(&srv, "/302-challenge");
	both((const char *[]){NULL}, url, (const char *[]){"AUTHTAP_STATUS=any", NULL}, 1,
	     (struct want[]){{.status = 302, .request = 0, .final = true, .url = url,
			      .nheaders = 1, .name = "WWW-Authenticate",
			      .value = "Bearer realm=\"odd\""}},
	     NULL);
}

/* A plain request through an HTTP proxy that wants credentials. */
Test(chains, proxy_407)
{
	char *proxy = server_url(&srv, "");
	const char *url = "http://example.invalid/407";
	both((const char *[]){"--proxy", proxy, NULL}, url, NULL, 1,
	     (struct want[]){{.status = 407, .request = 0, .final = true, .url = url,
			      .nheaders = 1, .name = "Proxy-Authenticate",
			      .value = "Basic realm=\"proxy\""}},
	     NULL);
}

static void connect_codes(const struct traced *t)
{
	cr_expect(strstr(t->with.out, "result=56 status=0 connectcode=407 "), "%s", t->with.out);
}

/* A CONNECT tunnel refused with 407: the transfer fails with 56 and
 * RESPONSE_CODE 0; HTTP_CONNECTCODE has the 407. */
Test(chains, connect_407)
{
	char *proxy = server_url(&srv, "");
	const char *url = "https://example.invalid/";
	both((const char *[]){"--proxy", proxy, NULL}, url, NULL, 1,
	     (struct want[]){{.result = 56, .status = 407, .request = 0, .final = true,
			      .flags = "connect,incomplete", .url = url, .nheaders = 1,
			      .name = "Proxy-Authenticate", .value = "Basic realm=\"proxy\""}},
	     connect_codes);
}

static void scope_param(const struct traced *t)
{
	cr_assert_eq(t->n, 1);
	json_t *ch = json_array_get(json_object_get(t->rec[0], "challenges"), 0);
	cr_expect_str_eq(jstr(ch, "scheme"), "Bearer");
	cr_expect_str_eq(jstr(json_object_get(ch, "params"), "error"), "insufficient_scope");
	cr_expect_str_eq(jstr(json_object_get(ch, "params"), "scope"), "mcp:tools mcp:admin");
}

Test(chains, forbidden_insufficient_scope)
{
	char *url = server_url(&srv, "/403-scope");
	both((const char *[]){NULL}, url, NULL, 1,
	     (struct want[]){{.status = 403, .request = 0, .final = true, .url = url,
			      .nheaders = 1, .name = "WWW-Authenticate", .value = SCOPE_VALUE}},
	     scope_param);
}

/* CURLOPT_FAILONERROR: the transfer fails with 22 once the status is in. */
Test(chains, failonerror)
{
	char *url = server_url(&srv, "/401");
	both((const char *[]){"--fail", NULL}, url, NULL, 1,
	     (struct want[]){{.result = 22, .status = 401, .request = 0, .final = true,
			      .flags = "incomplete", .url = url, .nheaders = 1,
			      .name = "WWW-Authenticate", .value = bearer_401(&srv)}},
	     NULL);
}

Test(chains, failonerror_on_403)
{
	char *url = server_url(&srv, "/403-scope");
	both((const char *[]){"--fail", NULL}, url, NULL, 1,
	     (struct want[]){{.result = 22, .status = 403, .request = 0, .final = true,
			      .flags = "incomplete", .url = url, .nheaders = 1,
			      .value = SCOPE_VALUE}},
	     NULL);
}
