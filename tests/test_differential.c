/* An unmodified client behaves the same with and without authtap (GitHub
 * issue 6, part 1): over a matrix of scenarios, tests/client.c prints its
 * return codes, bodies, the headers its callbacks received and its
 * curl_easy_getinfo values, and its stdout and exit code must not change
 * under the preload, whatever authtap is told to do with its log.  Then
 * errno: authtap hands back the errno of whatever it called, untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "robust.h"

static struct server srv;

static void setup(void)
{
	server_start(&srv);
}

static void teardown(void)
{
	server_stop(&srv);
}

TestSuite(differential, .init = setup, .fini = teardown, .timeout = 60);

/* Arguments of tests/client.c; "@/path" is a URL of the test server,
 * "@refused/path" one of a port nobody listens on, "@proxy" the server as
 * an HTTP proxy. */
struct scenario {
	const char *name;
	const char *args[12];
};

#define BYTES_01_TO_7F                                                                             \
	"0102030405060708090b0c0e0f101112131415161718191a1b1c1d1e1f"                               \
	"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"                         \
	"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"                         \
	"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"

static struct scenario scenarios[] = {
    {"200", {"@/200"}},
    {"404", {"@/nope"}},
    {"401 one challenge", {"@/401"}},
    {"401 many challenge lines", {"@/401-many"}},
    {"401 without challenge", {"@/401-none"}},
    {"403 insufficient scope", {"@/403-scope"}},
    {"407 proxy challenge", {"@/407"}},
    {"401 hostile: control bytes", {"@/hostile?hex=42617369632072" BYTES_01_TO_7F}},
    {"401 hostile: not UTF-8", {"@/hostile?hex=4261736963207265616c6d3d22ff80c0af22"}},
    {"401 hostile: 300 lines", {"@/hostile?hex=426173696320723d2278222c20&count=300"}},
    {"401 hostile: 2000 lines", {"@/hostile?hex=4e65676f746961746520&count=2000"}},
    {"401 hostile: empty value", {"@/hostile?hex="}},
    {"401 hostile: unterminated quote", {"@/hostile?hex=426561726572207265616c6d3d2261"}},
    {"401 hostile: NUL byte", {"@/hostile?hex=4261736963007265616c6d"}},
    {"401 hostile: largest header", {"@/hostile?size=102379"}},
    {"401 hostile: header too large", {"@/hostile?size=102400"}},
    {"401 hostile: headers too large", {"@/hostile?size=100000&count=5"}},
    {"redirect not followed", {"@/redirect-401"}},
    {"redirect followed to 401", {"--follow", "@/redirect-401"}},
    {"redirect followed to 200", {"--follow", "@/redirect-200"}},
    {"challenge on a redirect", {"--follow", "@/302-challenge"}},
    {"digest negotiation", {"--digest", "user:pass", "@/digest"}},
    {"basic", {"--basic", "user:pass", "@/basic"}},
    {"anyauth", {"--anyauth", "user:pass", "@/basic"}},
    {"digest with an upload", {"--upload-bytes", "70000", "--digest", "u:p", "@/digest"}},
    {"connection refused", {"@refused/401"}},
    {"timeout", {"--timeout-ms", "300", "@/slow"}},
    {"HEAD 401", {"--head", "@/401"}},
    {"HEAD 200", {"--head", "@/200"}},
    {"upload 70000 bytes to a 401", {"--upload-bytes", "70000", "@/401"}},
    {"POST", {"--post", "{\"a\":1}", "@/401"}},
    {"CURLOPT_HEADER", {"--header-in-body", "@/401"}},
    {"CURLOPT_HEADER with a redirect", {"--header-in-body", "--follow", "@/redirect-401"}},
    {"CURLOPT_FAILONERROR", {"--fail", "@/401"}},
    {"reused handle", {"@/401", "@/200", "@/401-many", "@/407", "@/401-none", "@/200"}},
    {"new handle each, repeated", {"--cleanup-each", "--repeat", "3", "@/401", "@/200"}},
    {"duphandle", {"--dup", "@/401"}},
    {"bearer token", {"--bearer", "t0ken", "@/401"}},
    {"through a proxy", {"--proxy", "@proxy", "@/401", "@/407", "@/200"}},
    {"threads", {"--threads", "4", "@/401", "@/200", "@/403-scope"}},
};

