/* Real programs, unmodified, under the preload (GitHub issue 5, part 5):
 * Debian's curl command, serial and --parallel; git over http (the GnuTLS
 * build, the multi interface only, and an exit without curl_easy_cleanup);
 * python3 with pycurl (the GnuTLS build in a module loaded RTLD_LOCAL);
 * PHP's curl extension (loaded RTLD_DEEPBIND); python3 with ctypes and ruby
 * with Typhoeus (Ethon over Ruby's FFI), which reach libcurl through dlsym
 * only (issue 12).  Each also runs without the preload as the control: same
 * exit code, same stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tracing.h"

#define CURL_BIN "/usr/bin/curl"
#define GIT "/usr/bin/git"
#define PYTHON "/usr/bin/python3"
#define PHP "/usr/bin/php"
#define PYCURL_CLIENT TEST_PROGRAMS_SRC "/pycurl_client.py"
#define PHP_CLIENT TEST_PROGRAMS_SRC "/php_client.php"
#define RUBY "/usr/bin/ruby"
#define CTYPES_CLIENT TEST_PROGRAMS_SRC "/ctypes_client.py"
#define TYPHOEUS_CLIENT TEST_PROGRAMS_SRC "/typhoeus_client.rb"
#define SCOPE_VALUE "Bearer error=\"insufficient_scope\", scope=\"mcp:tools mcp:admin\""
#define MANY_FIRST "Negotiate"

static struct server srv;

static void setup(void)
{
	server_start(&srv);
}

static void teardown(void)
{
	server_stop(&srv);
}

TestSuite(programs, .init = setup, .fini = teardown, .timeout = 60);

/* The one record of url; the URLs of a test are distinct, so a transfer
 * recorded twice shows here. */
static json_t *record_for(const struct traced *t, const char *url)
{
	json_t *found = NULL;
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++)
		if (jstr(t->rec[i], "url") && strcmp(jstr(t->rec[i], "url"), url) == 0) {
			found = t->rec[i];
			n++;
		}
	cr_assert_eq(n, 1, "%zu records for %s, not exactly one", n, url);
	return found;
}

struct urls {
	char *u401, *u200, *u403, *none, *many;
};

static struct urls urls(void)
{
	return (struct urls){
		.u401 = server_url(&srv, "/401"),
		.u200 = server_url(&srv, "/200"),
		.u403 = server_url(&srv, "/403-scope"),
		.none = server_url(&srv, "/401-none"),
		.many = server_url(&srv, "/401-many"),
	};
}

/* The records of /401, /403-scope and /401-many (when asked), each once. */
static void expect_three(const struct traced *t, const struct urls *u, const char *api,
			 int result, const char *flags, bool many)
{
	expect_record(record_for(t, u->u401),
		      &(struct want){.api = api, .result = result, .status = 401, .final = true,
				     .flags = flags, .url = u->u401, .nheaders = 1,
				     .name = "WWW-Authenticate", .value = bearer_401(&srv)},
		      "/401");
	if (u->u403)
		expect_record(record_for(t, u->u403),
			      &(struct want){.api = api, .result = result, .status = 403,
					     .final = true, .flags = flags, .url = u->u403,
					     .nheaders = 1, .value = SCOPE_VALUE},
			      "/403-scope");
	if (many)
		expect_record(record_for(t, u->many),
			      &(struct want){.api = api, .result = result, .status = 401,
					     .final = true, .flags = flags, .url = u->many,
					     .nheaders = 3, .value = MANY_FIRST},
			      "/401-many");
}

Test(programs, curl_serial)
{
	struct urls u = urls();
	struct traced t;

	need_program(CURL_BIN, "curl");
	trace_launch(&t,
		     (const char *[]){CURL_BIN, "-s", "--proxy", "", u.u401, u.u200, u.u403, u.none,
				      NULL},
		     NULL);
	cr_expect_eq(t.with.code, 0);
	cr_expect_str_eq(t.with.out, "unauthorized\nok\nforbidden\nunauthorized\n");
	expect_count(&t, 3, "curl serial");
	expect_three(&t, &u, "easy", 0, "", false);
	expect_record(record_for(&t, u.none),
		      &(struct want){.api = "easy", .status = 401, .final = true,
				     .flags = "no_challenge", .url = u.none},
		      "/401-none");
	trace_free(&t);
}

/* --parallel: every transfer at once on the multi interface.  Bodies go to
 * /dev/null, since they arrive in any order. */
Test(programs, curl_parallel)
{
	struct urls u = urls();
	struct traced t;

	need_program(CURL_BIN, "curl");
	trace_launch(&t,
		     (const char *[]){CURL_BIN, "-s", "--proxy", "", "--parallel",
				      "--parallel-immediate", "-o", "/dev/null", "-o", "/dev/null",
				      "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null",
				      u.u401, u.u200, u.u403, u.none, u.many, NULL},
		     NULL);
	cr_expect_eq(t.with.code, 0);
	expect_count(&t, 4, "curl --parallel");
	expect_three(&t, &u, "multi", 0, "", true);
	expect_record(record_for(&t, u.none),
		      &(struct want){.api = "multi", .status = 401, .final = true,
				     .flags = "no_challenge", .url = u.none},
		      "/401-none");
	trace_free(&t);
}

