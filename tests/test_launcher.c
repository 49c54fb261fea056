/* The launcher: options, exit codes, and the environment it hands over. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"
#include "terminal.h"

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
	/* Issue 15 item 4: the variables are listed. */
	const char *vars[] = {"AUTHTAP_LOG",     "AUTHTAP_FORMAT",  "AUTHTAP_STATUS", "AUTHTAP_URL",
	                      "AUTHTAP_VERDICT", "AUTHTAP_DISABLE", "NO_COLOR"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		cr_expect(strstr(r.out, vars[i]), "--help does not name %s", vars[i]);
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

Test(launcher, the_command_keeps_its_exit_status)
{
	struct run r = launch((const char *[]){"/bin/sh", "-c", "exit 7", NULL}, NULL);
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
	struct run r = launch(
	    (const char *[]){"-o", "rel.json", "-s", "401", "--full-url", "/usr/bin/env", NULL},
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
	/* stderr: through the launcher's pipe, which COMMAND inherits. */
	cr_expect(strstr(r.out, "AUTHTAP_LOG=/dev/fd/"), "%s", r.out);
	cr_expect(strstr(r.out, "AUTHTAP_FORMAT=text\n"));
	cr_expect(strstr(r.out, "AUTHTAP_COLOR=never\n"), "not a terminal: %s", r.out);
	cr_expect(!strstr(r.out, "AUTHTAP_RAW="));
	run_free(&r);

	r = launch((const char *[]){"--raw", "--color=always", "/usr/bin/env", NULL}, NULL);
	cr_expect(strstr(r.out, "AUTHTAP_RAW=1\n"), "%s", r.out);
	cr_expect(strstr(r.out, "AUTHTAP_COLOR=always\n"), "%s", r.out);
	run_free(&r);
	r = launch((const char *[]){"--color=sometimes", "/usr/bin/env", NULL}, NULL);
	cr_expect_eq(r.code, 2);
	run_free(&r);
}

/* Every check happens before COMMAND runs: exit 2, one line, and COMMAND
 * (which would leave a file behind) never started. */
static void refused(const char *const opts[], const char *const env[], const char *what)
{
	char *marker = temp_path("ran");
	const char *args[16];
	size_t k = 0;
	for (size_t i = 0; opts[i]; i++)
		args[k++] = opts[i];
	args[k++] = "/usr/bin/touch";
	args[k++] = marker;
	args[k] = NULL;
	struct run r = launch(args, env);
	cr_expect_eq(r.code, 2, "%s: exit %d", what, r.code);
	cr_expect(strncmp(r.err, "authtap: ", 9) == 0, "%s: %s", what, r.err);
	cr_expect_eq(count_lines(r.err, ""), 1, "%s: one line: %s", what, r.err);
	cr_expect(access(marker, F_OK) != 0, "%s: COMMAND ran", what);
	run_free(&r);
}

Test(launcher, bad_configuration_fails_before_the_command_runs)
{
	char *dir = temp_path("");
	char *sub;
	cr_assert(asprintf(&sub, "%sdir", dir) > 0);
	cr_assert(mkdir(sub, 0700) == 0);
	char *link;
	cr_assert(asprintf(&link, "%slink", dir) > 0);
	cr_assert(symlink("/dev/null", link) == 0);

	refused((const char *[]){"-o", "/nonexistent-authtap/dir/log", NULL}, NULL,
	        "-o in a missing directory");
	refused((const char *[]){"-o", sub, NULL}, NULL, "-o a directory");
	refused((const char *[]){"-o", link, NULL}, NULL, "-o a symlink");
	refused((const char *[]){"-o", "/nonexistent-authtap/%p.json", NULL}, NULL,
	        "-o %p in a missing directory");
	refused((const char *[]){"-o", "/dev/fd/99", NULL}, NULL, "-o a closed descriptor");
	refused((const char *[]){"-s", "40x", NULL}, NULL, "-s 40x");
	refused((const char *[]){"-s", "401,7000", NULL}, NULL, "-s 7000");
	refused((const char *[]){"-s", "", NULL}, NULL, "-s empty");
	refused((const char *[]){"-f", "xml", NULL}, NULL, "-f xml");
	refused((const char *[]){NULL}, (const char *[]){"AUTHTAP_FORMAT=xml", NULL},
	        "AUTHTAP_FORMAT=xml");
	refused((const char *[]){NULL}, (const char *[]){"AUTHTAP_STATUS=4o1", NULL},
	        "AUTHTAP_STATUS=4o1");
	refused((const char *[]){NULL}, (const char *[]){"AUTHTAP_URL=some", NULL},
	        "AUTHTAP_URL=some");
	refused((const char *[]){NULL},
	        (const char *[]){"AUTHTAP_LOG=/nonexistent-authtap/x", NULL},
	        "AUTHTAP_LOG in a missing directory");
	if (geteuid() != 0) {
		char *ro;
		cr_assert(asprintf(&ro, "%sro", dir) > 0);
		cr_assert(mkdir(ro, 0500) == 0);
		char *in;
		cr_assert(asprintf(&in, "%s/log", ro) > 0);
		refused((const char *[]){"-o", in, NULL}, NULL, "-o in a read-only directory");
	}
}

Test(launcher, variables_already_set_are_used)
{
	struct run r = launch((const char *[]){"/usr/bin/env", NULL},
	                      (const char *[]){"AUTHTAP_FORMAT=json", "AUTHTAP_STATUS=any", NULL});
	cr_expect_eq(r.code, 0);
	cr_expect(strstr(r.out, "AUTHTAP_FORMAT=json\n"), "%s", r.out);
	cr_expect(strstr(r.out, "AUTHTAP_STATUS=any\n"), "%s", r.out);
	run_free(&r);
	/* The option wins. */
	r = launch((const char *[]){"-f", "text", "/usr/bin/env", NULL},
	           (const char *[]){"AUTHTAP_FORMAT=xml", NULL});
	cr_expect_eq(r.code, 0, "%s", r.err);
	cr_expect(strstr(r.out, "AUTHTAP_FORMAT=text\n"), "%s", r.out);
	run_free(&r);
}

/* The records of `curl URL...` for n URLs of the local server's /401. */
static char *curl_script(const struct server *srv, int n)
{
	char *url = server_url(srv, "/401"), *s = strdup("curl -s");
	for (int i = 0; i < n; i++) {
		char *t;
		cr_assert(asprintf(&t, "%s -o /dev/null %s", s, url) > 0);
		free(s);
		s = t;
	}
	return s;
}

Test(launcher, streams_and_descriptors_are_accepted)
{
	struct server srv;
	server_start(&srv);
	char *curl = curl_script(&srv, 2), *script;
	cr_assert(asprintf(&script,
	                   "%s -q -o /dev/stdout -- %s; "
	                   "exec 3>&1; %s -q -f text -o /dev/fd/3 -- %s; "
	                   "%s -q -f json -o /dev/stderr -- %s 2>&1",
	                   TEST_LAUNCHER, curl, TEST_LAUNCHER, curl, TEST_LAUNCHER, curl) > 0);
	struct run r;
	run(&r, (const char *[]){"/bin/sh", "-c", script, NULL}, NULL);
	cr_expect_eq(r.code, 0, "%s", r.err);
	cr_expect_eq(count_lines(r.out, "{\"v\":1,\"type\":\"response\""), 4, "%s", r.out);
	cr_expect_eq(count_lines(r.out, "authtap["), 2, "%s", r.out);
	cr_expect_str_eq(r.err, "");
	run_free(&r);
	server_stop(&srv);
}

/* GitHub issue 12 item 5: `authtap -- curl <300 URLs> 2>&1 | slow-reader`
 * delivered 128 of 300 records.  Here the reader reads nothing at all until
 * curl has finished every transfer: the 64 KiB pipe holds about 200 records,
 * and every one of the 300 must still arrive, whole, after it. */
Test(launcher, a_slow_reader_loses_no_record)
{
	struct server srv;
	server_start(&srv);
	char *dir = temp_path(""), *script;
	cr_assert(asprintf(&script,
	                   "cd %s && { %s -- sh -c '%s; touch done'; echo \"exit $?\"; } 2>&1 | "
	                   "{ i=0; while [ ! -e done ] && [ $i -lt 600 ]; do sleep 0.1; "
	                   "i=$((i+1)); done; cat; }",
	                   dir, TEST_LAUNCHER, curl_script(&srv, 300)) > 0);
	struct run r;
	run(&r, (const char *[]){"/bin/sh", "-c", script, NULL}, NULL);
	cr_expect_eq(r.code, 0);
	cr_expect_eq(count_lines(r.out, "authtap["), 300, "%zu records",
	             count_lines(r.out, "authtap["));
	cr_expect(strstr(r.out, "exit 0\n"));
	/* Whole records: a first line and one indented line per challenge. */
	cr_expect_eq(count_lines(r.out, ""), 601, "%zu lines", count_lines(r.out, ""));
	cr_expect_eq(count_lines(r.out, "  Bearer "), 300);
	run_free(&r);
	server_stop(&srv);
}

Test(launcher, signals_sent_to_the_launcher_reach_the_command)
{
	/* COMMAND sends TERM to its parent, the launcher, which hands it on:
	 * the trap makes COMMAND exit 5, and so does the launcher. */
	struct run r =
	    launch((const char *[]){"/bin/sh", "-c",
	                            "trap 'exit 5' TERM; kill -TERM $PPID; "
	                            "i=0; while [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; "
	                            "exit 9",
	                            NULL},
	           NULL);
	cr_expect_eq(r.code, 5);
	run_free(&r);
	/* A killing signal is re-raised: the launcher dies of it too. */
	r = launch((const char *[]){"/bin/sh", "-c", "kill -KILL $$", NULL}, NULL);
	cr_expect_eq(r.code, 128 + 9);
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

/* Issue 15 item 4: `meson install` is reproducible; the installed launcher
 * names the installed library and no path of this build or source tree. */
/* Reads a whole file, failing the test if it cannot. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "%s", path);
	char *bin = NULL;
	size_t cap = 0, n;
	char buf[65536];
	*len = 0;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (*len + n > cap) {
			cap = (*len + n) * 2;
			bin = realloc(bin, cap);
			cr_assert(bin);
		}
		memcpy(bin + *len, buf, n);
		*len += n;
	}
	fclose(f);
	return bin;
}

/* What `meson install` copies carries no path of this tree: the installed
 * launcher and the preload, debug information included. */
Test(launcher, the_installed_files_carry_no_build_path)
{
	const char *files[] = {TEST_LAUNCHER_INSTALLED, TEST_PRELOAD_SO};
	const char *roots[] = {TEST_BUILD_ROOT, TEST_SOURCE_ROOT};
	for (size_t f = 0; f < 2; f++) {
		size_t len;
		char *bin = slurp(files[f], &len);
		for (size_t i = 0; i < 2; i++)
			cr_expect_null(memmem(bin, len, roots[i], strlen(roots[i])), "%s is in %s",
			               roots[i], files[f]);
		if (f == 0)
			cr_expect(memmem(bin, len, "/authtap/libauthtap.so", 22),
			          "no installed library path");
		free(bin);
	}
}

/* On a terminal the launcher says how much was recorded and where; not in
 * a pipe, a script's stderr. */
Test(launcher, the_closing_line_on_a_terminal)
{
	struct server srv;
	server_start(&srv);
	char *dir = temp_path(""), *script;
	cr_assert(asprintf(&script, "%s -- %s; %s -o %slog.json -- %s; %s -q -- %s", TEST_LAUNCHER,
	                   curl_script(&srv, 3), TEST_LAUNCHER, dir, curl_script(&srv, 2),
	                   TEST_LAUNCHER, curl_script(&srv, 1)) > 0);
	struct run r;
	run_pty(&r, (const char *[]){"/bin/sh", "-c", script, NULL}, NULL);
	cr_expect_eq(r.code, 0);
	cr_expect_eq(count_lines(r.out, "authtap["), 4, "%s", r.out);
	cr_expect_eq(count_lines(r.out, "authtap: "), 2, "%s", r.out);
	cr_expect(strstr(r.out, "authtap: 3 records on stderr\n"), "%s", r.out);
	char *want;
	cr_assert(asprintf(&want, "authtap: 2 records in %slog.json\n", dir) > 0);
	cr_expect(strstr(r.out, want), "%s", r.out);
	run_free(&r);

	run(&r, (const char *[]){"/bin/sh", "-c", script, NULL}, NULL);
	cr_expect_eq(count_lines(r.err, "authtap: "), 0, "%s", r.err);
	run_free(&r);
	server_stop(&srv);
}

/* A record that reports losses carries "lost":N (JSON) or lost=N (text),
 * a running count per process; the launcher tells the largest per process,
 * summed, even when stderr is not a terminal.  COMMAND here writes such
 * records itself, as the preload would. */
Test(launcher, losses_are_reported_wherever_stderr_goes)
{
	struct run r = launch(
	    (const char *[]){"/bin/sh", "-c",
	                     "echo '{\"type\":\"response\",\"pid\":7,\"lost\":2}' >$AUTHTAP_LOG; "
	                     "echo '{\"type\":\"summary\",\"pid\":7,\"lost\":3}' >$AUTHTAP_LOG; "
	                     "echo 'authtap[8] summary: lost=4' >$AUTHTAP_LOG",
	                     NULL},
	    NULL);
	cr_expect_eq(r.code, 0);
	cr_expect_eq(count_lines(r.err, "{"), 2, "%s", r.err);
	cr_expect(strstr(r.err, "authtap: 3 records on stderr; 7 lost"), "%s", r.err);
	run_free(&r);
}
