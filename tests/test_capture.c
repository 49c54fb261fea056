/* An unmodified libcurl client (tests/client.c) under the preload, against a
 * local upstream: the records are exact, and the client sees exactly what it
 * sees without the preload. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

TestSuite(capture, .init = setup, .fini = teardown, .timeout = 60);

/* Runs the client twice, without the preload (the control) and with it, and
 * asserts the client's observable behaviour is the same; returns the log. */
static json_t **traced(const char *const args[], const char *const extra_env[], size_t *n)
{
	const char *argv[32] = {TEST_CLIENT};
	size_t k = 1;
	for (size_t i = 0; args[i]; i++)
		argv[k++] = args[i];
	argv[k] = NULL;

	char *log = temp_path("log.json");
	char *log_env, *preload_env;
	cr_assert(asprintf(&log_env, "AUTHTAP_LOG=%s", log) > 0);
	cr_assert(asprintf(&preload_env, "LD_PRELOAD=%s", TEST_PRELOAD) > 0);
	const char *env[16] = {preload_env, log_env};
	size_t e = 2;
	for (size_t i = 0; extra_env && extra_env[i]; i++)
		env[e++] = extra_env[i];
	env[e] = NULL;

	struct run control, with;
	run(&control, argv, NULL);
	run(&with, argv, env);
	cr_expect_eq(with.code, control.code, "exit code %d under the preload, %d without", with.code,
		     control.code);
	cr_expect_str_eq(with.out, control.out, "the client saw something else under the preload");
	cr_expect_str_eq(with.err, "", "the preload printed: %s", with.err);
	json_t **recs = log_read(log, n);
	run_free(&control);
	run_free(&with);
	free(log);
	free(log_env);
	free(preload_env);
	return recs;
}

static json_t *header_at(json_t *rec, size_t i)
{
	return json_array_get(json_object_get(rec, "headers"), i);
}

Test(capture, one_challenge_exactly)
{
	char *url = server_url(&srv, "/401?token=secret#frag");
	size_t n;
	json_t **r = traced((const char *[]){url, NULL}, NULL, &n);

	cr_assert_eq(n, 1, "%zu records", n);
	char *want_url = server_url(&srv, "/401");
	cr_expect_eq(jint(r[0], "v"), 1);
	cr_expect_str_eq(jstr(r[0], "type"), "response");
	cr_expect_str_eq(jstr(r[0], "api"), "easy");
	cr_expect_str_eq(jstr(r[0], "method"), "GET");
	cr_expect_str_eq(jstr(r[0], "url"), want_url);
	cr_expect_eq(jint(r[0], "result"), 0);
	cr_expect_eq(jint(r[0], "status"), 401);
	cr_expect(json_is_true(json_object_get(r[0], "final")));
	cr_expect_eq(jint(r[0], "request"), 0);
	cr_expect_eq(json_array_size(json_object_get(r[0], "flags")), 0);

	json_t *headers = json_object_get(r[0], "headers");
	cr_assert_eq(json_array_size(headers), 1);
	char *rm = server_url(&srv, "/.well-known/oauth-protected-resource");
	char *value;
	cr_assert(asprintf(&value, "Bearer realm=\"mcp\", resource_metadata=\"%s\", "
				   "scope=\"mcp:tools\"", rm) > 0);
	cr_expect_str_eq(jstr(header_at(r[0], 0), "name"), "WWW-Authenticate");
	cr_expect_str_eq(jstr(header_at(r[0], 0), "value"), value);

	json_t *ch = json_array_get(json_object_get(r[0], "challenges"), 0);
	cr_expect_str_eq(jstr(ch, "scheme"), "Bearer");
	json_t *params = json_object_get(ch, "params");
	cr_expect_str_eq(jstr(params, "realm"), "mcp");
	cr_expect_str_eq(jstr(params, "resource_metadata"), rm);
	cr_expect_str_eq(jstr(params, "scope"), "mcp:tools");
	cr_expect(strstr(json_dumps(r[0], 0), "secret") == NULL, "the query leaked into the log");
	log_free(r, n);
}

