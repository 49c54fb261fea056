#include "pending.h"

#include <errno.h>
#include <pthread.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

/* A handle goes into one bucket of eight slots, picked by its address.  A
 * slot's key is 0 when free, PENDING_BUSY while a thread fills or empties
 * it, else the handle; the slot's other fields belong to whoever set the
 * key.  A handle is added and taken by the thread the program drives it
 * on (libcurl wants a handle used by one thread at a time), so two threads
 * only ever meet over different handles in the same bucket, which the
 * compare-and-swap on the key settles. */
#define PENDING_BUCKET_BITS 8
#define PENDING_BUCKETS (1u << PENDING_BUCKET_BITS)
#define PENDING_WAYS 8
#define PENDING_BUSY ((uintptr_t)1)

struct pending_bucket {
	alignas(64) _Atomic uintptr_t key[PENDING_WAYS];
};

struct pending_slot {
	_Atomic(const void *) multi;
	struct net_ref conn;
	_Atomic(void *) snap;
};

char pending_nothing;

void pending_snap_free(void *snap)
{
	if (snap != PENDING_NOTHING)
		free(snap);
}

/* A snapshot as the caller gets it, freed if the caller wants none. */
static void snap_out_of(void *sn, void **snap)
{
	if (snap)
		*snap = sn;
	else
		pending_snap_free(sn);
}

static struct pending_bucket pending_keys[PENDING_BUCKETS];
static struct pending_slot pending_slots[PENDING_BUCKETS][PENDING_WAYS];

/* Buckets that may hold a key: set when one is added, cleared by the scans
 * that find a bucket empty, so that a scan looks at the few buckets in use
 * only. */
static _Atomic uint64_t pending_used[PENDING_BUCKETS / 64];

/* Handles whose bucket was full go to a locked hash table. */
struct pending_over {
	const void *handle;
	const void *multi;
	struct net_ref conn;
	void *snap;
	UT_hash_handle hh;
};

static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending_over *pending_over_head;
static atomic_size_t pending_over_count;

static inline unsigned bucket_of(const void *handle)
{
	return (unsigned)(((uintptr_t)handle * UINT64_C(0x9e3779b97f4a7c15)) >>
	                  (64 - PENDING_BUCKET_BITS));
}

static inline void mark_used(unsigned b)
{
	uint64_t bit = UINT64_C(1) << (b % 64);

	if (!(atomic_load(&pending_used[b / 64]) & bit))
		atomic_fetch_or(&pending_used[b / 64], bit);
}

/* A scan found bucket b empty: its bit goes, unless an add came in
 * between (that add set its key before it looked at the bit). */
static void unmark_if_empty(unsigned b)
{
	uint64_t bit = UINT64_C(1) << (b % 64);

	for (unsigned w = 0; w < PENDING_WAYS; w++)
		if (atomic_load(&pending_keys[b].key[w]))
			return;
	atomic_fetch_and(&pending_used[b / 64], ~bit);
	for (unsigned w = 0; w < PENDING_WAYS; w++)
		if (atomic_load(&pending_keys[b].key[w])) {
			atomic_fetch_or(&pending_used[b / 64], bit);
			return;
		}
}

static void *over_add(const void *handle, const void *multi, struct net_ref conn)
{
	struct pending_over *p;
	void *old = NULL;
	int saved = errno;

	pthread_mutex_lock(&pending_lock);
	HASH_FIND_PTR(pending_over_head, &handle, p);
	if (p) {
		snap_out_of(p->snap, &old);
		p->snap = NULL;
		p->multi = multi;
		p->conn = conn;
	} else if ((p = malloc(sizeof(*p)))) {
		p->handle = handle;
		p->multi = multi;
		p->conn = conn;
		p->snap = NULL;
		HASH_ADD_PTR(pending_over_head, handle, p);
		/* With HASH_NONFATAL_OOM a failed add leaves p out. */
		if (!p->hh.tbl)
			free(p);
		else
			atomic_fetch_add(&pending_over_count, 1);
	}
	pthread_mutex_unlock(&pending_lock);
	errno = saved;
	return old;
}

void *pending_add(const void *handle, const void *multi, struct net_ref conn)
{
	unsigned b = bucket_of(handle);
	struct pending_bucket *bk = &pending_keys[b];
	uintptr_t h = (uintptr_t)handle;

	if (h <= PENDING_BUSY)
		return NULL;
	/* libcurl refuses a handle that is in a multi handle already, and
	 * every way out of one takes the handle's entry: the handle is not
	 * here, and the first free slot will do. */
	for (unsigned w = 0; w < PENDING_WAYS; w++) {
		uintptr_t expected = 0;
		if (atomic_load_explicit(&bk->key[w], memory_order_relaxed) ||
		    !atomic_compare_exchange_strong(&bk->key[w], &expected, PENDING_BUSY))
			continue;
		struct pending_slot *s = &pending_slots[b][w];
		atomic_store_explicit(&s->multi, multi, memory_order_relaxed);
		s->conn = conn;
		atomic_store_explicit(&s->snap, NULL, memory_order_relaxed);
		atomic_store_explicit(&bk->key[w], h, memory_order_release);
		mark_used(b);
		return NULL;
	}
	return over_add(handle, multi, conn);
}

