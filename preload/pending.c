#include "pending.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#define HASH_NONFATAL_OOM 1
#include <uthash.h>

struct pending {
	const void *handle;
	const void *multi;
	struct net_ref conn;
	UT_hash_handle hh;
};

static pthread_mutex_t pending_lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending *pending_head;
static atomic_size_t pending_count;

/* uthash frees its buckets when its last entry leaves, and a program that
 * runs one transfer at a time would have them rebuilt for every one: an
 * entry that is no transfer's (its handle is an address no CURL handle can
 * have) stays in for good. */
static struct pending pending_anchor = {.handle = &pending_anchor};

/* Entries taken go to a short free list, not back to malloc. */
#define PENDING_SPARE 64
static struct pending *pending_spare[PENDING_SPARE];
static size_t pending_nspare;

static struct pending *entry_new(void)
{
	return pending_nspare ? pending_spare[--pending_nspare] : malloc(sizeof(struct pending));
}

static void entry_free(struct pending *p)
{
	if (pending_nspare < PENDING_SPARE)
		pending_spare[pending_nspare++] = p;
	else
		free(p);
}

void pending_add(const void *handle, const void *multi, struct net_ref conn)
{
	struct pending *p;

	pthread_mutex_lock(&pending_lock);
	if (!pending_head) {
		HASH_ADD_PTR(pending_head, handle, &pending_anchor);
		if (!pending_anchor.hh.tbl)
			pending_head = NULL;
	}
	HASH_FIND_PTR(pending_head, &handle, p);
	if (p) {
		p->multi = multi;
		p->conn = conn;
	}
	if (!p && (p = entry_new())) {
		p->handle = handle;
		p->multi = multi;
		p->conn = conn;
		HASH_ADD_PTR(pending_head, handle, p);
		/* With HASH_NONFATAL_OOM a failed add leaves p out. */
		if (!p->hh.tbl)
			entry_free(p);
		else
			atomic_fetch_add_explicit(&pending_count, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&pending_lock);
}

bool pending_take(const void *handle, struct net_ref *conn)
{
	struct pending *p;

	if (!atomic_load_explicit(&pending_count, memory_order_relaxed))
		return false;
	pthread_mutex_lock(&pending_lock);
	HASH_FIND_PTR(pending_head, &handle, p);
	if (p == &pending_anchor)
		p = NULL;
	if (p) {
		HASH_DEL(pending_head, p);
		atomic_fetch_sub_explicit(&pending_count, 1, memory_order_relaxed);
		if (conn)
			*conn = p->conn;
		entry_free(p);
	}
	pthread_mutex_unlock(&pending_lock);
	return p != NULL;
}

size_t pending_take_multi(const void *multi, const void **handles, struct net_ref *conns,
			  size_t max)
{
	struct pending *p, *tmp;
	size_t n = 0;

	if (!atomic_load_explicit(&pending_count, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&pending_lock);
	HASH_ITER(hh, pending_head, p, tmp) {
		if (n == max)
			break;
		if (p == &pending_anchor || p->multi != multi)
			continue;
		handles[n] = p->handle;
		conns[n++] = p->conn;
		HASH_DEL(pending_head, p);
		atomic_fetch_sub_explicit(&pending_count, 1, memory_order_relaxed);
		entry_free(p);
	}
	pthread_mutex_unlock(&pending_lock);
	return n;
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