Test(capture, several_header_lines_in_order)
{
	char *url = server_url(&srv, "/401-many");
	size_t n;
	json_t **r = traced((const char *[]){url, NULL}, NULL, &n);

	cr_assert_eq(n, 1);
	cr_assert_eq(json_array_size(json_object_get(r[0], "headers")), 3);
	cr_expect_str_eq(jstr(header_at(r[0], 0), "value"), "Negotiate");
	cr_expect_str_eq(jstr(header_at(r[0], 1), "value"), "Basic realm=\"a, b\", charset=\"UTF-8\"");
	cr_expect_str_eq(jstr(header_at(r[0], 2), "value"),
			 "Bearer realm=\"mcp\", error=\"invalid_token\", "
			 "error_description=\"The access token expired\"");
	json_t *chs = json_object_get(r[0], "challenges");
	cr_assert_eq(json_array_size(chs), 3);
	cr_expect_str_eq(jstr(json_array_get(chs, 0), "scheme"), "Negotiate");
	cr_expect_str_eq(jstr(json_object_get(json_array_get(chs, 1), "params"), "realm"), "a, b");
	cr_expect_str_eq(jstr(json_object_get(json_array_get(chs, 2), "params"), "error"),
			 "invalid_token");
	log_free(r, n);
}

Test(capture, a_401_without_challenge_says_so)
{
	char *url = server_url(&srv, "/401-none");
	size_t n;
	json_t **r = traced((const char *[]){url, NULL}, NULL, &n);

	cr_assert_eq(n, 1);
	cr_expect_eq(jint(r[0], "status"), 401);
	cr_expect_eq(json_array_size(json_object_get(r[0], "headers")), 0);
	cr_expect(jhas_flag(r[0], "no_challenge"));
	cr_expect(!jhas_flag(r[0], "incomplete"));
	log_free(r, n);
}

Test(capture, nothing_for_a_200)
{
	char *url = server_url(&srv, "/200");
	size_t n;
	json_t **r = traced((const char *[]){url, url, NULL}, NULL, &n);

	cr_expect_eq(n, 0, "%zu records for 200s", n);
	log_free(r, n);
}

Test(capture, one_record_per_401_transfer_on_a_reused_handle)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	char *u403 = server_url(&srv, "/403-scope");
	size_t n;
	json_t **r = traced((const char *[]){u401, u200, u401, u403, u200, NULL}, NULL, &n);

	cr_assert_eq(n, 3, "%zu records", n);
	cr_expect_eq(jint(r[0], "status"), 401);
	cr_expect_eq(jint(r[1], "status"), 401);
	cr_expect_eq(jint(r[2], "status"), 403);
	cr_expect_str_eq(jstr(json_object_get(json_array_get(json_object_get(r[2], "challenges"),
							     0), "params"), "error"),
			 "insufficient_scope");
	/* The same handle throughout. */
	cr_expect_str_eq(jstr(r[0], "handle"), jstr(r[2], "handle"));
	log_free(r, n);
}

Test(capture, status_list_and_any)
{
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	size_t n;
	json_t **r = traced((const char *[]){u401, u403, NULL},
			    (const char *[]){"AUTHTAP_STATUS=403", NULL}, &n);
	cr_assert_eq(n, 1);
	cr_expect_eq(jint(r[0], "status"), 403);
	log_free(r, n);
}

Test(capture, proxy_authenticate_on_407)
{
	char *url = server_url(&srv, "/407");
	size_t n;
	json_t **r = traced((const char *[]){url, NULL}, NULL, &n);

	cr_assert_eq(n, 1);
	cr_expect_eq(jint(r[0], "status"), 407);
	cr_expect_str_eq(jstr(header_at(r[0], 0), "name"), "Proxy-Authenticate");
	cr_expect_str_eq(jstr(header_at(r[0], 0), "value"), "Basic realm=\"proxy\"");
	log_free(r, n);
}

Test(capture, head_request)
{
	char *url = server_url(&srv, "/401");
	size_t n;
	json_t **r = traced((const char *[]){"--head", url, NULL}, NULL, &n);

	cr_assert_eq(n, 1);
	cr_expect_str_eq(jstr(r[0], "method"), "HEAD");
	log_free(r, n);
}

