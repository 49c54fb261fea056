/* Capturing auth traces in a test suite.
 *
 * The proxies' forwarding code (forward.c) hands back status and body, not
 * the upstream's headers, and a test of code like it seldom holds the curl
 * handle.  This test runs under LD_PRELOAD=libauthtap.so (meson.build sets
 * it), calls that code in-process against a real upstream, then asks
 * authtap, through the header-only shim (nothing to link), which challenge
 * the upstream sent, already parsed:
 *
 *   fwd_perform(upstream, &req, &res);
 *   authtap_param(authtap_last(), "Bearer", "resource_metadata", buf, size);
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "forward.h" /* before authtap.h, which then uses curl's CURL */
#include "authtap.h"
#include "child.h"

#define INITIALIZE "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}"

static struct child upstream;

static void start_upstream(void)
{
	const char *exe = getenv("EXAMPLE_UPSTREAM");
	char *argv[] = {(char *)exe, "0", NULL};

	cr_assert(exe, "EXAMPLE_UPSTREAM is not set: run this with meson test");
	cr_assert_eq(child_start(&upstream, argv, 5000), 0, "upstream did not start");
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void stop_upstream(void)
{
	child_stop(&upstream);
	curl_global_cleanup();
}

TestSuite(proxy_trace, .init = start_upstream, .fini = stop_upstream, .timeout = 30);

/* What the proxy does with a client's POST /mcp. */
static void post_mcp(const char *token, struct fwd_response *res)
{
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	struct fwd_request req = {
		.method = "POST",
		.target = "/mcp",
		.body = INITIALIZE,
		.body_len = strlen(INITIALIZE),
	};
	char auth[128];

	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		headers = curl_slist_append(headers, auth);
	}
	req.headers = headers;
	cr_assert_eq(fwd_perform(upstream.url, &req, res), 0, "forwarding failed: %s", res->error);
	curl_slist_free_all(headers);
}

Test(proxy_trace, challenge_without_token)
{
	struct fwd_response res;
	char want[256], buf[256];
	const CURL *h;

	cr_assert(authtap_active(), "run this under LD_PRELOAD=libauthtap.so");
	post_mcp(NULL, &res);
	cr_assert_eq(res.status, 401);

	/* The code under test kept no headers; authtap did. */
	h = authtap_last();
	cr_assert_not_null(h, "authtap recorded nothing");
	cr_expect_eq(h, res.easy);
	cr_expect_eq(authtap_status(h), 401);
	cr_expect_eq(authtap_count(h), 1);

	snprintf(want, sizeof(want), "%s/.well-known/oauth-protected-resource", upstream.url);
	cr_expect_eq(authtap_param(h, "Bearer", "resource_metadata", buf, sizeof(buf)),
		     (int)strlen(want));
	cr_expect_str_eq(buf, want);
	cr_expect_gt(authtap_param(h, NULL, "scope", buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "mcp:tools");
	/* No credentials sent, so no error code (RFC 6750 §3.1). */
	cr_expect_eq(authtap_param(h, "Bearer", "error", buf, sizeof(buf)), -1);

	/* curl_easy_cleanup() drops what authtap kept for the handle. */
	fwd_response_free(&res);
	cr_expect_null(authtap_last());
}

Test(proxy_trace, insufficient_scope)
{
	struct fwd_response res;
	char buf[256];
	const CURL *h;

	cr_assert(authtap_active(), "run this under LD_PRELOAD=libauthtap.so");
	post_mcp("demo-token-noscope", &res);
	cr_assert_eq(res.status, 403);

	h = authtap_last();
	cr_assert_eq(h, res.easy);
	cr_expect_eq(authtap_status(h), 403);
	cr_expect_gt(authtap_param(h, "Bearer", "error", buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "insufficient_scope");
	cr_expect_gt(authtap_param(h, "bearer", "SCOPE", buf, sizeof(buf)), 0);
	cr_expect_str_eq(buf, "mcp:tools");
	fwd_response_free(&res);
}

Test(proxy_trace, nothing_recorded_with_the_token)
{
	struct fwd_response res;
	char buf[8];

	cr_assert(authtap_active(), "run this under LD_PRELOAD=libauthtap.so");
	post_mcp("demo-token", &res);
	cr_assert_eq(res.status, 200);
	cr_expect(strstr(res.body, "\"protocolVersion\"") != NULL, "body: %s", res.body);

	/* A 200 carries no challenge: authtap keeps nothing for it. */
	cr_expect_eq(authtap_status(res.easy), 0);
	cr_expect_eq(authtap_count(res.easy), 0);
	cr_expect_eq(authtap_param(res.easy, NULL, "scope", buf, sizeof(buf)), -1);
	fwd_response_free(&res);
}
