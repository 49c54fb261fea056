/* The interposed libcurl functions.
 *
 * A transfer is recorded once, when it is over: after curl_easy_perform
 * returns, or when the program reads its CURLMSG_DONE from
 * curl_multi_info_read (before the message reaches it), or, for a handle
 * whose message was never read, when the program lets go of it:
 * curl_multi_remove_handle, curl_easy_cleanup or curl_multi_cleanup.  Some libcurl builds
 * (Debian's) call their own exported multi functions from inside curl_easy_perform through the PLT,
 * so those calls reach these hooks too: a per-thread list of the handles inside curl_easy_perform
 * keeps them from being recorded twice.  The list is per handle, not a per-thread flag, because a
 * callback running inside one perform may drive other handles on the same thread. */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "capture.h"
#include "curl_lib.h"
#include "hooks.h"
#include "linker.h"
#include "pending.h"
#include "preload.h"
#include "table.h"
#include "verdict.h"

#define HOOK_PROTO(ret, name, params, args) AUTHTAP_EXPORT ret name params;
#define HOOK_PROTO_VOID(name, params, args) AUTHTAP_EXPORT void name params;
AUTHTAP_CURL_HOOKS(HOOK_PROTO, HOOK_PROTO_VOID)
#undef HOOK_PROTO
#undef HOOK_PROTO_VOID

/* The names the routes of dlsym'd functions call (linker.c). */
#define HOOK_ALIAS(ret, name, params, args)                                                        \
	extern __typeof__(name) hook_##name __attribute__((alias(#name)));
#define HOOK_ALIAS_VOID(name, params, args) HOOK_ALIAS(void, name, params, args)
AUTHTAP_CURL_HOOKS(HOOK_ALIAS, HOOK_ALIAS_VOID)
#undef HOOK_ALIAS
#undef HOOK_ALIAS_VOID

#define HOOK_MAX_NESTED 16

/* No library: a range nothing lies in. */
static const struct curl_lib hook_no_lib = {.lo = 0, .size = 0};

/* The handles inside curl_easy_perform on this thread, innermost last.
 * Deeper nesting than this is not tracked (and may then be recorded
 * twice, never missed). */
static __thread __attribute__((tls_model("initial-exec"))) struct {
	const void *handle[HOOK_MAX_NESTED];
	const struct curl_lib *lib[HOOK_MAX_NESTED];
	unsigned depth;
	/* Running the innermost one; &hook_no_lib: none.  Never NULL, so
	 * that self_call needs no test for it (glibc relocates a thread-local
	 * initializer before it copies it to a thread). */
	const struct curl_lib *inner;
} hook_easy = {.inner = &hook_no_lib};

/* The handle whose message this thread read last, its multi handle and
 * the libcurl that handed it over: its entry was taken then, so its
 * removal right after, the usual next step, need not look for it nor for
 * the library.  Cleared when this thread adds or cleans up a handle. */
static __thread __attribute__((tls_model("initial-exec"))) struct {
	const void *handle, *multi;
	const struct curl_lib *lib;
} hook_taken;

/* The libcurl running h's curl_easy_perform on this thread, innermost
 * first; NULL when h is not inside one. */
static const struct curl_lib *easy_lib_of(const void *h)
{
	unsigned n = hook_easy.depth < HOOK_MAX_NESTED ? hook_easy.depth : HOOK_MAX_NESTED;

	while (n--)
		if (hook_easy.handle[n] == h)
			return hook_easy.lib[n];
	return NULL;
}

static inline bool in_easy_perform(const void *h)
{
	return __builtin_expect(hook_easy.depth != 0, 0) && easy_lib_of(h) != NULL;
}

/* The libcurl whose curl_easy_perform this thread is inside, when the call
 * comes from that library's own code: Debian's libcurl runs an easy
 * transfer through its exported multi functions.  Such a call goes straight
 * back to it, with nothing to record; this check comes first, as it is made
 * three times per easy transfer. */
static inline bool self_call(const void *caller)
{
	const struct curl_lib *lib = hook_easy.inner;

	return (uintptr_t)caller - lib->lo < lib->size;
}

static const struct curl_lib *caller_lib(const void *caller)
{
	return linker_lib_for(caller);
}

