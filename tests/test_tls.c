/* HTTPS and HTTP/2 (GitHub issue 5, part 4): Debian's nghttpx, with a
 * throw-away certificate made by Debian's openssl, in front of tests/httpd,
 * all on 127.0.0.1.  authtap reads the headers after TLS; over HTTP/2 the
 * header names are lower case and each response of a chain keeps its
 * :status, so no status is inferred. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <criterion/criterion.h>

#include "tracing.h"

#define CURL_BIN "/usr/bin/curl"
#define PYTHON "/usr/bin/python3"
#define PHP "/usr/bin/php"
#define GIT "/usr/bin/git"
#define DIGEST_VALUE                                                                               \
	"Digest realm=\"test\", qop=\"auth\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "     \
	"opaque=\"5ccc069c403ebaf9f0171e9517f40e41\""
#define SCOPE_VALUE "Bearer error=\"insufficient_scope\", scope=\"mcp:tools mcp:admin\""

static struct server srv;
static struct frontend front;

static void setup(void)
{
	server_start(&srv);
	frontend_start(&front, &srv);
}

static void teardown(void)
{
	frontend_stop(&front);
	server_stop(&srv);
}

TestSuite(tls, .init = setup, .fini = teardown, .timeout = 60);

static json_t *only(const struct traced *t, const char *label)
{
	char *h = handle_of(t, label);
	json_t *r[4];

	cr_assert(h, "no handle %s: %s", label, t->with.err);
	cr_assert_eq(records_of(t, h, r, 4), 1, "handle %s: not exactly one record", label);
	free(h);
	return r[0];
}

Test(tls, https_http1_multi)
{
	char *u401 = frontend_url(&front, "/401"), *u200 = frontend_url(&front, "/200");
	char *u403 = frontend_url(&front, "/403-scope");
	struct traced t;

	trace_run(&t,
		  (const char *[]){TEST_MULTICLIENT, "--cainfo", front.cert, "read", u401, u200, u403,
				   NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.out);
	cr_expect(strstr(t.with.out, "transfer 0 api=multi result=0 status=401 connectcode=0 "
				     "http_version=1.1"),
		  "%s", t.with.out);
	expect_count(&t, 2, "https 401 and 403");
	/* nghttpx writes HTTP/1 header names capitalised its own way. */
	json_t *r = only(&t, "0");
	expect_record(r,
		      &(struct want){.api = "multi", .status = 401, .final = true, .url = u401,
				     .nheaders = 1, .value = bearer_401(&srv)},
		      "https 401");
	cr_expect(strcasecmp(jstr(json_array_get(json_object_get(r, "headers"), 0), "name"),
			     "WWW-Authenticate") == 0);
	expect_record(only(&t, "2"),
		      &(struct want){.api = "multi", .status = 403, .final = true, .url = u403,
				     .nheaders = 1, .value = SCOPE_VALUE},
		      "https 403");
	trace_free(&t);
}