/* One at a time, still through the multi interface: stdout in order. */
Test(programs, curl_parallel_one_at_a_time)
{
	struct urls u = urls();
	struct traced t;

	need_program(CURL_BIN, "curl");
	trace_launch(&t,
		     (const char *[]){CURL_BIN, "-s", "--proxy", "", "--parallel", "--parallel-max",
				      "1", u.u401, u.u200, u.u403, NULL},
		     NULL);
	cr_expect_eq(t.with.code, 0);
	cr_expect_str_eq(t.with.out, "unauthorized\nok\nforbidden\n");
	expect_count(&t, 2, "curl --parallel-max 1");
	expect_three(&t, &u, "multi", 0, "", false);
	trace_free(&t);
}

Test(programs, curl_parallel_fail)
{
	struct urls u = urls();
	struct traced t;

	need_program(CURL_BIN, "curl");
	trace_launch(&t,
		     (const char *[]){CURL_BIN, "-sf", "--proxy", "", "--parallel", "-o",
				      "/dev/null", "-o", "/dev/null", u.u401, u.u403, NULL},
		     NULL);
	cr_expect_eq(t.with.code, 22);
	expect_count(&t, 2, "curl --parallel -f");
	expect_three(&t, &u, "multi", 22, "incomplete", false);
	trace_free(&t);
}

/* git asks for URL/info/refs?service=...; tests/httpd routes by exact path,
 * so the repository URL carries a query: git then asks for
 * /401?x=/info/refs&service=git-upload-pack, which is /401.  git never
 * prompts (GIT_TERMINAL_PROMPT=0, no credential helper); env(1) sets the
 * variables over any the environment already has. */
#define GIT_ENV                                                                                    \
	"/usr/bin/env", "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1",                          \
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_ASKPASS=", "SSH_ASKPASS="

static void expect_git_record(const struct traced *t, const char *u401)
{
	cr_expect_eq(t->with.code, 128, "%s", t->with.err);
	cr_expect(strstr(t->with.err, "terminal prompts disabled"), "%s", t->with.err);
	expect_count(t, 1, "git-remote-http");
	expect_record(t->rec[0],
		      &(struct want){.api = "multi", .status = 401, .final = true, .url = u401,
				     .nheaders = 1, .name = "WWW-Authenticate",
				     .value = bearer_401(&srv)},
		      "git");
}

Test(programs, git_ls_remote)
{
	char *repo = server_url(&srv, "/401?x="), *u401 = server_url(&srv, "/401");
	struct traced t;

	need_program(GIT, "git");
	trace_launch(&t,
		     (const char *[]){GIT_ENV, GIT, "-c", "credential.helper=", "-c",
				      "http.proxy=", "ls-remote", repo, NULL},
		     NULL);
	expect_git_record(&t, u401);
	trace_free(&t);
}

Test(programs, git_clone)
{
	char *repo = server_url(&srv, "/401?x="), *u401 = server_url(&srv, "/401");
	char *dest = temp_path("clone");
	struct traced t;

	need_program(GIT, "git");
	trace_launch(&t,
		     (const char *[]){GIT_ENV, GIT, "-c", "credential.helper=", "-c",
				      "http.proxy=", "clone", "-q", repo, dest, NULL},
		     NULL);
	expect_git_record(&t, u401);
	cr_expect_neq(access(dest, F_OK), 0, "git left a clone behind");
	trace_free(&t);
}