/* A multi transfer taken from the pending set, to be recorded: from the
 * snapshot made when it was over, if there is one, else from libcurl. */
static void multi_record(const struct curl_lib *lib, CURL *h, int result,
                         const struct net_ref *conn, void *snap)
{
	if (snap == PENDING_NOTHING) {
		if (!table_surely_absent(h)) {
			int saved = errno;
			table_drop(h);
			errno = saved;
		}
	} else if (snap) {
		capture_snapshot_replay(preload_config(), snap, h, result, conn);
	} else {
		capture_transfer(preload_config(), lib, h, result, RECORD_API_MULTI, conn);
	}
}

CURLcode curl_easy_perform(CURL *h)
{
	const struct curl_lib *lib = caller_lib(__builtin_return_address(0));
	const struct config *cfg = preload_config();

	if (!lib)
		return CURLE_FAILED_INIT;
	if (cfg->disabled || !h)
		return lib->real_curl_easy_perform(h);

	struct net_ref conn = {0};
	if (cfg->verdict)
		conn = verdict_transfer_start();
	unsigned depth = hook_easy.depth++;
	if (depth < HOOK_MAX_NESTED) {
		hook_easy.handle[depth] = h;
		hook_easy.lib[depth] = lib;
	}
	const struct curl_lib *outer = hook_easy.inner;
	hook_easy.inner = lib;
	CURLcode rc = lib->real_curl_easy_perform(h);
	hook_easy.inner = outer;
	hook_easy.depth--;
	capture_transfer(cfg, lib, h, rc, RECORD_API_EASY, &conn);
	return rc;
}

void curl_easy_cleanup(CURL *h)
{
	const struct curl_lib *lib = caller_lib(__builtin_return_address(0));

	/* A transfer of a multi handle whose message nobody read ends here;
	 * then the handle's entry goes, before the handle itself: once it is
	 * freed, malloc may hand its address to a new handle on another
	 * thread. */
	if (h) {
		int saved = errno;
		struct net_ref conn = {0};
		hook_taken.handle = NULL;
		void *snap;
		if (lib && pending_take_any(h, &conn, &snap))
			multi_record(lib, h, RECORD_RESULT_UNKNOWN, &conn, snap);
		table_drop(h);
		errno = saved;
	}
	if (lib)
		lib->real_curl_easy_cleanup(h);
}

/* The multi hooks below are entered three times per easy transfer from
 * inside libcurl: each tests self_call and passes straight through, and
 * only then enters the full hook, kept out of line so that the short path
 * sets up no frame.
 *
 * pm: the set of m when it is this thread's last one (the program's
 * usual case): m's libcurl is known then, and so is the configuration (a
 * set is made only when authtap is enabled).  NULL: found here. */
/* The client connection a multi transfer starting now serves, if any.
 * net_accepted only loads a flag; the pairing behind it is rare. */
static inline struct net_ref add_conn(const struct config *cfg)
{
	struct net_ref conn = {0};

	if (__builtin_expect(cfg->verdict && net_accepted(), 0)) {
		int saved = errno;
		conn = verdict_pair_start();
		errno = saved;
	}
	return conn;
}

/* An entry the handle already had (libcurl let go of it unseen), or no
 * room: rare. */
static __attribute__((noinline)) void add_slow(struct pending_multi *pm, CURL *h)
{
	int saved = errno;
	void *old = pending_add_slow(pm, h, add_conn(&preload_cfg));

	if (old)
		pending_snap_free(old);
	errno = saved;
}

/* lib: m's, known from its set; NULL: found here. */
static __attribute__((noinline)) CURLMcode multi_add(CURLM *m, CURL *h, const void *caller,
                                                     const struct curl_lib *lib)
{
	const struct config *cfg;

	if (!lib) {
		/* Inside curl_easy_perform, libcurl adding its own handle:
		 * nothing to record, and the library is the one already
		 * running it. */
		if (__builtin_expect(hook_easy.depth != 0, 0) && (lib = easy_lib_of(h)))
			return lib->real_curl_multi_add_handle(m, h);
		lib = caller_lib(caller);
		if (!lib)
			return CURLM_INTERNAL_ERROR;
	}
	hook_taken.handle = NULL;
	CURLMcode rc = lib->real_curl_multi_add_handle(m, h);
	if (__builtin_expect(rc != CURLM_OK || !h, 0) || (cfg = preload_config())->disabled)
		return rc;
	struct pending_multi *pm = pending_of(m, lib);
	if (!pm)
		return rc;
	/* pending_add preserves errno; an old snapshot is rare. */
	void *old = pending_add(pm, h, add_conn(cfg));
	if (__builtin_expect(old != NULL, 0)) {
		int saved = errno;
		pending_snap_free(old);
		errno = saved;
	}
	return rc;
}

