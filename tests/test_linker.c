/* What authtap asks of the dynamic linker, under unmodified hosts (GitHub
 * issue 12): libcurl called first from a thread of 16 KiB (glibc's
 * PTHREAD_STACK_MIN), by the program and by an object loaded after the
 * preload started; and libcurl reached only through dlsym and dlvsym, as
 * Python's ctypes and Ruby's FFI reach it, on three libcurl builds at once.
 * Each also runs without the preload as the control. */
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

TestSuite(linker, .init = setup, .fini = teardown, .timeout = 60);

/* The records of a run of /401, /200 and /403-scope: /401 then /403 for
 * the easy interface, in any order for the multi one, each once. */
static void expect_401_403(const struct traced *t, const char *api)
{
	char *u401 = server_url(&srv, "/401"), *u403 = server_url(&srv, "/403-scope");
	json_t *r401 = NULL, *r403 = NULL;

	expect_count(t, 2, api);
	for (size_t i = 0; i < t->n; i++) {
		if (jstr(t->rec[i], "url") && strcmp(jstr(t->rec[i], "url"), u401) == 0)
			r401 = t->rec[i];
		if (jstr(t->rec[i], "url") && strcmp(jstr(t->rec[i], "url"), u403) == 0)
			r403 = t->rec[i];
	}
	cr_assert(r401 && r403, "no record of /401 or of /403-scope");
	expect_record(r401,
		      &(struct want){.api = api,
				     .status = 401,
				     .final = true,
				     .flags = "",
				     .url = u401,
				     .nheaders = 1,
				     .name = "WWW-Authenticate",
				     .value = bearer_401(&srv)},
		      "/401");
	expect_record(
	    r403,
	    &(struct want){
		.api = api, .status = 403, .final = true, .flags = "", .url = u403, .nheaders = 1},
	    "/403-scope");
}

static void tiny(const char *mode, const char *late)
{
	struct traced t;
	const char *argv[8];
	size_t k = 0;

	argv[k++] = TEST_TINYSTACK;
	if (late) {
		argv[k++] = "--late";
		argv[k++] = late;
	}
	argv[k++] = mode;
	argv[k++] = server_url(&srv, "/401");
	argv[k++] = server_url(&srv, "/200");
	argv[k++] = server_url(&srv, "/403-scope");
	argv[k] = NULL;
	trace_run(&t, argv, NULL);
	cr_expect_eq(t.control.code, 0, "%s%s", t.control.out, t.control.err);
	cr_expect_eq(t.with.code, 0, "under the preload: %s%s", t.with.out, t.with.err);
	cr_expect(strstr(t.with.out, "thread done rc=0"), "%s", t.with.out);
	expect_401_403(&t, strcmp(mode, "easy") == 0 ? "easy" : "multi");
	trace_free(&t);
}

/* The program's own first calls, from the tiny thread. */
Test(linker, a_16k_thread_stack_easy)
{
	tiny("easy", NULL);
}

Test(linker, a_16k_thread_stack_multi)
{
	tiny("multi", NULL);
}

/* An object dlopen'ed after the preload started: its caller is looked up
 * on the tiny thread's first call. */
Test(linker, a_16k_thread_stack_in_an_object_loaded_later_easy)
{
	tiny("easy", TEST_TINYLATE);
}

Test(linker, a_16k_thread_stack_in_an_object_loaded_later_multi)
{
	tiny("multi", TEST_TINYLATE);
}

/* Every function dlsym'd on the handle of each build (curl_easy_perform of
 * the GnuTLS build with dlvsym): each transfer recorded once, with its
 * api, and run by the build it was looked up in (ran_in, compared with the
 * control); a library without the name still gives NULL; dlsym(RTLD_NEXT)
 * from the program still resolves past the program, to authtap's hook. */
Test(linker, functions_found_with_dlsym_are_recorded_per_build)
{
	struct traced t;
	char *u401 = server_url(&srv, "/401");

	trace_run(&t,
		  (const char *[]){TEST_DLSYMHOST, u401, "libcurl.so.4",
				   "libcurl-gnutls.so.4@CURL_GNUTLS_3", "libcurl-nss.so.4", NULL},
		  NULL);
	cr_expect_eq(t.with.code, 0, "%s%s", t.with.out, t.with.err);
	cr_expect(strstr(t.with.out, "libcurl-gnutls.so.4 easy result=0 status=401 "
				     "ran_in=libcurl-gnutls.so.4\n"),
		  "%s", t.with.out);
	cr_expect(strstr(t.with.out, "libcurl-nss.so.4 multi result=0 status=401 "
				     "ran_in=libcurl-nss.so.4\n"),
		  "%s", t.with.out);
	cr_expect(strstr(t.with.out, "libc.so.6 has no curl_easy_perform: dlsym gives NULL and "
				     "an error\n"),
		  "%s", t.with.out);
	expect_count(&t, 6, "dlsym'd functions of three builds");
	for (size_t i = 0; i < t.n && i < 6; i++)
		expect_record(t.rec[i],
			      &(struct want){.api = i % 2 ? "multi" : "easy",
					     .result = 0,
					     .status = 401,
					     .final = true,
					     .flags = "",
					     .url = u401,
					     .nheaders = 1,
					     .value = bearer_401(&srv)},
			      "dlsym'd transfer");
	cr_expect(strstr(t.control.err, "next curl_easy_perform in=-\n"), "%s", t.control.err);
	cr_expect(strstr(t.with.err, "next curl_easy_perform in=libauthtap.so\n"),
		  "dlsym(RTLD_NEXT) did not resolve past the program: %s", t.with.err);
	/* The program's own RTLD_NEXT lookup of a name authtap does not
	 * define finds what it finds without the preload (libc's, or the
	 * ASan runtime's in an instrumented build). */
	const char *mc = strstr(t.control.err, "next malloc in="),
		   *mw = strstr(t.with.err, "next malloc in=");
	cr_assert(mc && mw, "%s", t.with.err);
	cr_expect(strncmp(mc, mw, strcspn(mc, "\n") + 1) == 0, "%s", t.with.err);
	trace_free(&t);
}

/* Loaded later and linked against the GnuTLS build, which nothing loaded
 * at the preload's start uses: the whole lookup of that library (every
 * function of it, whether it is the global one) starts on the tiny
 * thread. */
Test(linker, a_16k_thread_stack_in_an_object_on_another_build_easy)
{
	tiny("easy", TEST_TINYLATE_GNUTLS);
}

Test(linker, a_16k_thread_stack_in_an_object_on_another_build_multi)
{
	tiny("multi", TEST_TINYLATE_GNUTLS);
}