Test(programs, python_pycurl_easy)
{
	struct urls u = urls();
	struct traced t;

	need_program(PYTHON, "python3-pycurl");
	trace_run(&t, (const char *[]){PYTHON, PYCURL_CLIENT, "easy", u.u401, u.u200, u.u403, NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_eq(count_lines(t.with.out, "transfer api=easy result=0"), 3, "%s", t.with.out);
	expect_count(&t, 2, "pycurl easy");
	expect_three(&t, &u, "easy", 0, "", false);
	trace_free(&t);
}

Test(programs, python_pycurl_multi)
{
	struct urls u = urls();
	struct traced t;

	need_program(PYTHON, "python3-pycurl");
	trace_run(&t,
		  (const char *[]){PYTHON, PYCURL_CLIENT, "multi", u.u401, u.u200, u.u403, u.many,
				   NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_eq(count_lines(t.with.out, "transfer api=multi result=0"), 4, "%s", t.with.out);
	expect_count(&t, 3, "pycurl CurlMulti");
	expect_three(&t, &u, "multi", 0, "", true);
	trace_free(&t);
}

Test(programs, python_pycurl_multi_unread)
{
	struct urls u = urls();
	struct traced t;

	need_program(PYTHON, "python3-pycurl");
	trace_run(&t,
		  (const char *[]){PYTHON, PYCURL_CLIENT, "multi-noread", u.u401, u.u200, u.u403,
				   NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	expect_count(&t, 2, "pycurl CurlMulti, messages never read");
	expect_three(&t, &u, "multi", WANT_NULL, "incomplete", false);
	trace_free(&t);
}

/* CurlMulti.close() with the handles still in it: pycurl calls
 * curl_multi_cleanup, never curl_multi_remove_handle.  The transfers
 * finished and must be recorded all the same. */
Test(programs, python_pycurl_multi_closed_without_removal)
{
	struct urls u = urls();
	struct traced t;

	need_program(PYTHON, "python3-pycurl");
	trace_run(&t,
		  (const char *[]){PYTHON, PYCURL_CLIENT, "multi-close", u.u401, u.u200, u.u403,
				   NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	expect_count(&t, 2, "pycurl CurlMulti closed, messages never read");
	expect_three(&t, &u, "multi", WANT_NULL, "incomplete", false);
	trace_free(&t);
}

Test(programs, php_curl_exec)
{
	struct urls u = urls();
	struct traced t;

	need_program(PHP, "php-cli php-curl");
	trace_run(&t, (const char *[]){PHP, PHP_CLIENT, "easy", u.u401, u.u200, u.u403, NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_eq(count_lines(t.with.out, "transfer api=easy result=0"), 3, "%s", t.with.out);
	expect_count(&t, 2, "php curl_exec");
	expect_three(&t, &u, "easy", 0, "", false);
	trace_free(&t);
}

Test(programs, php_curl_multi_exec)
{
	struct urls u = urls();
	struct traced t;

	need_program(PHP, "php-cli php-curl");
	trace_run(&t,
		  (const char *[]){PHP, PHP_CLIENT, "multi", u.u401, u.u200, u.u403, u.many, NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_eq(count_lines(t.with.out, "transfer api=multi result=0"), 4, "%s", t.with.out);
	expect_count(&t, 3, "php curl_multi_exec");
	expect_three(&t, &u, "multi", 0, "", true);
	trace_free(&t);
}

/* Messages never read: curl_multi_close removes the handles. */
Test(programs, php_curl_multi_exec_unread)
{
	struct urls u = urls();
	struct traced t;

	need_program(PHP, "php-cli php-curl");
	trace_run(&t,
		  (const char *[]){PHP, PHP_CLIENT, "multi-noread", u.u401, u.u200, u.u403, NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	expect_count(&t, 2, "php curl_multi_exec, messages never read");
	expect_three(&t, &u, "multi", WANT_NULL, "incomplete", false);
	trace_free(&t);
}

/* ctypes looks every function up with dlsym on its CDLL handle: each
 * transfer is recorded once, under the api the program used. */
Test(programs, python_ctypes_easy)
{
	struct urls u = urls();
	struct traced t;

	need_program(PYTHON, "python3");
	trace_run(
	    &t,
	    (const char *[]){PYTHON, CTYPES_CLIENT, "easy", u.u401, u.u200, u.u403, u.many, NULL},
	    NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_eq(count_lines(t.with.out, "transfer api=easy result=0"), 4, "%s", t.with.out);
	expect_count(&t, 3, "ctypes easy");
	expect_three(&t, &u, "easy", 0, "", true);
	trace_free(&t);
}

Test(programs, python_ctypes_multi)
{
	struct urls u = urls();
	struct traced t;

	need_program(PYTHON, "python3");
	trace_run(
	    &t,
	    (const char *[]){PYTHON, CTYPES_CLIENT, "multi", u.u401, u.u200, u.u403, u.many, NULL},
	    NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_eq(count_lines(t.with.out, "transfer api=multi result=0"), 4, "%s", t.with.out);
	expect_count(&t, 3, "ctypes multi");
	expect_three(&t, &u, "multi", 0, "", true);
	trace_free(&t);
}

/* Typhoeus::Hydra runs the requests at once on Ethon's multi handle, every
 * libcurl function found by Ruby's FFI with dlsym: one record each. */
Test(programs, ruby_typhoeus_hydra)
{
	struct urls u = urls();
	struct traced t;

	need_program(RUBY, "ruby ruby-typhoeus");
	trace_run(&t,
	          (const char *[]){RUBY, TYPHOEUS_CLIENT, "hydra", u.u401, u.u200, u.u403, u.none,
	                           u.many, NULL},
	          NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_eq(count_lines(t.with.out, "transfer api=multi result=ok"), 5, "%s", t.with.out);
	expect_count(&t, 4, "typhoeus hydra");
	expect_three(&t, &u, "multi", 0, "", true);
	expect_record(record_for(&t, u.none),
	              &(struct want){.api = "multi",
	                             .status = 401,
	                             .final = true,
	                             .flags = "no_challenge",
	                             .url = u.none},
	              "/401-none");
	trace_free(&t);
}

Test(programs, ruby_typhoeus_easy)
{
	struct urls u = urls();
	struct traced t;

	need_program(RUBY, "ruby ruby-typhoeus");
	trace_run(&t, (const char *[]){RUBY, TYPHOEUS_CLIENT, "easy", u.u401, u.u200, u.u403, NULL},
	          NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_eq(count_lines(t.with.out, "transfer api=easy result=ok"), 3, "%s", t.with.out);
	expect_count(&t, 2, "typhoeus easy");
	expect_three(&t, &u, "easy", 0, "", false);
	trace_free(&t);
}
