/* Verdicts: an unmodified proxy (tests/verdict/verdict_proxy.c) answers its
 * client in a scripted way, under the preload; the log must say what became
 * of the upstream's challenge, and the summary at exit must count it. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "harness.h"

static struct server upstream;

static void setup(void)
{
	server_start(&upstream);
}

static void teardown(void)
{
	server_stop(&upstream);
}

TestSuite(verdict, .init = setup, .fini = teardown, .timeout = 60);

struct traced {
	json_t **recs;
	size_t n;
	char *client_out;
};

/* Runs the proxy in MODE under the preload, sends it the client's requests
 * (the upstream's /401 each), and returns the proxy's log once it exited. */
static struct traced through_proxy(const char *mode, int requests, const char *extra_env)
{
	char *up = server_url(&upstream, "/401");
	struct proxy p;

	proxy_start(&p, (const char *[]){TEST_VERDICT_PROXY, mode, up, NULL}, true, extra_env);
	char *url = NULL;
	cr_assert(asprintf(&url, "http://127.0.0.1:%d/mcp", p.port) > 0);
	const char *argv[] = {TEST_CLIENT, "--quiet", url, url, NULL};
	if (requests == 1)
		argv[3] = NULL;
	struct run r;
	run(&r, argv, NULL);
	proxy_wait(&p);
	struct traced t;
	t.recs = log_read(p.log, &t.n);
	t.client_out = r.out;
	r.out = NULL;
	run_free(&r);
	return t;
}

/* The records of one type, in order. */
static size_t of_type(const struct traced *t, const char *type, json_t **out, size_t max)
{
	size_t k = 0;
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(jstr(t->recs[i], "type"), type) == 0 && k < max)
			out[k++] = t->recs[i];
	return k;
}

static json_t *the_verdict(const struct traced *t, const char *want)
{
	json_t *v[4];
	cr_assert_eq(of_type(t, "verdict", v, 4), 1, "want one verdict");
	cr_expect_str_eq(jstr(v[0], "verdict"), want);
	cr_expect_eq(jint(v[0], "upstream_status"), 401);
	return v[0];
}

static json_t *challenge_of(json_t *verdict)
{
	return json_array_get(json_object_get(verdict, "challenges"), 0);
}

static void expect_summary(const struct traced *t, const char *field, long long count)
{
	json_t *s[2];
	cr_assert_eq(of_type(t, "summary", s, 2), 1, "want one summary");
	cr_expect_eq(jint(s[0], field), count, "%s", field);
	cr_expect_eq(jint(s[0], "challenges"), count);
}

Test(verdict, forwarded_byte_by_byte_after_a_100)
{
	struct traced t = through_proxy("forward", 1, NULL);
	json_t *v = the_verdict(&t, "forwarded");
	cr_expect_eq(jint(v, "downstream_status"), 401);
	cr_expect_str_eq(jstr(challenge_of(v), "result"), "forwarded");
	cr_expect_str_eq(jstr(challenge_of(v), "downstream"), jstr(challenge_of(v), "upstream"));
	expect_summary(&t, "forwarded", 1);
}

Test(verdict, dropped_with_a_chunked_body)
{
	struct traced t = through_proxy("drop", 1, NULL);
	json_t *v = the_verdict(&t, "dropped");
	cr_expect_eq(jint(v, "downstream_status"), 401);
	cr_expect_str_eq(jstr(challenge_of(v), "result"), "dropped");
	cr_expect(json_is_null(json_object_get(challenge_of(v), "downstream")));
	expect_summary(&t, "dropped", 1);
}

Test(verdict, altered_parameter_by_parameter)
{
	struct traced t = through_proxy("alter", 1, NULL);
	json_t *v = the_verdict(&t, "altered");
	json_t *changes = json_object_get(challenge_of(v), "changes");
	cr_assert_eq(json_array_size(changes), 1, "%s", json_dumps(v, 0));
	json_t *c = json_array_get(changes, 0);
	cr_expect_str_eq(jstr(c, "scheme"), "Bearer");
	cr_expect_str_eq(jstr(c, "param"), "realm");
	cr_expect_str_eq(jstr(c, "upstream"), "mcp");
	cr_expect_str_eq(jstr(c, "downstream"), "proxy");
	expect_summary(&t, "altered", 1);
}

/* A control byte in one downstream parameter: the others, unchanged, are
 * compared one by one and not reported (issue 12, item 8). */