/* add_known's rare end: the handle had an entry, or the table grows. */
static __attribute__((noinline)) CURLMcode add_known_slow(struct pending_multi *pm, CURL *h)
{
	add_slow(pm, h);
	return CURLM_OK;
}

/* The program adding a handle to the multi handle of this thread's last
 * set (libcurl and the configuration known: a set is made only when
 * authtap is enabled).  After libcurl took the handle, only tail calls:
 * the frame keeps two registers. */
static __attribute__((noinline)) CURLMcode add_known(CURLM *m, CURL *h, struct pending_multi *pm)
{
	const struct curl_lib *lib = pm->lib;

	/* A client connection to pair with exists only once the program has
	 * accepted one (rare here): checked before the call, as the program
	 * read the request this transfer serves before it added it. */
	if (__builtin_expect(preload_cfg.verdict && net_accepted(), 0))
		return multi_add(m, h, NULL, lib);
	hook_taken.handle = NULL;
	CURLMcode rc = lib->real_curl_multi_add_handle(m, h);
	if (__builtin_expect(rc != CURLM_OK, 0))
		return rc;
	struct pending_entry *e = pending_add_slot(pm, h);
	if (__builtin_expect(!e, 0))
		return add_known_slow(pm, h);
	e->snap = NULL;
	e->conn = (struct net_ref){0};
	pending_add_commit(pm, e, h);
	return CURLM_OK;
}

CURLMcode curl_multi_add_handle(CURLM *m, CURL *h)
{
	if (self_call(__builtin_return_address(0)))
		return hook_easy.inner->real_curl_multi_add_handle(m, h);
	/* A multi handle with a set is the program's: libcurl's own, inside
	 * curl_easy_perform, never gets one.  A NULL h is refused by libcurl
	 * (CURLM_BAD_EASY_HANDLE) before add_known looks for a slot. */
	struct pending_multi *pm = pending_last;
	if (__builtin_expect(atomic_load_explicit(&pm->multi, memory_order_relaxed) == m, 1))
		return add_known(m, h, pm);
	return multi_add(m, h, __builtin_return_address(0), NULL);
}

static __attribute__((noinline)) CURLMsg *multi_info_read(CURLM *m, int *msgs_in_queue,
                                                          const void *caller)
{
	const struct curl_lib *lib = caller_lib(caller);

	if (!lib) {
		if (msgs_in_queue)
			*msgs_in_queue = 0;
		return NULL;
	}
	CURLMsg *msg = lib->real_curl_multi_info_read(m, msgs_in_queue);
	struct net_ref conn = {0};
	void *snap;
	struct pending_multi *pm;
	if (msg && msg->msg == CURLMSG_DONE && msg->easy_handle &&
	    !in_easy_perform(msg->easy_handle) && (pm = pending_of(m, NULL)) &&
	    pending_take(pm, msg->easy_handle, &conn, &snap)) {
		hook_taken.handle = msg->easy_handle;
		hook_taken.multi = m;
		hook_taken.lib = lib;
		multi_record(lib, msg->easy_handle, msg->data.result, &conn, snap);
	}
	return msg;
}

/* The program reading a message of the multi handle of this thread's last
 * set (libcurl and the configuration known, as for multi_add with a set):
 * a finished transfer's common path, one response with nothing to record,
 * is inline here. */
static __attribute__((noinline)) CURLMsg *info_read_known(CURLM *m, int *msgs_in_queue,
                                                          struct pending_multi *pm)
{
	const struct curl_lib *lib = pm->lib;
	CURLMsg *msg = lib->real_curl_multi_info_read(m, msgs_in_queue);
	struct net_ref conn = {0};
	void *snap;

