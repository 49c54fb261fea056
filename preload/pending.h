/* Transfers of the multi interface between curl_multi_add_handle and the
 * moment they are recorded, so that each is recorded exactly once.  A
 * transfer known to be over whose message the program has not read yet may
 * carry a snapshot of what it is to record (opaque here, owned by whoever
 * takes it), for a program that exits without ever reading it.
 *
 * The set is kept per multi handle.  libcurl forbids using one multi handle
 * (or an easy handle in it) from two threads at once, so the thread the
 * program drives a multi handle on owns its set for the call: adding and
 * taking take no lock, and a thread finds its multi handle's set through a
 * one-entry cache.  A set is an open-addressing hash of the easy handles
 * (linear probing, at most half full, backward-shift deletion), grown by
 * doubling; a table outgrown is kept, never freed, and so is a set whose
 * multi handle was cleaned up (the next new multi handle reuses it), so
 * that curl_easy_cleanup, which must look in every set, never reads freed
 * memory.  Only the snapshots of transfers with something to record (found
 * over before their message was read) are also in one locked list, which
 * the destructor takes at exit. */
#ifndef AUTHTAP_PENDING_H
#define AUTHTAP_PENDING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "net.h"

/* The snapshot of a transfer that was found over with nothing to record. */
extern char pending_nothing;
#define PENDING_NOTHING ((void *)&pending_nothing)

struct pending_entry {
	_Atomic(const void *) handle; /* NULL: free */
	/* NULL: not known to be over; PENDING_NOTHING; else a snapshot's
	 * node in the locked list (pending.c). */
	void *snap;
	struct net_ref conn;
};

struct pending_tab {
	struct pending_tab *older; /* outgrown, kept */
	size_t mask;
	size_t half; /* (mask + 1) / 2: the most entries it takes */
	unsigned shift;
	struct pending_entry e[];
};

struct pending_multi {
	/* PENDING_FREE: free for the next multi handle */
	_Atomic(const void *) multi;
	const void *lib; /* the libcurl multi came from (opaque here) */
	_Atomic(struct pending_tab *) tab;
	size_t count;     /* entries in use */
	size_t unsnapped; /* of which with snap NULL */
	void *spare;      /* snapshot nodes free for the next ones */
	size_t nspare;
	struct pending_multi *next; /* every set ever made; never unlinked */
};

/* What a set that belongs to no multi handle has for one (never NULL, so
 * that a NULL multi handle matches no set). */
extern char pending_free;
#define PENDING_FREE ((const void *)&pending_free)

/* This thread's last set; never NULL (an empty one with no multi handle and
 * no table). */
extern __thread struct pending_multi *pending_last __attribute__((tls_model("initial-exec")));

/* The set of multi, made for the library lib (opaque here) when lib is
 * not NULL and there is none; NULL when there is none (or, making one, no
 * memory).  It becomes this thread's last set.  Preserves errno. */
struct pending_multi *pending_find(const void *multi, const void *lib);

/* The same, through this thread's last set first. */
static inline struct pending_multi *pending_of(const void *multi, const void *lib)
{
	struct pending_multi *pm = pending_last;

	if (__builtin_expect(atomic_load_explicit(&pm->multi, memory_order_relaxed) == multi, 1))
		return pm;
	return pending_find(multi, lib);
}

static inline size_t pending_slot(const struct pending_tab *t, const void *handle)
{
	return (size_t)(((uintptr_t)handle * UINT64_C(0x9e3779b97f4a7c15)) >> t->shift);
}

/* Adds handle when the table must grow, or had it already. */
void *pending_add_slow(struct pending_multi *pm, const void *handle, struct net_ref conn);

/* The free slot handle (not NULL) goes to in pm, for the caller to fill
 * (snap, conn) and then pending_add_commit; NULL when the table must grow
 * or has the handle already: then pending_add_slow.  Changes nothing. */
static inline struct pending_entry *pending_add_slot(struct pending_multi *pm, const void *handle)
{
	struct pending_tab *t = atomic_load_explicit(&pm->tab, memory_order_relaxed);

	if (__builtin_expect(pm->count >= t->half, 0))
		return NULL;
	size_t i = pending_slot(t, handle);
	const void *k;
	while ((k = atomic_load_explicit(&t->e[i].handle, memory_order_relaxed))) {
		if (k == handle)
			return NULL;
		i = (i + 1) & t->mask;
	}
	return &t->e[i];
}

static inline void pending_add_commit(struct pending_multi *pm, struct pending_entry *e,
                                      const void *handle)
{
	atomic_store_explicit(&e->handle, handle, memory_order_release);
	pm->count++;
	pm->unsnapped++;
}

/* Adds handle (not NULL) to pm with conn, the client connection the
 * transfer serves, if any.  Returns the snapshot of an entry the handle
 * already had (for the caller to free), or NULL.  Preserves errno. */
static inline void *pending_add(struct pending_multi *pm, const void *handle, struct net_ref conn)
{
	struct pending_entry *e = pending_add_slot(pm, handle);

	if (__builtin_expect(!e, 0))
		return pending_add_slow(pm, handle, conn);
	e->snap = NULL;
	e->conn = conn;
	pending_add_commit(pm, e, handle);
	return NULL;
}

