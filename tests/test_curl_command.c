/* Debian's curl command, unmodified, under the launcher. */
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

TestSuite(curl_command, .init = setup, .fini = teardown, .timeout = 60);

#define CURL_BIN "/usr/bin/curl"

Test(curl_command, text_on_stderr_by_default)
{
	char *url = server_url(&srv, "/401?api_key=hunter2");
	struct run with, control;

	run(&control, (const char *[]){CURL_BIN, "-s", "-w", "%{http_code}\\n", url, NULL}, NULL);
	run(&with, (const char *[]){TEST_LAUNCHER, CURL_BIN, "-s", "-w", "%{http_code}\\n", url, NULL},
	    NULL);
	cr_expect_eq(with.code, control.code);
	cr_expect_str_eq(with.out, control.out);
	cr_expect(strstr(with.out, "401"), "%s", with.out);
	cr_expect_eq(count_lines(with.err, "authtap["), 1, "stderr: %s", with.err);
	char *prefix = server_url(&srv, "/401\n  Bearer realm=mcp ");
	cr_expect(strstr(with.err, prefix), "stderr: %s", with.err);
	cr_expect(!strstr(with.err, "hunter2"), "the query leaked: %s", with.err);
	run_free(&with);
	run_free(&control);
}

Test(curl_command, json_to_a_file_serial_transfers)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	char *many = server_url(&srv, "/401-many");
	char *log = temp_path("curl.json");
	struct run with, control;

	run(&control, (const char *[]){CURL_BIN, "-s", u401, u200, many, NULL}, NULL);
	run(&with, (const char *[]){TEST_LAUNCHER, "-o", log, CURL_BIN, "-s", u401, u200, many, NULL},
	    NULL);
	cr_expect_eq(with.code, control.code);
	cr_expect_str_eq(with.out, control.out);
	cr_expect_str_eq(with.err, "");

	size_t n;
	json_t **r = log_read(log, &n);
	cr_assert_eq(n, 2, "%zu records", n);
	cr_expect_str_eq(jstr(r[0], "url"), u401);
	cr_expect_str_eq(jstr(r[1], "url"), many);
	cr_expect_eq(json_array_size(json_object_get(r[1], "headers")), 3);
	log_free(r, n);
	run_free(&with);
	run_free(&control);
}

Test(curl_command, fail_flag_still_records)
{
	char *url = server_url(&srv, "/401");
	char *log = temp_path("curl.json");
	struct run with;

	run(&with, (const char *[]){TEST_LAUNCHER, "-o", log, CURL_BIN, "-sf", url, NULL}, NULL);
	cr_expect_eq(with.code, 22);
	size_t n;
	json_t **r = log_read(log, &n);
	cr_assert_eq(n, 1);
	cr_expect_eq(jint(r[0], "status"), 401);
	log_free(r, n);
	run_free(&with);
}

Test(curl_command, digest_via_the_command)
{
	char *url = server_url(&srv, "/digest");
	char *log = temp_path("curl.json");
	struct run with;

	run(&with, (const char *[]){TEST_LAUNCHER, "-o", log, CURL_BIN, "-s", "--digest", "-u",
				    "user:pass", url, NULL},
	    NULL);
	cr_expect_eq(with.code, 0);
	cr_expect_str_eq(with.out, "ok\n");
	size_t n;
	json_t **r = log_read(log, &n);
	cr_assert_eq(n, 1);
	cr_expect(json_is_false(json_object_get(r[0], "final")));
	cr_expect_str_eq(jstr(json_array_get(json_object_get(r[0], "challenges"), 0), "scheme"),
			 "Digest");
	log_free(r, n);
	run_free(&with);
}
