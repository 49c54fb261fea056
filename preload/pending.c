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

void pending_add(const void *handle, const void *multi, struct net_ref conn)
{
	struct pending *p;

	pthread_mutex_lock(&pending_lock);
	HASH_FIND_PTR(pending_head, &handle, p);
	if (p) {
		p->multi = multi;
		p->conn = conn;
	}
	if (!p && (p = malloc(sizeof(*p)))) {
		p->handle = handle;
		p->multi = multi;
		p->conn = conn;
		HASH_ADD_PTR(pending_head, handle, p);
		/* With HASH_NONFATAL_OOM a failed add leaves p out. */
		if (!p->hh.tbl)
			free(p);
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
	if (p) {
		HASH_DEL(pending_head, p);
		atomic_fetch_sub_explicit(&pending_count, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&pending_lock);
	bool found = p != NULL;
	if (p && conn)
		*conn = p->conn;
	free(p);
	return found;
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
		if (p->multi != multi)
			continue;
		handles[n] = p->handle;
		conns[n++] = p->conn;
		HASH_DEL(pending_head, p);
		atomic_fetch_sub_explicit(&pending_count, 1, memory_order_relaxed);
		free(p);
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