	if (!msg || msg->msg != CURLMSG_DONE || !msg->easy_handle ||
	    !pending_take(pm, msg->easy_handle, &conn, &snap))
		return msg;
	hook_taken.handle = msg->easy_handle;
	hook_taken.multi = m;
	hook_taken.lib = lib;
	/* Found over earlier, with nothing to record: only a table entry of
	 * an earlier transfer may be left to drop. */
	if (snap == PENDING_NOTHING) {
		if (!table_surely_absent(msg->easy_handle))
			multi_record(lib, msg->easy_handle, msg->data.result, &conn, snap);
	} else if (__builtin_expect(snap != NULL, 0))
		multi_record(lib, msg->easy_handle, msg->data.result, &conn, snap);
	else
		capture_transfer(&preload_cfg, lib, msg->easy_handle, msg->data.result,
		                 RECORD_API_MULTI, &conn);
	return msg;
}

CURLMsg *curl_multi_info_read(CURLM *m, int *msgs_in_queue)
{
	if (self_call(__builtin_return_address(0)))
		return hook_easy.inner->real_curl_multi_info_read(m, msgs_in_queue);
	struct pending_multi *pm = pending_last;
	if (__builtin_expect(atomic_load_explicit(&pm->multi, memory_order_relaxed) == m, 1))
		return info_read_known(m, msgs_in_queue, pm);
	return multi_info_read(m, msgs_in_queue, __builtin_return_address(0));
}

static __attribute__((noinline)) CURLMcode multi_remove(CURLM *m, CURL *h, const void *caller)
{
	const struct curl_lib *lib;
	if (__builtin_expect(hook_easy.depth != 0, 0) && (lib = easy_lib_of(h)))
		return lib->real_curl_multi_remove_handle(m, h);

	lib = caller_lib(caller);
	if (!lib)
		return CURLM_INTERNAL_ERROR;
	/* Read before the removal, while the handle is surely still valid
	 * and its headers are those of the transfer that is ending. */
	struct net_ref conn = {0};
	void *snap;
	struct pending_multi *pm;
	if (h && !in_easy_perform(h) && (pm = pending_of(m, NULL)) &&
	    pending_take(pm, h, &conn, &snap))
		multi_record(lib, h, RECORD_RESULT_UNKNOWN, &conn, snap);
	return lib->real_curl_multi_remove_handle(m, h);
}

CURLMcode curl_multi_remove_handle(CURLM *m, CURL *h)
{
	if (self_call(__builtin_return_address(0)))
		return hook_easy.inner->real_curl_multi_remove_handle(m, h);
	/* The handle whose message this thread just read: taken then. */
	if (h == hook_taken.handle && m == hook_taken.multi) {
		hook_taken.handle = NULL;
		return hook_taken.lib->real_curl_multi_remove_handle(m, h);
	}
	return multi_remove(m, h, __builtin_return_address(0));
}

#define HOOK_CLEANUP_BATCH 64

CURLMcode curl_multi_cleanup(CURLM *m)
{
	const struct curl_lib *lib = caller_lib(__builtin_return_address(0));
	const void *handles[HOOK_CLEANUP_BATCH];
	struct net_ref conns[HOOK_CLEANUP_BATCH];
	void *snaps[HOOK_CLEANUP_BATCH];
	size_t n;

	if (!lib)
		return CURLM_INTERNAL_ERROR;
	/* Its transfers end with it, read or not. */
	int saved = errno;
	while (m && (n = pending_take_multi(m, handles, conns, snaps, HOOK_CLEANUP_BATCH)))
		for (size_t i = 0; i < n; i++) {
			multi_record(lib, (CURL *)handles[i], RECORD_RESULT_UNKNOWN, &conns[i],
			             snaps[i]);
		}
	pending_release(m);
	errno = saved;
	return lib->real_curl_multi_cleanup(m);
}

struct over_ctx {
	const struct config *cfg;
	const struct curl_lib *lib;
};

/* The common case inline, as in capture_transfer: one response, nothing to
 * record.  multi_over keeps errno. */