Test(capture, post_with_body)
{
	char *url = server_url(&srv, "/401");
	size_t n;
	json_t **r = traced((const char *[]){"--upload-bytes", "70000", url, NULL}, NULL, &n);

	cr_assert_eq(n, 1);
	cr_expect_str_eq(jstr(r[0], "method"), "POST");
	log_free(r, n);
}

Test(capture, redirect_then_401)
{
	char *url = server_url(&srv, "/redirect-401");
	size_t n;
	json_t **r = traced((const char *[]){"--follow", url, NULL}, NULL, &n);

	cr_assert_eq(n, 1, "%zu records", n);
	cr_expect_eq(jint(r[0], "status"), 401);
	cr_expect_eq(jint(r[0], "request"), 1);
	cr_expect(json_is_true(json_object_get(r[0], "final")));
	char *want = server_url(&srv, "/401");
	cr_expect_str_eq(jstr(r[0], "url"), want);
	log_free(r, n);
}

Test(capture, digest_negotiation_records_the_challenge_not_the_200)
{
	char *url = server_url(&srv, "/digest");
	size_t n;
	json_t **r = traced((const char *[]){"--digest", "user:pass", url, NULL}, NULL, &n);

	cr_assert_eq(n, 1, "%zu records", n);
	cr_expect_eq(jint(r[0], "request"), 0);
	cr_expect(json_is_false(json_object_get(r[0], "final")));
	cr_expect_eq(jint(r[0], "status"), 401);
	cr_expect(jhas_flag(r[0], "status_inferred"));
	cr_expect_str_eq(jstr(json_array_get(json_object_get(r[0], "challenges"), 0), "scheme"),
			 "Digest");
	log_free(r, n);
}

Test(capture, failonerror_still_records)
{
	char *url = server_url(&srv, "/401");
	size_t n;
	json_t **r = traced((const char *[]){"--fail", url, NULL}, NULL, &n);

	cr_assert_eq(n, 1);
	cr_expect_eq(jint(r[0], "result"), 22);
	cr_expect_eq(jint(r[0], "status"), 401);
	cr_expect(jhas_flag(r[0], "incomplete"));
	log_free(r, n);
}

Test(capture, refused_connection_records_nothing)
{
	/* A port nobody listens on: the server's port once it is gone. */
	struct server gone;
	server_start(&gone);
	char *url = server_url(&gone, "/401");
	server_stop(&gone);
	size_t n;
	json_t **r = traced((const char *[]){url, NULL}, NULL, &n);

	cr_expect_eq(n, 0);
	log_free(r, n);
}

Test(capture, full_url_when_asked)
{
	char *url = server_url(&srv, "/401?x=1");
	size_t n;
	json_t **r = traced((const char *[]){url, NULL}, (const char *[]){"AUTHTAP_URL=full", NULL},
			    &n);

	cr_assert_eq(n, 1);
	cr_expect_str_eq(jstr(r[0], "url"), url);
	log_free(r, n);
}

Test(capture, disabled_is_inert)
{
	char *url = server_url(&srv, "/401");
	size_t n;
	json_t **r = traced((const char *[]){url, NULL}, (const char *[]){"AUTHTAP_DISABLE=1", NULL},
			    &n);

	cr_expect_eq(n, 0);
	log_free(r, n);
}

Test(capture, threads_each_with_a_handle)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	size_t n;
	json_t **r = traced((const char *[]){"--threads", "8", "--quiet", u401, u200, u401, NULL},
			    NULL, &n);

	cr_expect_eq(n, 16, "%zu records from 8 threads x 2", n);
	log_free(r, n);
}

Test(capture, bad_configuration_warns_once_and_uses_the_default)
{
	char *url = server_url(&srv, "/401");
	char *log = temp_path("log.json");
	char *log_env, *preload_env;
	cr_assert(asprintf(&log_env, "AUTHTAP_LOG=%s", log) > 0);
	cr_assert(asprintf(&preload_env, "LD_PRELOAD=%s", TEST_PRELOAD) > 0);
	struct run r;
	run(&r, (const char *[]){TEST_CLIENT, url, NULL},
	    (const char *[]){preload_env, log_env, "AUTHTAP_STATUS=40x", "AUTHTAP_FORMAT=xml",
			     NULL});
	cr_expect_eq(count_lines(r.err, "authtap: "), 2, "stderr: %s", r.err);
	cr_expect(strstr(r.err, "AUTHTAP_STATUS") && strstr(r.err, "AUTHTAP_FORMAT"));
	size_t n;
	json_t **recs = log_read(log, &n);
	cr_expect_eq(n, 1, "the defaults (json, 401) should apply");
	log_free(recs, n);
	run_free(&r);
}