Test(verdict, a_control_byte_in_one_parameter_leaves_the_others_compared)
{
	struct traced t = through_proxy("alter-ctl", 1, NULL);
	json_t *v = the_verdict(&t, "altered");
	json_t *changes = json_object_get(challenge_of(v), "changes");
	cr_assert_eq(json_array_size(changes), 1, "%s", json_dumps(v, 0));
	json_t *c = json_array_get(changes, 0);
	cr_expect_str_eq(jstr(c, "param"), "realm");
	cr_expect_str_eq(jstr(c, "upstream"), "mcp");
	cr_expect_str_eq(jstr(c, "downstream"), "pro\001xy");
}

Test(verdict, converted_to_a_502)
{
	struct traced t = through_proxy("convert", 1, NULL);
	json_t *v = the_verdict(&t, "converted");
	cr_expect_eq(jint(v, "downstream_status"), 502);
	expect_summary(&t, "converted", 1);
}

Test(verdict, unpaired_when_the_connection_closes)
{
	struct traced t = through_proxy("close", 1, NULL);
	json_t *v = the_verdict(&t, "unpaired");
	cr_expect(json_is_null(json_object_get(v, "downstream_status")));
	cr_expect(strstr(jstr(v, "why"), "closed"), "%s", jstr(v, "why"));
	expect_summary(&t, "unpaired", 1);
}

Test(verdict, two_requests_on_one_connection)
{
	struct traced t = through_proxy("twice", 2, NULL);
	json_t *v[4];
	cr_assert_eq(of_type(&t, "verdict", v, 4), 2);
	cr_expect_str_eq(jstr(v[0], "verdict"), "dropped");
	cr_expect_str_eq(jstr(v[1], "verdict"), "forwarded");
	json_t *s[2];
	cr_assert_eq(of_type(&t, "summary", s, 2), 1);
	cr_expect_eq(jint(s[0], "challenges"), 2);
	cr_expect_eq(jint(s[0], "dropped"), 1);
	cr_expect_eq(jint(s[0], "forwarded"), 1);
}

Test(verdict, off_when_asked)
{
	struct traced t = through_proxy("drop", 1, "AUTHTAP_VERDICT=0");
	json_t *v[2];
	cr_expect_eq(of_type(&t, "verdict", v, 2), 0);
	cr_expect_eq(of_type(&t, "summary", v, 2), 0);
	cr_expect_eq(of_type(&t, "response", v, 2), 1, "the response is still recorded");
}

/* The client side of the same exchange accepted nothing: no verdict, no
 * summary. */
Test(verdict, none_for_a_program_that_accepts_nothing)
{
	char *log = temp_path("client.json");
	char *url = server_url(&upstream, "/401");
	char *log_env, *preload_env;
	cr_assert(asprintf(&log_env, "AUTHTAP_LOG=%s", log) > 0);
	cr_assert(asprintf(&preload_env, "LD_PRELOAD=%s", TEST_PRELOAD) > 0);
	struct run r;
	run(&r, (const char *[]){TEST_CLIENT, url, NULL},
	    (const char *[]){preload_env, log_env, NULL});
	size_t n;
	json_t **recs = log_read(log, &n);
	cr_assert_eq(n, 1);
	cr_expect_str_eq(jstr(recs[0], "type"), "response");
	log_free(recs, n);
	run_free(&r);
}

/* Pairing under concurrency (issue 13, items 1, 3 and 6): event-loop
 * proxies read several requests before their callbacks start the
 * transfers.  The clients are the curl command, run without the preload
 * (it is libcurl too); only the proxy runs under it. */

#define PYTHON "/usr/bin/python3"
#define CURL "/usr/bin/curl"

/* 10 rounds of one 401 and two 200s, then one of 10 and 110. */
static const struct load load = {10, 10, 110};
#define ROUNDS 10

Test(verdict, tornado_forwarding_under_concurrency_is_forwarded)
{
	char *up = server_url(&upstream, "");
	const char *argv[] = {PYTHON, TEST_TORNADO_PROXY, "forward", up, "COUNT", NULL};
	under_concurrency(argv, "/api/401", "/api/200", "forwarded ambiguous", ROUNDS, &load);
}