#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

/* Criterion runs each test in a new process image, where pointers of the
 * parent's mean nothing: the parameter is the scenario's index. */
ParameterizedTestParameters(differential, matrix)
{
	static size_t index[NSCENARIOS];
	for (size_t i = 0; i < NSCENARIOS; i++)
		index[i] = i;
	return cr_make_param_array(size_t, index, NSCENARIOS);
}

/* The ways to run authtap: each must leave the client as it was. */
enum sink { SINK_JSON_FILE, SINK_TEXT_FILE, SINK_STDERR, SINK_NONE, SINKS };
static const char *const sink_names[] = {"json file, any status", "text file", "stderr", "no log"};

static void check_sink(enum sink s, const char *log, const struct run *r, const char *what)
{
	size_t len = 0, n = 0, warnings = 0;
	char *text = slurp(log, &len);
	json_t **recs = NULL;

	switch (s) {
	case SINK_JSON_FILE:
		cr_expect_str_eq(r->err, "", "%s: the preload printed: %s", what, r->err);
		if (text)
			recs = records_in(text, len, &n, &warnings);
		cr_expect_eq(warnings, 0);
		break;
	case SINK_TEXT_FILE: {
		size_t bad = 0;
		cr_expect_str_eq(r->err, "", "%s: the preload printed: %s", what, r->err);
		cr_expect(!text || text_clean(text, len, &bad),
		          "%s: a raw control byte in the text log at %zu", what, bad);
		/* A record's first line, or one of its indented lines. */
		cr_expect(!text || count_lines(text, "authtap[") + count_lines(text, "  ") ==
		                       count_lines(text, ""),
		          "%s: a text line that is not a record", what);
		break;
	}
	case SINK_STDERR:
		recs = records_in(r->err, r->err_len, &n, &warnings);
		cr_expect_eq(warnings, 0, "%s: %s", what, r->err);
		break;
	default:
		cr_expect_str_eq(r->err, "", "%s: the preload printed: %s", what, r->err);
		break;
	}
	log_free(recs, n);
	free(text);
}

ParameterizedTest(size_t *index, differential, matrix)
{
	const struct scenario *sc = &scenarios[*index];
	char *base = fmt("http://127.0.0.1:%d", srv.port);

	const char *argv[24] = {TEST_CLIENT};
	size_t k = 1;
	for (size_t i = 0; sc->args[i]; i++) {
		const char *a = sc->args[i];
		if (strcmp(a, "@proxy") == 0) {
			argv[k++] = base;
		} else if (strncmp(a, "@refused", 8) == 0) {
			/* The port of a server that is gone. */
			struct server gone;
			server_start(&gone);
			server_stop(&gone);
			argv[k++] = fmt("http://127.0.0.1:%d%s", gone.port, a + 8);
		} else if (a[0] == '@') {
			argv[k++] = fmt("%s%s", base, a + 1);
		} else {
			argv[k++] = a;
		}
	}
	argv[k] = NULL;

	struct run control;
	run(&control, argv, NULL);
	cr_assert(control.code == 0 || control.code == 1, "%s: the client failed: %s", sc->name,
	          control.err);
	for (enum sink s = 0; s < SINKS; s++) {
		char *log = temp_path("log");
		char *log_var = fmt("AUTHTAP_LOG=%s", s == SINK_STDERR ? "stderr" : log);
		const char *env[6] = {preload_var()};
		size_t e = 1;
		if (s != SINK_NONE)
			env[e++] = log_var;
		if (s == SINK_TEXT_FILE)
			env[e++] = "AUTHTAP_FORMAT=text";
		if (s == SINK_JSON_FILE)
			env[e++] = "AUTHTAP_STATUS=any";
		env[e] = NULL;

		char *what = fmt("%s, %s", sc->name, sink_names[s]);
		struct run with;
		run(&with, argv, env);
		cr_expect_eq(with.code, control.code,
		             "%s: exit code %d under the preload, %d without", what, with.code,
		             control.code);
		cr_expect_str_eq(with.out, control.out, "%s: the client saw something else", what);
		check_sink(s, log, &with, what);
		run_free(&with);
		free(what);
		free(log_var);
		free(log);
	}
	run_free(&control);
}