Test(capture, text_format_to_a_file)
{
	char *url = server_url(&srv, "/401");
	char *log = temp_path("log.txt");
	char *log_env, *preload_env;
	cr_assert(asprintf(&log_env, "AUTHTAP_LOG=%s", log) > 0);
	cr_assert(asprintf(&preload_env, "LD_PRELOAD=%s", TEST_PRELOAD) > 0);
	struct run r;
	run(&r, (const char *[]){TEST_CLIENT, "--post", "{}", url, NULL},
	    (const char *[]){preload_env, log_env, "AUTHTAP_FORMAT=text", "AUTHTAP_RAW=1", NULL});
	FILE *f = fopen(log, "r");
	cr_assert(f);
	char line[2048];
	cr_assert(fgets(line, sizeof(line), f));
	cr_expect(strncmp(line, "authtap[", 8) == 0, "%s", line);
	char *expect;
	cr_assert(asprintf(&expect, "] 401 POST %s\n", url) > 0);
	cr_expect(strstr(line, expect), "%s lacks %s", line, expect);
	/* One line per challenge, then the raw header (AUTHTAP_RAW=1). */
	cr_assert(fgets(line, sizeof(line), f));
	cr_expect(strncmp(line, "  Bearer realm=mcp ", 19) == 0, "%s", line);
	cr_assert(fgets(line, sizeof(line), f));
	cr_expect(strncmp(line, "  > WWW-Authenticate: Bearer realm=\"mcp\"", 40) == 0, "%s", line);
	cr_expect(!fgets(line, sizeof(line), f), "more than one record");
	fclose(f);
	run_free(&r);
}

Test(capture, log_file_is_private_and_pid_expanded)
{
	char *url = server_url(&srv, "/401");
	char *dir = temp_path("");
	char *log_env, *preload_env;
	cr_assert(asprintf(&log_env, "AUTHTAP_LOG=%sauth-%%p.json", dir) > 0);
	cr_assert(asprintf(&preload_env, "LD_PRELOAD=%s", TEST_PRELOAD) > 0);
	struct run r;
	run(&r, (const char *[]){TEST_CLIENT, url, NULL},
	    (const char *[]){preload_env, log_env, NULL});
	char *cmd;
	cr_assert(asprintf(&cmd, "stat -c %%a %sauth-[0-9]*.json", dir) > 0);
	FILE *p = popen(cmd, "r");
	char mode[16] = {0};
	cr_assert(fgets(mode, sizeof(mode), p), "no pid-named log in %s", dir);
	pclose(p);
	cr_expect_str_eq(mode, "600\n");
	run_free(&r);
}

Test(capture, a_symlink_is_refused)
{
	char *url = server_url(&srv, "/401");
	char *log = temp_path("log.json");
	char *target = temp_path("target");
	cr_assert(symlink(target, log) == 0);
	char *log_env, *preload_env;
	cr_assert(asprintf(&log_env, "AUTHTAP_LOG=%s", log) > 0);
	cr_assert(asprintf(&preload_env, "LD_PRELOAD=%s", TEST_PRELOAD) > 0);
	struct run r, control;
	run(&control, (const char *[]){TEST_CLIENT, url, NULL}, NULL);
	run(&r, (const char *[]){TEST_CLIENT, url, NULL}, (const char *[]){preload_env, log_env, NULL});
	cr_expect_eq(count_lines(r.err, "authtap: "), 1, "stderr: %s", r.err);
	cr_expect(strstr(r.err, "symlink"), "%s", r.err);
	cr_expect_str_eq(r.out, control.out);
	cr_expect_eq(access(target, F_OK), -1, "the symlink's target was created");
	run_free(&r);
	run_free(&control);
}
