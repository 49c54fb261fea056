/* authtap's libc hooks forward to the real functions, never to system calls
 * of their own (GitHub issue 14, item 4): an interposer preloaded after
 * authtap sees every call, those made before authtap's constructor has run
 * included, and read() stays a cancellation point; with AUTHTAP_DISABLE=1
 * too.  Each against the control: the same program without authtap. */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "harness.h"

#define IO_PAIRS "200"

TestSuite(interpose, .timeout = 90);

static const char *const with_interposer[] = {"LD_PRELOAD=" TEST_INTERPOSER, NULL};
static const char *const with_both[] = {"LD_PRELOAD=" TEST_PRELOAD " " TEST_INTERPOSER, NULL};
static const char *const with_both_disabled[] = {
	"LD_PRELOAD=" TEST_PRELOAD " " TEST_INTERPOSER, "AUTHTAP_DISABLE=1", NULL};
static const char *const with_authtap[] = {"LD_PRELOAD=" TEST_PRELOAD, NULL};
static const char *const with_authtap_disabled[] = {"LD_PRELOAD=" TEST_PRELOAD,
						    "AUTHTAP_DISABLE=1", NULL};

/* libchost io under env: all its calls done, and the interposer's count. */
static void io_counted(const char *const env[], const char *what)
{
	struct run r;

	run(&r, (const char *[]){TEST_LIBCHOST, "io", IO_PAIRS, NULL}, env);
	cr_expect_eq(r.code, 0, "%s: exit %d\n%s%s", what, r.code, r.out, r.err);
	cr_expect(strstr(r.out, "early=3 io=" IO_PAIRS "\n"), "%s: %s", what, r.out);
	/* 3 write+read pairs in libearlyio's constructor, before authtap's,
	 * then 200 of each kind in main. */
	cr_expect(strstr(r.err, "interposer read=203 write=203 recv=200 send=200\n"),
		  "%s: the interposer saw: %s", what, r.err);
	run_free(&r);
}

Test(interpose, an_interposer_after_authtap_sees_every_call)
{
	io_counted(with_interposer, "control (the interposer alone)");
	io_counted(with_both, "authtap, then the interposer");
}

Test(interpose, an_interposer_after_a_disabled_authtap_sees_every_call)
{
	io_counted(with_both_disabled, "AUTHTAP_DISABLE=1, then the interposer");
}

static void cancelled(const char *mode, const char *const env[], const char *what)
{
	struct run r;

	run(&r, (const char *[]){TEST_LIBCHOST, mode, NULL}, env);
	cr_expect_eq(r.code, 0, "%s, %s: exit %d\n%s%s", mode, what, r.code, r.out, r.err);
	cr_expect_str_eq(r.out, "cancelled\n", "%s, %s", mode, what);
	run_free(&r);
}

Test(interpose, read_acts_on_a_pending_cancel)
{
	cancelled("cancel-pending", NULL, "control");
	cancelled("cancel-pending", with_authtap, "authtap");
	cancelled("cancel-pending", with_authtap_disabled, "AUTHTAP_DISABLE=1");
}

Test(interpose, a_thread_blocked_in_read_is_cancelled)
{
	cancelled("cancel-blocked", NULL, "control");
	cancelled("cancel-blocked", with_authtap, "authtap");
	cancelled("cancel-blocked", with_authtap_disabled, "AUTHTAP_DISABLE=1");
}