/* A log that is written at all shows up here: the matrix above would pass
 * with an authtap that never records. */
Test(differential, the_matrix_does_record)
{
	char *log = temp_path("log.json");
	char *log_var = fmt("AUTHTAP_LOG=%s", log);
	char *u = server_url(&srv, "/401");
	struct run r;
	run_both(&r, (const char *[]){TEST_CLIENT, u, NULL},
	         (const char *[]){preload_var(), log_var, NULL}, "401");
	size_t n;
	json_t **recs = log_read(log, &n);
	cr_expect_eq(n, 1);
	log_free(recs, n);
	run_free(&r);
}

/* errno after curl_easy_perform is what the next interposer left:
 * tests/robust/errno_preload.c, preloaded after authtap, sets EOWNERDEAD
 * just before returning, and tests/robust/errno_host.c reads it. */
static void errno_case(const char *what, const char *const urls[], const char *const extra[])
{
	const char *argv[16] = {TEST_ERRNO_HOST};
	size_t k = 1, n = 0;
	for (; urls[n]; n++)
		argv[k++] = urls[n];
	argv[k] = NULL;

	/* The control has the second interposer alone: it proves that the
	 * test itself works. */
	char *errno_only = fmt("LD_PRELOAD=%s", TEST_ERRNO_PRELOAD);
	char *both = fmt("LD_PRELOAD=%s:%s", TEST_PRELOAD, TEST_ERRNO_PRELOAD);
	const char *env[8] = {both};
	size_t e = 1;
	for (size_t i = 0; extra && extra[i]; i++)
		env[e++] = extra[i];
	env[e] = NULL;

	struct run control, with;
	run(&control, argv, (const char *[]){errno_only, NULL});
	run(&with, argv, env);
	cr_expect_eq(control.code, 0, "%s: the control lost the sentinel: %s", what, control.out);
	char *calls = fmt("chain calls=%zu\n", n);
	cr_expect(strstr(control.out, calls), "%s: the control: %s", what, control.out);
	cr_expect(strstr(with.out, calls), "%s: the second interposer was not in the chain: %s",
	          what, with.out);
	cr_expect_eq(with.code, control.code, "%s: errno changed under authtap:\n%s", what,
	             with.out);
	cr_expect_str_eq(with.out, control.out, "%s", what);
	cr_expect_leq(count_lines(with.err, "authtap: "), 1, "%s: %s", what, with.err);
	run_free(&control);
	run_free(&with);
	free(calls);
	free(both);
	free(errno_only);
}

Test(differential, errno_is_handed_back)
{
	char *log = temp_path("log.json");
	char *log_var = fmt("AUTHTAP_LOG=%s", log);
	const char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	const char *u407 = server_url(&srv, "/407"),
	           *ubig = server_url(&srv, "/hostile?size=102379");
	const char *unul = server_url(&srv, "/hostile?hex=410042");
	struct server gone;
	server_start(&gone);
	const char *urefused = server_url(&gone, "/401");
	server_stop(&gone);
	const char *const urls[] = {u401, u200, u407, ubig, unul, urefused, u401, NULL};

	errno_case("no log", urls, NULL);
	errno_case("log to a file", urls, (const char *[]){log_var, NULL});
	char *text_var = fmt("AUTHTAP_LOG=%s", temp_path("log.txt"));
	errno_case("text log", urls, (const char *[]){text_var, "AUTHTAP_FORMAT=text", NULL});
	errno_case("log to stderr", urls, (const char *[]){"AUTHTAP_LOG=stderr", NULL});
	errno_case("any status", urls, (const char *[]){log_var, "AUTHTAP_STATUS=any", NULL});
	errno_case("a full disk", urls, (const char *[]){"AUTHTAP_LOG=/dev/full", NULL});
	errno_case("a log that cannot be written", urls,
	           (const char *[]){"AUTHTAP_LOG=/proc/version", NULL});
	errno_case("a log that cannot be opened", urls,
	           (const char *[]){"AUTHTAP_LOG=/proc/version/log", NULL});
	errno_case("disabled", urls, (const char *[]){log_var, "AUTHTAP_DISABLE=1", NULL});
	size_t n;
	json_t **recs = log_read(log, &n);
	cr_expect_gt(n, 0, "nothing was recorded on the way");
	log_free(recs, n);
}
