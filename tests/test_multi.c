/* The multi interface (GitHub issue 5, part 1): tests/programs/multiclient,
 * unmodified, under the preload against tests/httpd.  A transfer is
 * recorded exactly once, per handle: at CURLMSG_DONE when the program reads
 * it, at curl_multi_remove_handle when it never does, and a callback that
 * drives another handle inside a perform on the same thread changes none of
 * that. */
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

TestSuite(multi, .init = setup, .fini = teardown, .timeout = 60);

#define SCOPE_VALUE "Bearer error=\"insufficient_scope\", scope=\"mcp:tools mcp:admin\""

/* The records of one handle: exactly one, which is returned. */
static json_t *only_record(const struct traced *t, const char *label)
{
	char *h = handle_of(t, label);
	json_t *r[8];

	cr_assert(h, "no handle %s on stderr: %s", label, t->with.err);
	size_t n = records_of(t, h, r, 8);
	cr_assert_eq(n, 1, "handle %s (%s) has %zu records, not exactly one", label, h, n);
	free(h);
	return r[0];
}

static void expect_none(const struct traced *t, const char *label)
{
	char *h = handle_of(t, label);
	json_t *r[8];

	cr_assert(h, "no handle %s on stderr: %s", label, t->with.err);
	cr_expect_eq(records_of(t, h, r, 8), 0, "handle %s should have no record", label);
	free(h);
}

/* What makes "exactly once" hard: Debian's builds call their own exported
 * multi functions through the PLT (curl_easy_perform calls
 * curl_multi_add_handle, curl_multi_info_read and curl_multi_remove_handle),
 * so those calls reach the preload's hooks from inside libcurl.  Every
 * "exactly one record" in these tests stands on it. */
Test(multi, debian_builds_call_their_multi_functions_through_the_plt)
{
	const char *libs[] = {TEST_LIBCURL_OPENSSL, TEST_LIBCURL_GNUTLS, TEST_LIBCURL_NSS};

	for (size_t i = 0; i < sizeof(libs) / sizeof(libs[0]); i++) {
		struct run r;
		run(&r, (const char *[]){"/usr/bin/readelf", "-rW", libs[i], NULL}, NULL);
		cr_assert_eq(r.code, 0, "readelf (binutils) on %s: %s", libs[i], r.err);
		cr_expect(strstr(r.out, "JUMP_SLOT") && strstr(r.out, " curl_multi_info_read@") &&
		              strstr(r.out, " curl_multi_remove_handle@") &&
		              strstr(r.out, " curl_multi_add_handle@"),
		          "%s does not call its multi functions through the PLT", libs[i]);
		run_free(&r);
	}
}

Test(multi, read_messages_then_remove)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	char *u403 = server_url(&srv, "/403-scope"), *none = server_url(&srv, "/401-none");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "read", u401, u200, u403, none, NULL},
	          NULL);
	cr_expect_eq(t.with.code, 0);
	cr_expect_eq(count_lines(t.with.out, "transfer "), 4, "%s", t.with.out);
	expect_count(&t, 3, "401, 200, 403, bare 401 on one multi handle");
	expect_record(only_record(&t, "0"),
	              &(struct want){.api = "multi",
	                             .status = 401,
	                             .final = true,
	                             .url = u401,
	                             .nheaders = 1,
	                             .name = "WWW-Authenticate",
	                             .value = bearer_401(&srv)},
	              "401");
	expect_none(&t, "1");
	expect_record(only_record(&t, "2"),
	              &(struct want){.api = "multi",
	                             .status = 403,
	                             .final = true,
	                             .url = u403,
	                             .nheaders = 1,
	                             .name = "WWW-Authenticate",
	                             .value = SCOPE_VALUE},
	              "403");
	expect_record(
	    only_record(&t, "3"),
	    &(struct want){
	        .api = "multi", .status = 401, .final = true, .url = none, .flags = "no_challenge"},
	    "bare 401");
	trace_free(&t);
}

/* The record is made when the program reads the message, before it sees it:
 * multiclient asks the query API (shim/authtap.h) as the message arrives. */
Test(multi, recorded_before_the_message_reaches_the_program)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "read", u401, u200, NULL}, NULL);
	expect_count(&t, 1, "one 401");
	cr_expect(strstr(t.with.err, "seen 0 401\n"), "%s", t.with.err);
	cr_expect(strstr(t.with.err, "seen 1 0\n"), "%s", t.with.err);
	cr_expect(strstr(t.control.err, "seen 0 0\n"), "%s", t.control.err);
	/* The removal after the read leaves the record alone. */
	cr_expect(strstr(t.with.err, "removed 0 401\n"), "%s", t.with.err);
	trace_free(&t);
}