/* Empties slot w of bucket b, whose key this thread has just claimed. */
static void slot_take(unsigned b, unsigned w, struct net_ref *conn, void **snap)
{
	struct pending_slot *s = &pending_slots[b][w];
	if (conn)
		*conn = s->conn;
	snap_out_of(atomic_exchange(&s->snap, NULL), snap);
	atomic_store_explicit(&pending_keys[b].key[w], 0, memory_order_release);
}

static bool over_take(const void *handle, struct net_ref *conn, void **snap)
{
	struct pending_over *p;

	if (!atomic_load_explicit(&pending_over_count, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&pending_lock);
	HASH_FIND_PTR(pending_over_head, &handle, p);
	if (p) {
		HASH_DEL(pending_over_head, p);
		atomic_fetch_sub(&pending_over_count, 1);
		if (conn)
			*conn = p->conn;
		snap_out_of(p->snap, snap);
		free(p);
	}
	pthread_mutex_unlock(&pending_lock);
	return p != NULL;
}

bool pending_take(const void *handle, struct net_ref *conn, void **snap)
{
	unsigned b = bucket_of(handle);
	struct pending_bucket *bk = &pending_keys[b];
	uintptr_t h = (uintptr_t)handle;

	if (snap)
		*snap = NULL;
	if (h <= PENDING_BUSY)
		return false;
	for (unsigned w = 0; w < PENDING_WAYS; w++) {
		uintptr_t k = atomic_load_explicit(&bk->key[w], memory_order_acquire);
		if (k == h && atomic_compare_exchange_strong(&bk->key[w], &k, PENDING_BUSY)) {
			slot_take(b, w, conn, snap);
			return true;
		}
	}
	return over_take(handle, conn, snap);
}

/* Calls fn on every slot that holds a handle, in the buckets in use, until
 * it returns false; clears the bits of buckets found empty. */
static void each_slot(bool (*fn)(unsigned b, unsigned w, uintptr_t key, void *arg), void *arg)
{
	for (unsigned i = 0; i < PENDING_BUCKETS / 64; i++) {
		uint64_t used = atomic_load(&pending_used[i]);
		while (used) {
			unsigned b = i * 64 + (unsigned)__builtin_ctzll(used);
			used &= used - 1;
			bool any = false;
			for (unsigned w = 0; w < PENDING_WAYS; w++) {
				uintptr_t k = atomic_load_explicit(&pending_keys[b].key[w],
				                                   memory_order_acquire);
				if (!k)
					continue;
				any = true;
				if (k != PENDING_BUSY && !fn(b, w, k, arg))
					return;
			}
			if (!any)
				unmark_if_empty(b);
		}
	}
}

/* Claims slot w of bucket b if it still holds key and belongs to multi. */
static bool claim_of(unsigned b, unsigned w, uintptr_t key, const void *multi)
{
	struct pending_slot *s = &pending_slots[b][w];

	if (atomic_load_explicit(&s->multi, memory_order_relaxed) != multi ||
	    !atomic_compare_exchange_strong(&pending_keys[b].key[w], &key, PENDING_BUSY))
		return false;
	/* The handle may have been taken and added again in between. */
	if (atomic_load_explicit(&s->multi, memory_order_relaxed) != multi) {
		atomic_store_explicit(&pending_keys[b].key[w], key, memory_order_release);
		return false;
	}
	return true;
}

struct take_multi {
	const void *multi;
	const void **handles;
	struct net_ref *conns;
	void **snaps;
	size_t n, max;
};

static bool take_one(unsigned b, unsigned w, uintptr_t key, void *arg)
{
	struct take_multi *t = arg;

	if (t->n == t->max)
		return false;
	if (!claim_of(b, w, key, t->multi))
		return true;
	t->handles[t->n] = (const void *)key;
	slot_take(b, w, &t->conns[t->n], &t->snaps[t->n]);
	t->n++;
	return true;
}

size_t pending_take_multi(const void *multi, const void **handles, struct net_ref *conns,
                          void **snaps, size_t max)
{
	struct take_multi t = {multi, handles, conns, snaps, 0, max};
	struct pending_over *p, *tmp;

	each_slot(take_one, &t);
	if (t.n == max || !atomic_load(&pending_over_count))
		return t.n;
	pthread_mutex_lock(&pending_lock);
	HASH_ITER(hh, pending_over_head, p, tmp)
	{
		if (t.n == max)
			break;
		if (p->multi != multi)
			continue;
		handles[t.n] = p->handle;
		conns[t.n] = p->conn;
		snap_out_of(p->snap, &snaps[t.n++]);
		HASH_DEL(pending_over_head, p);
		atomic_fetch_sub(&pending_over_count, 1);
		free(p);
	}
	pthread_mutex_unlock(&pending_lock);
	return t.n;
}

struct all_done {
	const void *multi;
	void *(*fn)(const void *handle, void *arg);
	void *arg;
};

static bool snap_one(unsigned b, unsigned w, uintptr_t key, void *arg)
{
	struct all_done *d = arg;
	struct pending_slot *s = &pending_slots[b][w];

	if (atomic_load_explicit(&s->multi, memory_order_relaxed) != d->multi ||
	    atomic_load(&s->snap))
		return true;
	void *snap = d->fn((const void *)key, d->arg), *none = NULL;
	if (!snap)
		snap = PENDING_NOTHING;
	/* Only this thread drives the handle; should it have been taken
	 * meanwhile all the same, the snapshot is dropped. */
	if (atomic_load(&pending_keys[b].key[w]) != key ||
	    !atomic_compare_exchange_strong(&s->snap, &none, snap))
		snap_out_of(snap, NULL);
	return true;
}

void pending_all_done(const void *multi, void *(*fn)(const void *handle, void *arg), void *arg)
{
	struct all_done d = {multi, fn, arg};
	struct pending_over *p, *tmp;

	each_slot(snap_one, &d);
	if (!atomic_load(&pending_over_count))
		return;
	/* The overflow's lock is not held across fn, which calls libcurl:
	 * its handles are collected first, a batch at a time; each gets a
	 * snapshot or PENDING_NOTHING, so that the next batch moves on. */
	const void *batch[64];
	size_t n;
	do {
		n = 0;
		pthread_mutex_lock(&pending_lock);
		HASH_ITER(hh, pending_over_head, p, tmp)
		{
			if (p->multi == multi && !p->snap && n < 64)
				batch[n++] = p->handle;
		}
		pthread_mutex_unlock(&pending_lock);
		for (size_t i = 0; i < n; i++) {
			void *snap = fn(batch[i], arg);
			if (!snap)
				snap = PENDING_NOTHING;
			pthread_mutex_lock(&pending_lock);
			HASH_FIND_PTR(pending_over_head, &batch[i], p);
			if (p && !p->snap) {
				p->snap = snap;
				snap = NULL;
			}
			pthread_mutex_unlock(&pending_lock);
			snap_out_of(snap, NULL);
		}
	} while (n == 64);
}

struct take_snaps {
	void **snaps;
	size_t n, max;
};

static bool snap_out(unsigned b, unsigned w, uintptr_t key, void *arg)
{
	struct take_snaps *t = arg;

	(void)key;
	if (t->n == t->max)
		return false;
	void *snap = atomic_load(&pending_slots[b][w].snap);
	if (snap && snap != PENDING_NOTHING &&
	    atomic_compare_exchange_strong(&pending_slots[b][w].snap, &snap, PENDING_NOTHING))
		t->snaps[t->n++] = snap;
	return true;
}

size_t pending_take_snaps(void **snaps, size_t max)
{
	struct take_snaps t = {snaps, 0, max};
	struct pending_over *p, *tmp;

	each_slot(snap_out, &t);
	if (!atomic_load(&pending_over_count))
		return t.n;
	pthread_mutex_lock(&pending_lock);
	HASH_ITER(hh, pending_over_head, p, tmp)
	{
		if (t.n == max)
			break;
		if (p->snap && p->snap != PENDING_NOTHING) {
			snaps[t.n++] = p->snap;
			p->snap = PENDING_NOTHING;
		}
	}
	pthread_mutex_unlock(&pending_lock);
	return t.n;
}

bool pending_maybe_nonempty(void)
{
	for (unsigned i = 0; i < PENDING_BUCKETS / 64; i++)
		if (atomic_load_explicit(&pending_used[i], memory_order_relaxed))
			return true;
	return atomic_load_explicit(&pending_over_count, memory_order_relaxed) != 0;
}

void pending_atfork_prepare(void)
{
	pthread_mutex_lock(&pending_lock);
}

void pending_atfork_parent(void)
{
	pthread_mutex_unlock(&pending_lock);
}

void pending_atfork_child(void)
{
	pthread_mutex_unlock(&pending_lock);
}