Test(verdict, tornado_dropping_under_concurrency_is_dropped)
{
	char *up = server_url(&upstream, "");
	const char *argv[] = {PYTHON, TEST_TORNADO_PROXY, "drop", up, "COUNT", NULL};
	under_concurrency(argv, "/api/401", "/api/200", "dropped ambiguous", ROUNDS, &load);
}

Test(verdict, multi_event_loop_forwarding_under_concurrency_is_forwarded)
{
	char *up = server_url(&upstream, "");
	const char *argv[] = {TEST_MULTI_PROXY, "forward", up, "COUNT", NULL};
	under_concurrency(argv, "/api/401", "/api/200", "forwarded ambiguous", ROUNDS, &load);
}

Test(verdict, multi_event_loop_dropping_under_concurrency_is_dropped)
{
	char *up = server_url(&upstream, "");
	const char *argv[] = {TEST_MULTI_PROXY, "drop", up, "COUNT", NULL};
	under_concurrency(argv, "/api/401", "/api/200", "dropped ambiguous", ROUNDS, &load);
}

/* Targets that say nothing of the upstream's (/opaque/a goes to /401,
 * /opaque/b to /200): the forwarded challenge is found in one head; a
 * dropped one cannot be told from the 200s: ambiguous, never converted. */
Test(verdict, tornado_opaque_routes_are_forwarded_or_ambiguous_never_wrong)
{
	char *up = server_url(&upstream, "");
	const char *argv[] = {PYTHON, TEST_TORNADO_PROXY, "forward", up, "COUNT", NULL};
	under_concurrency(argv, "/opaque/a", "/opaque/b", "forwarded ambiguous", 1, &load);
}

Test(verdict, tornado_opaque_routes_dropped_are_dropped_or_ambiguous_never_wrong)
{
	char *up = server_url(&upstream, "");
	const char *argv[] = {PYTHON, TEST_TORNADO_PROXY, "drop", up, "COUNT", NULL};
	under_concurrency(argv, "/opaque/a", "/opaque/b", "dropped ambiguous", 0, &load);
}

Test(verdict, multi_event_loop_opaque_routes_dropped_are_dropped_or_ambiguous)
{
	char *up = server_url(&upstream, "");
	const char *argv[] = {TEST_MULTI_PROXY, "drop", up, "COUNT", NULL};
	under_concurrency(argv, "/opaque/a", "/opaque/b", "dropped ambiguous", 0, &load);
}

/* A proxy that writes its 200 before it asks the upstream (issue 13,
 * item 3): the verdict says the client was already answered, and with
 * what, instead of pairing the 401 with the next request's head on the
 * same connection. */
Test(verdict, a_client_answered_before_the_transfer_started)
{
	struct proxy p;
	char *up = server_url(&upstream, "");
	const int times = 3;
	const char *argv[] = {PYTHON, TEST_TORNADO_PROXY, "answer-first", up, "6", NULL};

	proxy_start(&p, argv, true, NULL);
	for (int i = 0; i < times; i++) {
		/* Two requests on one connection, one after the other. */
		char *u401, *u200;
		cr_assert(asprintf(&u401, "http://127.0.0.1:%d/api/401", p.port) > 0);
		cr_assert(asprintf(&u200, "http://127.0.0.1:%d/api/200", p.port) > 0);
		struct run r;
		run(&r,
		    (const char *[]){CURL, "-s", "-o", "/dev/null", "-w", "%{http_code}\\n", "-d",
		                     "x", u401, "--next", "-s", "-o", "/dev/null", "-w",
		                     "%{http_code}\\n", u200, NULL},
		    NULL);
		cr_expect_eq(count_lines(r.out, "200"), 2, "%s", r.out);
		run_free(&r);
	}
	proxy_wait(&p);

	size_t n, verdicts = 0;
	json_t **recs = log_read(p.log, &n);
	for (size_t k = 0; k < n; k++) {
		if (strcmp(jstr(recs[k], "type"), "verdict") != 0)
			continue;
		verdicts++;
		char *dump = json_dumps(recs[k], 0);
		cr_expect_str_eq(jstr(recs[k], "verdict"), "unpaired", "%s", dump);
		cr_expect_str_eq(jstr(recs[k], "why"), "client already answered", "%s", dump);
		cr_expect_eq(jint(recs[k], "downstream_status"), 200, "%s", dump);
		free(dump);
	}
	cr_expect_eq(verdicts, (size_t)times);
	log_free(recs, n);
}