Test(multi, removed_without_reading_the_message)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	char *none = server_url(&srv, "/401-none");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "noread", u401, u200, none, NULL}, NULL);
	cr_expect_eq(t.with.code, 0);
	expect_count(&t, 2, "never read: recorded at removal");
	/* The result is unknown to authtap (it never reads the message
	 * itself), so the transfer may have failed: incomplete. */
	expect_record(only_record(&t, "0"),
	              &(struct want){.api = "multi",
	                             .result = WANT_NULL,
	                             .status = 401,
	                             .final = true,
	                             .url = u401,
	                             .flags = "incomplete",
	                             .nheaders = 1,
	                             .name = "WWW-Authenticate",
	                             .value = bearer_401(&srv)},
	              "401 unread");
	expect_none(&t, "1");
	expect_record(only_record(&t, "2"),
	              &(struct want){.api = "multi",
	                             .result = WANT_NULL,
	                             .status = 401,
	                             .final = true,
	                             .url = none,
	                             .flags = "incomplete"},
	              "bare 401 unread");
	cr_expect(strstr(t.with.err, "removed 0 401\n"), "%s", t.with.err);
	trace_free(&t);
}

/* A program may also end a multi handle without removing its easy handles
 * (curl_multi_cleanup detaches them without calling
 * curl_multi_remove_handle; pycurl's CurlMulti.close() does just that), or
 * clean an easy handle up while it is still in its multi handle.  The
 * transfers finished all the same and must be recorded, once: the headers
 * are there until curl_easy_cleanup. */
Test(multi, multi_cleanup_without_removal)
{
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "close", u401, u403, NULL}, NULL);
	cr_expect_eq(t.with.code, 0);
	expect_count(&t, 2, "never read, never removed, multi handle cleaned up");
	expect_record(only_record(&t, "0"),
	              &(struct want){.api = "multi",
	                             .result = WANT_NULL,
	                             .status = 401,
	                             .final = true,
	                             .url = u401,
	                             .flags = "incomplete",
	                             .nheaders = 1,
	                             .value = bearer_401(&srv)},
	              "401 after curl_multi_cleanup");
	expect_record(only_record(&t, "1"),
	              &(struct want){.api = "multi",
	                             .result = WANT_NULL,
	                             .status = 403,
	                             .final = true,
	                             .url = u403,
	                             .flags = "incomplete",
	                             .nheaders = 1,
	                             .value = SCOPE_VALUE},
	              "403 after curl_multi_cleanup");
	trace_free(&t);
}

Test(multi, easy_cleanup_while_in_the_multi_handle)
{
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "easy-cleanup", u401, u403, NULL}, NULL);
	cr_expect_eq(t.with.code, 0);
	expect_count(&t, 2, "never read, easy handles cleaned up inside the multi handle");
	expect_record(only_record(&t, "0"),
	              &(struct want){.api = "multi",
	                             .result = WANT_NULL,
	                             .status = 401,
	                             .final = true,
	                             .url = u401,
	                             .flags = "incomplete",
	                             .nheaders = 1,
	                             .value = bearer_401(&srv)},
	              "401 at curl_easy_cleanup");
	expect_record(only_record(&t, "1"),
	              &(struct want){.api = "multi",
	                             .result = WANT_NULL,
	                             .status = 403,
	                             .final = true,
	                             .url = u403,
	                             .flags = "incomplete",
	                             .nheaders = 1,
	                             .value = SCOPE_VALUE},
	              "403 at curl_easy_cleanup");
	trace_free(&t);
}

Test(multi, removed_before_the_end_records_nothing)
{
	char *slow = server_url(&srv, "/slow");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "abort", slow, slow, NULL},
	          (const char *[]){"AUTHTAP_STATUS=any", NULL});
	cr_expect_str_eq(t.with.out, "aborted 2\n");
	expect_count(&t, 0, "transfers removed before any response");
	trace_free(&t);
}

Test(multi, concurrent_handles_on_threads)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	char *many = server_url(&srv, "/401-many");
	struct traced t;

	trace_run(&t,
	          (const char *[]){TEST_MULTICLIENT, "--threads", "6", "read", u401, u200, many,
	                           u401, NULL},
	          NULL);
	cr_expect_eq(t.with.code, 0);
	expect_count(&t, 18, "6 threads x 3 challenges");
	/* Every handle once: 18 distinct handles. */
	for (size_t i = 0; i < t.n; i++) {
		cr_expect_str_eq(jstr(t.rec[i], "api"), "multi");
		for (size_t k = 0; k < i; k++)
			cr_expect_str_neq(jstr(t.rec[i], "handle"), jstr(t.rec[k], "handle"),
			                  "records %zu and %zu share a handle", k, i);
	}
	trace_free(&t);
}