Test(tls, https_http1_digest_infers_the_status)
{
	char *url = frontend_url(&front, "/digest");
	struct traced t;

	trace_run(&t,
		  (const char *[]){TEST_MULTICLIENT, "--cainfo", front.cert, "--digest", "u:p", "read",
				   url, NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.out);
	expect_count(&t, 1, "the digest challenge");
	expect_record(t.rec[0],
		      &(struct want){.api = "multi", .status = 401, .request = 0, .final = false,
				     .flags = "status_inferred", .url = url, .nheaders = 1,
				     .value = DIGEST_VALUE},
		      "digest over https/1.1");
	trace_free(&t);
}

Test(tls, http2_multi_lower_case_names)
{
	char *u401 = frontend_url(&front, "/401"), *none = frontend_url(&front, "/401-none");
	char *u403 = frontend_url(&front, "/403-scope");
	struct traced t;

	trace_run(&t,
		  (const char *[]){TEST_MULTICLIENT, "--http2", "--cainfo", front.cert, "read", u401,
				   none, u403, NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.out);
	cr_expect(strstr(t.with.out, "transfer 0 api=multi result=0 status=401 connectcode=0 "
				     "http_version=2"),
		  "%s", t.with.out);
	expect_count(&t, 3, "h2 401, bare 401, 403");
	expect_record(only(&t, "0"),
		      &(struct want){.api = "multi", .status = 401, .final = true, .url = u401,
				     .nheaders = 1, .name = "www-authenticate",
				     .value = bearer_401(&srv)},
		      "h2 401");
	expect_record(only(&t, "1"),
		      &(struct want){.api = "multi", .status = 401, .final = true, .url = none,
				     .flags = "no_challenge"},
		      "h2 bare 401");
	expect_record(only(&t, "2"),
		      &(struct want){.api = "multi", .status = 403, .final = true, .url = u403,
				     .nheaders = 1, .name = "www-authenticate",
				     .value = SCOPE_VALUE},
		      "h2 403");
	trace_free(&t);
}

/* HTTP/2 keeps the :status of request 0: 401, not inferred. */
Test(tls, http2_digest_keeps_the_status)
{
	char *url = frontend_url(&front, "/digest");
	struct traced t;

	trace_run(&t,
		  (const char *[]){TEST_MULTICLIENT, "--http2", "--cainfo", front.cert, "--anyauth",
				   "u:p", "read", url, NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.out);
	expect_count(&t, 1, "the digest challenge");
	expect_record(t.rec[0],
		      &(struct want){.api = "multi", .status = 401, .request = 0, .final = false,
				     .flags = "", .url = url, .nheaders = 1,
				     .name = "www-authenticate", .value = DIGEST_VALUE},
		      "digest over h2");
	trace_free(&t);
}

Test(tls, http2_redirect_then_401)
{
	char *url = frontend_url(&front, "/redirect-401"), *to = frontend_url(&front, "/401");
	struct traced t;

	trace_run(&t,
		  (const char *[]){TEST_MULTICLIENT, "--http2", "--cainfo", front.cert, "--follow",
				   "read", url, NULL},
		  NULL);
	expect_count(&t, 1, "the 401 after the redirect");
	expect_record(t.rec[0],
		      &(struct want){.api = "multi", .status = 401, .request = 1, .final = true,
				     .url = to, .nheaders = 1, .name = "www-authenticate",
				     .value = bearer_401(&srv)},
		      "h2 redirect then 401");
	trace_free(&t);
}

/* The 302 with a challenge, over HTTP/2: its real status, not inferred. */
Test(tls, http2_redirect_with_a_challenge_any_status)
{
	char *url = frontend_url(&front, "/302-challenge");
	struct traced t;

	trace_run(&t,
		  (const char *[]){TEST_MULTICLIENT, "--http2", "--cainfo", front.cert, "--follow",
				   "read", url, NULL},
		  (const char *[]){"AUTHTAP_STATUS=any", NULL});
	expect_count(&t, 1, "the 302 with a challenge");
	expect_record(t.rec[0],
		      &(struct want){.api = "multi", .status = 302, .request = 0, .final = false,
				     .flags = "", .nheaders = 1, .name = "www-authenticate",
				     .value = "Bearer realm=\"odd\""},
		      "h2 302");
	/* It answered the first URL, not the one it led to. */
	json_t *rec_url = json_object_get(t.rec[0], "url");
	cr_expect(json_is_null(rec_url) || strcmp(json_string_value(rec_url), url) == 0,
		  "the 302 came from %s: %s", url, json_dumps(rec_url, JSON_ENCODE_ANY));
	trace_free(&t);

	trace_run(&t,
		  (const char *[]){TEST_MULTICLIENT, "--http2", "--cainfo", front.cert, "--follow",
				   "read", url, NULL},
		  NULL);
	expect_count(&t, 0, "a 302 is not recorded by default");
	trace_free(&t);
}

/* The curl command, several transfers multiplexed on one HTTP/2
 * connection by --parallel.  Bodies go to /dev/null: they arrive in any
 * order. */
Test(tls, curl_command_parallel_http2)
{
	char *u401 = frontend_url(&front, "/401"), *u200 = frontend_url(&front, "/200");
	char *u403 = frontend_url(&front, "/403-scope");
	struct traced t;

	need_program(CURL_BIN, "curl");
	trace_launch(&t,
		     (const char *[]){CURL_BIN, "-s", "--proxy", "", "--http2", "--cacert",
				      front.cert, "--parallel", "--parallel-immediate", "-o",
				      "/dev/null", "-o", "/dev/null", "-o", "/dev/null", u401, u200,
				      u403, NULL},
		     NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	expect_count(&t, 2, "curl --parallel over h2");
	for (size_t i = 0; i < t.n; i++) {
		const char *url = jstr(t.rec[i], "url");
		bool is401 = url && strcmp(url, u401) == 0;
		expect_record(t.rec[i],
			      &(struct want){.api = "multi", .status = is401 ? 401 : 403,
					     .final = true, .url = is401 ? u401 : u403,
					     .nheaders = 1, .name = "www-authenticate",
					     .value = is401 ? bearer_401(&srv) : SCOPE_VALUE},
			      "curl --parallel h2");
	}
	cr_expect_str_neq(jstr(t.rec[0], "url"), jstr(t.rec[1], "url"));
	trace_free(&t);
}

Test(tls, curl_command_https_serial_digest)
{
	char *url = frontend_url(&front, "/digest"), *u401 = frontend_url(&front, "/401");
	struct traced t;

	need_program(CURL_BIN, "curl");
	trace_launch(&t,
		     (const char *[]){CURL_BIN, "-s", "--proxy", "", "--http1.1", "-k", "--digest",
				      "-u", "u:p", url, u401, NULL},
		     NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	expect_count(&t, 2, "digest then 401, serial");
	expect_record(t.rec[0],
		      &(struct want){.api = "easy", .status = 401, .request = 0, .final = false,
				     .flags = "status_inferred", .url = url, .nheaders = 1,
				     .value = DIGEST_VALUE},
		      "curl digest over https");
	/* Digest credentials go to /401 too; its Bearer challenge stays. */
	expect_record(t.rec[1],
		      &(struct want){.api = "easy", .status = 401, .request = 0, .final = true,
				     .url = u401, .nheaders = 1, .value = bearer_401(&srv)},
		      "curl 401 over https");
	trace_free(&t);
}

/* git-remote-https: the GnuTLS build, the multi interface, HTTP/2.  The
 * environment may already set GIT_* variables (GIT_SSL_CAINFO, which beats
 * git's configuration, say), so env(1) sets them over whatever is there. */
Test(tls, git_ls_remote_https)
{
	char *repo = frontend_url(&front, "/401?x="), *u401 = frontend_url(&front, "/401");
	char *cainfo;
	struct traced t;

	need_program(GIT, "git");
	cr_assert(asprintf(&cainfo, "GIT_SSL_CAINFO=%s", front.cert) > 0);
	trace_launch(&t,
		     (const char *[]){"/usr/bin/env", "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",
				      "GIT_CONFIG_GLOBAL=/dev/null", "GIT_ASKPASS=", "SSH_ASKPASS=",
				      cainfo, GIT, "-c", "credential.helper=", "-c", "http.proxy=",
				      "ls-remote", repo, NULL},
		     NULL);
	cr_expect_eq(t.with.code, 128, "%s", t.with.err);
	cr_expect(strstr(t.with.err, "terminal prompts disabled"), "%s", t.with.err);
	expect_count(&t, 1, "git over https");
	expect_record(t.rec[0],
		      &(struct want){.api = "multi", .status = 401, .final = true, .url = u401,
				     .nheaders = 1, .name = "www-authenticate",
				     .value = bearer_401(&srv)},
		      "git https h2");
	trace_free(&t);
	free(cainfo);
}

/* pycurl (the GnuTLS build, loaded RTLD_LOCAL) over HTTP/2. */
Test(tls, python_pycurl_http2_multi)
{
	char *u401 = frontend_url(&front, "/401"), *u403 = frontend_url(&front, "/403-scope");
	const char *script = TEST_PROGRAMS_SRC "/pycurl_client.py";
	struct traced t;

	need_program(PYTHON, "python3-pycurl");
	trace_run(&t,
		  (const char *[]){PYTHON, script, "--cainfo", front.cert, "--http2", "multi", u401,
				   u403, NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_eq(count_lines(t.with.out, "transfer api=multi result=0"), 2, "%s", t.with.out);
	expect_count(&t, 2, "pycurl h2");
	for (size_t i = 0; i < t.n; i++) {
		bool is401 = strcmp(jstr(t.rec[i], "url"), u401) == 0;
		expect_record(t.rec[i],
			      &(struct want){.api = "multi", .status = is401 ? 401 : 403,
					     .final = true, .url = is401 ? u401 : u403,
					     .nheaders = 1, .name = "www-authenticate",
					     .value = is401 ? bearer_401(&srv) : SCOPE_VALUE},
			      "pycurl h2");
	}
	trace_free(&t);
}

/* PHP (the OpenSSL build, curl.so loaded RTLD_DEEPBIND) over HTTPS. */
Test(tls, php_https_easy)
{
	char *u401 = frontend_url(&front, "/401");
	const char *script = TEST_PROGRAMS_SRC "/php_client.php";
	struct traced t;

	need_program(PHP, "php-cli php-curl");
	trace_run(&t, (const char *[]){PHP, script, "--cainfo", front.cert, "easy", u401, NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect(strstr(t.with.out, "transfer api=easy result=0 status=401"), "%s", t.with.out);
	expect_count(&t, 1, "php https");
	expect_record(t.rec[0],
		      &(struct want){.api = "easy", .status = 401, .final = true, .url = u401,
				     .nheaders = 1, .value = bearer_401(&srv)},
		      "php https");
	trace_free(&t);
}