static inline __attribute__((always_inline)) void *snapshot_of(const void *h, void *arg)
{
	const struct over_ctx *c = arg;
	long status = 0;

	c->lib->real_curl_easy_getinfo((CURL *)h, CURLINFO_RESPONSE_CODE, &status);
	if (config_status_skipped(c->cfg, status) && c->lib->real_curl_easy_header &&
	    !capture_has_request(c->lib, (CURL *)h, 1))
		return NULL;
	return capture_snapshot(c->cfg, c->lib, (CURL *)h);
}

/* Nothing of m runs any more: each of its transfers is over, and its
 * message waits in m.  A program may exit without ever reading it (it
 * polled to the end, then exit()); what each would record is kept now,
 * while libcurl is surely safe to ask, and logged at exit if it is still
 * unread then. */
static __attribute__((noinline)) void multi_over(const struct curl_lib *lib, CURLM *m)
{
	const struct config *cfg = preload_config();

	if (cfg->disabled)
		return;
	int saved = errno;
	struct pending_multi *pm = pending_of(m, NULL);
	if (pm && pm->unsnapped) {
		struct over_ctx c = {cfg, lib};
		pending_all_done(pm, snapshot_of, &c);
	}
	errno = saved;
}

/* Whether m may have transfers not known to be over: false when this
 * thread's last set is m's and has none. */
static inline bool maybe_unsnapped(const CURLM *m)
{
	const struct pending_multi *pm = pending_last;

	return atomic_load_explicit(&pm->multi, memory_order_relaxed) != m || pm->unsnapped;
}

/* Debian's curl_easy_perform calls curl_multi_perform through the PLT,
 * a few times per transfer: that path is the short one, as for the hooks
 * above, and the rest is out of line. */
static __attribute__((noinline)) CURLMcode multi_perform(CURLM *m, int *running_handles,
                                                         const void *caller)
{
	const struct curl_lib *lib = caller_lib(caller);
	if (!lib)
		return CURLM_INTERNAL_ERROR;
	CURLMcode rc = lib->real_curl_multi_perform(m, running_handles);
	if (rc == CURLM_OK && running_handles && !*running_handles && maybe_unsnapped(m))
		multi_over(lib, m);
	return rc;
}

CURLMcode curl_multi_perform(CURLM *m, int *running_handles)
{
	if (self_call(__builtin_return_address(0)))
		return hook_easy.inner->real_curl_multi_perform(m, running_handles);
	return multi_perform(m, running_handles, __builtin_return_address(0));
}

static __attribute__((noinline)) CURLMcode multi_socket_action(CURLM *m, curl_socket_t s,
                                                               int ev_bitmask, int *running_handles,
                                                               const void *caller)
{
	const struct curl_lib *lib = caller_lib(caller);
	if (!lib)
		return CURLM_INTERNAL_ERROR;
	CURLMcode rc = lib->real_curl_multi_socket_action(m, s, ev_bitmask, running_handles);
	if (rc == CURLM_OK && running_handles && !*running_handles && maybe_unsnapped(m))
		multi_over(lib, m);
	return rc;
}

CURLMcode curl_multi_socket_action(CURLM *m, curl_socket_t s, int ev_bitmask, int *running_handles)
{
	if (self_call(__builtin_return_address(0)))
		return hook_easy.inner->real_curl_multi_socket_action(m, s, ev_bitmask,
		                                                      running_handles);
	return multi_socket_action(m, s, ev_bitmask, running_handles, __builtin_return_address(0));
}

/* At exit, the transfers that were over and never reported: logged from
 * their snapshots, flagged at_exit, without a call into libcurl (which
 * another thread may still be using, or the program has cleaned up).
 * _exit() and a fatal signal run no destructor: those stay unlogged. */
__attribute__((destructor)) static void hook_at_exit(void)
{
	void *snaps[HOOK_CLEANUP_BATCH];
	size_t n;

	if (!atomic_load_explicit(&preload_ready, memory_order_acquire) || preload_cfg.disabled)
		return;
	int saved = errno;
	while ((n = pending_take_snaps(snaps, HOOK_CLEANUP_BATCH)))
		for (size_t i = 0; i < n; i++)
			capture_snapshot_log(snaps[i]);
	errno = saved;
}