/* A write callback inside curl_multi_perform runs curl_easy_perform on
 * another handle: the inner transfer is an easy one (libcurl's internal
 * multi calls inside it record nothing), the outer a multi one. */
Test(multi, easy_perform_nested_in_a_multi_callback)
{
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "nested", u401, u403, NULL}, NULL);
	cr_expect_eq(t.with.code, 0);
	cr_expect(strstr(t.with.out, "transfer 1 api=easy result=0 status=403"), "%s", t.with.out);
	expect_count(&t, 2, "outer multi 401, inner easy 403");
	expect_record(only_record(&t, "1"),
	              &(struct want){.api = "easy",
	                             .status = 403,
	                             .final = true,
	                             .url = u403,
	                             .nheaders = 1,
	                             .value = SCOPE_VALUE},
	              "inner easy");
	expect_record(only_record(&t, "0"),
	              &(struct want){.api = "multi",
	                             .status = 401,
	                             .final = true,
	                             .url = u401,
	                             .nheaders = 1,
	                             .value = bearer_401(&srv)},
	              "outer multi");
	/* The inner transfer ended first. */
	cr_expect_str_eq(jstr(t.rec[0], "api"), "easy");
	trace_free(&t);
}

/* The converse: inside curl_easy_perform, a callback drives another handle
 * through a multi handle of its own.  A per-thread "inside perform" flag
 * would lose it; the guard is per handle. */
Test(multi, multi_transfer_nested_in_an_easy_callback)
{
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "nested-multi", u401, u403, NULL}, NULL);
	cr_expect_eq(t.with.code, 0);
	expect_count(&t, 2, "outer easy 401, inner multi 403");
	expect_record(only_record(&t, "1"),
	              &(struct want){.api = "multi",
	                             .status = 403,
	                             .final = true,
	                             .url = u403,
	                             .nheaders = 1,
	                             .value = SCOPE_VALUE},
	              "inner multi");
	expect_record(only_record(&t, "0"),
	              &(struct want){.api = "easy",
	                             .status = 401,
	                             .final = true,
	                             .url = u401,
	                             .nheaders = 1,
	                             .value = bearer_401(&srv)},
	              "outer easy");
	cr_expect_str_eq(jstr(t.rec[0], "api"), "multi");
	trace_free(&t);
}

/* One handle through the multi interface, then curl_easy_perform, then the
 * multi interface again: three transfers, three records. */
Test(multi, one_handle_through_both_interfaces)
{
	char *u401 = server_url(&srv, "/401"), *many = server_url(&srv, "/401-many");
	char *u403 = server_url(&srv, "/403-scope");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "reuse", u401, many, u403, NULL}, NULL);
	cr_expect_eq(t.with.code, 0);
	expect_count(&t, 3, "multi, easy, multi on one handle");
	char *h = handle_of(&t, "0");
	cr_assert(h);
	expect_record(t.rec[0],
	              &(struct want){.api = "multi",
	                             .status = 401,
	                             .final = true,
	                             .url = u401,
	                             .handle = h,
	                             .nheaders = 1,
	                             .value = bearer_401(&srv)},
	              "first, multi");
	expect_record(t.rec[1],
	              &(struct want){.api = "easy",
	                             .status = 401,
	                             .final = true,
	                             .url = many,
	                             .handle = h,
	                             .nheaders = 3,
	                             .value = "Negotiate"},
	              "second, easy");
	expect_record(t.rec[2],
	              &(struct want){.api = "multi",
	                             .status = 403,
	                             .final = true,
	                             .url = u403,
	                             .handle = h,
	                             .nheaders = 1,
	                             .value = SCOPE_VALUE},
	              "third, multi");
	free(h);
	trace_free(&t);
}

Test(multi, disabled_is_inert)
{
	char *u401 = server_url(&srv, "/401");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "read", u401, u401, NULL},
	          (const char *[]){"AUTHTAP_DISABLE=1", NULL});
	expect_count(&t, 0, "AUTHTAP_DISABLE=1");
	trace_free(&t);
}

/* GitHub issue 12, item 6: a program that drives its transfers to the end
 * and exits (exit(0)) without reading a message, removing a handle or
 * cleaning anything up.  Once nothing runs, each transfer is over: what it
 * would record is kept then, and logged at exit, flagged at_exit, result
 * unknown; the 200 gets nothing, as ever. */
