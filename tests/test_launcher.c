/* The launcher: options, exit codes, and the environment it hands over. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

TestSuite(launcher, .timeout = 30);

static struct run launch(const char *const args[], const char *const env[])
{
	const char *argv[32] = {TEST_LAUNCHER};
	size_t k = 1;
	for (size_t i = 0; args[i]; i++)
		argv[k++] = args[i];
	struct run r;
	run(&r, argv, env);
	return r;
}

Test(launcher, help_and_version)
{
	struct run r = launch((const char *[]){"--help", NULL}, NULL);
	cr_expect_eq(r.code, 0);
	cr_expect(strstr(r.out, "usage: authtap"));
	run_free(&r);
	r = launch((const char *[]){"--version", NULL}, NULL);
	cr_expect_eq(r.code, 0);
	cr_expect(strncmp(r.out, "authtap ", 8) == 0, "%s", r.out);
	run_free(&r);
}

Test(launcher, no_command_is_a_usage_error)
{
	struct run r = launch((const char *[]){NULL}, NULL);
	cr_expect_eq(r.code, 2);
	cr_expect(strstr(r.err, "usage:"));
	run_free(&r);
	r = launch((const char *[]){"-o", "x.json", "--", NULL}, NULL);
	cr_expect_eq(r.code, 2);
	run_free(&r);
	r = launch((const char *[]){"--bogus", "true", NULL}, NULL);
	cr_expect_eq(r.code, 2);
	cr_expect(strstr(r.err, "authtap: "), "%s", r.err);
	run_free(&r);
}

Test(launcher, exit_codes_of_a_missing_or_unrunnable_command)
{
	struct run r = launch((const char *[]){"no-such-command-authtap", NULL}, NULL);
	cr_expect_eq(r.code, 127);
	run_free(&r);

	char *path = temp_path("not-executable");
	FILE *f = fopen(path, "w");
	fputs("#!/bin/sh\n", f);
	fclose(f);
	chmod(path, 0644);
	r = launch((const char *[]){path, NULL}, NULL);
	cr_expect_eq(r.code, 126);
	run_free(&r);
}

Test(launcher, the_command_keeps_its_exit_status_and_pid)
{
	struct run r = launch((const char *[]){"/bin/sh", "-c", "echo $$ $PPID; exit 7", NULL}, NULL);
	cr_expect_eq(r.code, 7);
	run_free(&r);
	r = launch((const char *[]){"/bin/sh", "-c", "kill -TERM $$", NULL}, NULL);
	cr_expect_eq(r.code, 128 + 15);
	run_free(&r);
}

Test(launcher, environment_handed_over)
{
	char *dir = temp_path("");
	cr_assert(chdir(dir) == 0);
	struct run r = launch((const char *[]){"-o", "rel.json", "-s", "401", "--full-url",
					       "/usr/bin/env", NULL},
			      (const char *[]){"LD_PRELOAD=/lib/other.so", NULL});
	cr_expect_eq(r.code, 0);
	char *want;
	cr_assert(asprintf(&want, "LD_PRELOAD=%s:/lib/other.so\n", TEST_PRELOAD_SO) > 0);
	cr_expect(strstr(r.out, want), "%s", r.out);
	cr_assert(asprintf(&want, "AUTHTAP_LOG=%srel.json\n", dir) > 0);
	cr_expect(strstr(r.out, want), "%s", r.out);
	cr_expect(strstr(r.out, "AUTHTAP_FORMAT=json\n"));
	cr_expect(strstr(r.out, "AUTHTAP_STATUS=401\n"));
	cr_expect(strstr(r.out, "AUTHTAP_URL=full\n"));
	run_free(&r);

	r = launch((const char *[]){"/usr/bin/env", NULL}, NULL);
	cr_assert(asprintf(&want, "LD_PRELOAD=%s\n", TEST_PRELOAD_SO) > 0);
	cr_expect(strstr(r.out, want), "%s", r.out);
	cr_expect(strstr(r.out, "AUTHTAP_LOG=stderr\n"));
	cr_expect(strstr(r.out, "AUTHTAP_FORMAT=text\n"));
	run_free(&r);
}

Test(launcher, options_stop_at_the_command)
{
	struct run r = launch((const char *[]){"/bin/echo", "-s", "-o", "x", NULL}, NULL);
	cr_expect_eq(r.code, 0);
	cr_expect_str_eq(r.out, "-s -o x\n");
	run_free(&r);
}

Test(launcher, bad_format_is_refused)
{
	struct run r = launch((const char *[]){"-f", "xml", "true", NULL}, NULL);
	cr_expect_eq(r.code, 2);
	cr_expect(strstr(r.err, "authtap: "));
	run_free(&r);
}