/* Frees a snapshot handed out by the functions below (PENDING_NOTHING
 * included). */
void pending_snap_free(void *snap);

/* Empties slot i of t, which holds an entry of pm, and hands out what it
 * kept; out of line when it kept a snapshot. */
void *pending_snap_claim(struct pending_multi *pm, void *node);
/* Empties slot i of t, moving back the later entries of its run. */
void pending_shift(struct pending_tab *t, size_t i);
static inline void pending_erase(struct pending_multi *pm, struct pending_tab *t, size_t i,
                                 struct net_ref *conn, void **snap)
{
	void *s = t->e[i].snap;

	if (conn)
		*conn = t->e[i].conn;
	if (!s)
		pm->unsnapped--;
	else if (s != PENDING_NOTHING)
		s = pending_snap_claim(pm, s);
	*snap = s;
	pm->count--;
	/* Mostly the run ends at i. */
	if (__builtin_expect(
	        !atomic_load_explicit(&t->e[(i + 1) & t->mask].handle, memory_order_relaxed), 1))
		atomic_store_explicit(&t->e[i].handle, NULL, memory_order_release);
	else
		pending_shift(t, i);
}

/* True, once, for a handle added to pm and not yet taken; *conn (may be
 * NULL) and *snap get what was kept with it: *snap NULL (none),
 * PENDING_NOTHING, or a snapshot the caller then owns. */
static inline bool pending_take(struct pending_multi *pm, const void *handle, struct net_ref *conn,
                                void **snap)
{
	struct pending_tab *t = atomic_load_explicit(&pm->tab, memory_order_relaxed);
	size_t i = pending_slot(t, handle);
	const void *k;

	while ((k = atomic_load_explicit(&t->e[i].handle, memory_order_relaxed)) != handle) {
		if (!k)
			return false;
		i = (i + 1) & t->mask;
	}
	pending_erase(pm, t, i, conn, snap);
	return true;
}

/* pending_take in whichever set holds handle: for curl_easy_cleanup, which
 * is not told the multi handle. */
bool pending_take_any(const void *handle, struct net_ref *conn, void **snap);

/* Takes up to max handles added to multi, with their connections and
 * snapshots; returns how many.  For curl_multi_cleanup, which ends them
 * all: pending_release then frees the set for another multi handle. */
size_t pending_take_multi(const void *multi, const void **handles, struct net_ref *conns,
                          void **snaps, size_t max);
void pending_release(const void *multi);

/* New snapshot nodes, linked into the list the destructor takes in one
 * go. */
struct pending_snap;
struct pending_chain {
	struct pending_snap *first, *last;
};

/* The list's head (pending.c): read without its lock only to see whether
 * there is anything to reap. */
extern _Atomic(struct pending_snap *) pending_snaps;

/* A node for snap at the head of ch; NULL when out of memory. */
void *pending_snap_node(struct pending_multi *pm, void *snap, struct pending_chain *ch);
/* Under the list's lock: unlinks the nodes their entries claimed (kept for
 * pm's next snapshots), then links ch. */
void pending_chain_link(struct pending_multi *pm, struct pending_chain *ch);

/* Every transfer of pm is over (nothing of it runs any more): fn makes a
 * snapshot for each of its handles that has none yet, on the calling
 * thread, which is the one driving it.  Inline, so that a constant fn is
 * too: the scan runs once per transfer when a perform leaves nothing
 * running.  fn keeps errno. */
static inline __attribute__((always_inline)) void
pending_all_done(struct pending_multi *pm, void *(*fn)(const void *handle, void *arg), void *arg)
{
	struct pending_tab *t = atomic_load_explicit(&pm->tab, memory_order_relaxed);
	struct pending_chain ch = {NULL, NULL};
	struct pending_entry *e = t->e, *end = t->e + t->mask + 1;
	size_t left = pm->unsnapped, done = 0;

	for (; left && e != end; e++) {
		const void *h = atomic_load_explicit(&e->handle, memory_order_relaxed);
		if (!h || e->snap)
			continue;
		left--;
		void *snap = fn(h, arg);
		void *node = PENDING_NOTHING;
		if (__builtin_expect(snap != NULL, 0) &&
		    !(node = pending_snap_node(pm, snap, &ch))) {
			/* No memory for the node: it will be read from
			 * libcurl. */
			pending_snap_free(snap);
			continue;
		}
		e->snap = node;
		done++;
	}
	pm->unsnapped -= done;
	if (__builtin_expect(ch.first != NULL, 0) ||
	    __builtin_expect(atomic_load_explicit(&pending_snaps, memory_order_relaxed) != NULL, 0))
		pending_chain_link(pm, &ch);
}

/* Takes up to max snapshots out of the pending transfers, which stay
 * pending; returns how many.  At exit. */
size_t pending_take_snaps(void **snaps, size_t max);

void pending_atfork_prepare(void);
void pending_atfork_parent(void);
void pending_atfork_child(void);

#endif