Test(multi, finished_but_never_reported_before_exit)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	char *u403 = server_url(&srv, "/403-scope");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "exit", u401, u200, u403, NULL}, NULL);
	cr_expect_eq(t.with.code, 0);
	expect_count(&t, 2, "never read, never let go of: recorded at exit");
	expect_record(only_record(&t, "0"),
	              &(struct want){.api = "multi",
	                             .result = WANT_NULL,
	                             .status = 401,
	                             .final = true,
	                             .url = u401,
	                             .flags = "incomplete,at_exit",
	                             .nheaders = 1,
	                             .name = "WWW-Authenticate",
	                             .value = bearer_401(&srv)},
	              "401 never reported");
	expect_none(&t, "1");
	expect_record(only_record(&t, "2"),
	              &(struct want){.api = "multi",
	                             .result = WANT_NULL,
	                             .status = 403,
	                             .final = true,
	                             .url = u403,
	                             .flags = "incomplete,at_exit",
	                             .nheaders = 1,
	                             .value = SCOPE_VALUE},
	              "403 never reported");
	trace_free(&t);
}

/* The pending set is kept per multi handle (issue 15, item 6): two multi
 * handles taking turns on one thread, easy handles cleaned up while still
 * in the multi handle that is not the thread's last one, then both multi
 * handles gone and a third one made, which takes over a set that was
 * freed.  Every transfer once: three records at curl_easy_cleanup, three
 * when the third multi handle's messages are read. */
Test(multi, two_multi_handles_on_one_thread_then_a_third)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	char *u403 = server_url(&srv, "/403-scope"), *none = server_url(&srv, "/401-none");
	const char *urls[] = {u401, u200, u403, none};
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "two", u401, u200, u403, none, NULL},
	          NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_eq(count_lines(t.with.out, "transfer "), 8, "%s", t.with.out);
	expect_count(&t, 6, "3 challenges, twice: at curl_easy_cleanup, then read");
	for (size_t i = 0; i < t.n && i < 6; i++) {
		bool first = i < 3;
		json_t *result = json_object_get(t.rec[i], "result");
		cr_expect_str_eq(jstr(t.rec[i], "api"), "multi");
		if (first)
			cr_expect(json_is_null(result), "record %zu: result should be unknown", i);
		else
			cr_expect(json_is_integer(result) && json_integer_value(result) == 0,
			          "record %zu: result should be 0", i);
		/* Round one's records come in the order of the cleanups. */
		if (first)
			cr_expect_str_eq(jstr(t.rec[i], "url"), urls[i == 0 ? 0 : i + 1]);
	}
	/* Round two: each of the three once, in whatever order they ended. */
	for (size_t u = 0; u < 4; u++) {
		size_t seen = 0;
		for (size_t i = 3; i < t.n; i++)
			seen += strcmp(jstr(t.rec[i], "url"), urls[u]) == 0;
		cr_expect_eq(seen, u == 1 ? 0 : 1, "%s recorded %zu times in round two", urls[u],
		             seen);
	}
	trace_free(&t);
}

/* 40 handles on one multi handle, on each of two threads: a set grows
 * from 16 slots to 128 while transfers come and go. */
Test(multi, forty_handles_on_a_multi_handle)
{
	char *u401 = server_url(&srv, "/401"), *u200 = server_url(&srv, "/200");
	const char *argv[48] = {TEST_MULTICLIENT, "--threads", "2", "read"};
	size_t n = 4;
	struct traced t;

	for (int i = 0; i < 40; i++)
		argv[n++] = i % 2 ? u200 : u401;
	argv[n] = NULL;
	trace_run(&t, argv, NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	expect_count(&t, 40, "2 threads x 20 challenges");
	for (size_t i = 0; i < t.n; i++) {
		cr_expect_eq(jint(t.rec[i], "status"), 401);
		for (size_t k = 0; k < i; k++)
			cr_expect_str_neq(jstr(t.rec[i], "handle"), jstr(t.rec[k], "handle"),
			                  "records %zu and %zu share a handle", k, i);
	}
	trace_free(&t);
}

/* The add hook for a multi handle it knows finds the entry's slot only
 * once libcurl took the handle: a NULL handle and one added twice are
 * refused as without authtap (the same return codes, compared with the
 * control's output), leave no entry, and each transfer is recorded once. */
Test(multi, refused_adds_leave_no_entry)
{
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	struct traced t;

	trace_run(&t, (const char *[]){TEST_MULTICLIENT, "refused", u401, u403, NULL}, NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect(strstr(t.with.out, "refused null=2 again=7\n"),
	          "CURLM_BAD_EASY_HANDLE and CURLM_ADDED_ALREADY expected: %s", t.with.out);
	expect_count(&t, 2, "one record per challenge");
	json_t *r0 = only_record(&t, "0"), *r1 = only_record(&t, "1");
	cr_expect_eq(jint(r0, "status"), 401);
	cr_expect_eq(jint(r1, "status"), 403);
	cr_expect(json_is_integer(json_object_get(r0, "result")), "read, so its result is known");
	trace_free(&t);
	free(u401);
	free(u403);
}
