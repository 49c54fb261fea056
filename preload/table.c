#include "table.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* uthash's default on allocation failure is exit(): never inside a host. */
#define HASH_NONFATAL_OOM 1
#define uthash_nonfatal_oom(e) (table_oom = true)
static bool table_oom;
#include <uthash.h>

struct table_entry {
	const void *handle;
	struct table_view view;
	size_t bytes_total;
	UT_hash_handle hh;
	struct table_header hdr[];
};

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct table_entry *table_head;
static size_t table_bytes;
atomic_size_t table_count;
static atomic_uint_fast64_t table_seq;

/* The calling thread's last put.  The preload is always in the initial set
 * of objects, so its TLS is static and reaching it never allocates. */
static __thread __attribute__((tls_model("initial-exec"))) struct {
	const void *handle;
	uint64_t seq;
} table_last_put;

struct table_entry *table_entry_new(const void *handle, const struct record *r)
{
	size_t n = r->nheaders < TABLE_MAX_VALUES ? r->nheaders : TABLE_MAX_VALUES;
	unsigned flags = r->flags;
	size_t bytes = 0;

	if (n < r->nheaders)
		flags |= RECORD_TRUNCATED;
	/* Keep whole headers while they fit; cut the first one that does not. */
	size_t keep = 0;
	for (; keep < n; keep++) {
		size_t need = r->headers[keep].name_len + r->headers[keep].value_len + 2;
		if (bytes + need > TABLE_MAX_ENTRY_BYTES) {
			flags |= RECORD_TRUNCATED;
			break;
		}
		bytes += need;
	}

	size_t head = sizeof(struct table_entry) + keep * sizeof(struct table_header);
	struct table_entry *e = malloc(head + bytes);
	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	char *blob = (char *)e + head;
	size_t at = 0;
	for (size_t i = 0; i < keep; i++) {
		const struct record_header *h = &r->headers[i];
		e->hdr[i].name_off = (uint32_t)at;
		e->hdr[i].name_len = (uint32_t)h->name_len;
		memcpy(blob + at, h->name, h->name_len);
		at += h->name_len;
		blob[at++] = '\0';
		e->hdr[i].value_off = (uint32_t)at;
		e->hdr[i].value_len = (uint32_t)h->value_len;
		memcpy(blob + at, h->value, h->value_len);
		at += h->value_len;
		blob[at++] = '\0';
	}
	e->handle = handle;
	e->view.status = r->status;
	e->view.flags = flags;
	e->view.nheaders = keep;
	e->view.headers = e->hdr;
	e->view.bytes = blob;
	e->bytes_total = head + bytes;
	return e;
}

static void table_remove_locked(struct table_entry *e)
{
	HASH_DEL(table_head, e);
	table_bytes -= e->bytes_total;
	atomic_fetch_sub_explicit(&table_count, 1, memory_order_relaxed);
	free(e);
}

uint64_t table_put(struct table_entry *e)
{
	struct table_entry *old;

	e->view.seq = atomic_fetch_add_explicit(&table_seq, 1, memory_order_relaxed) + 1;
	pthread_mutex_lock(&table_lock);
	HASH_FIND_PTR(table_head, &e->handle, old);
	/* Room for e, counting old as gone already.  uthash keeps insertion
	 * order, so the head is the oldest entry. */
	for (;;) {
		size_t count = HASH_COUNT(table_head) - (old != NULL);
		size_t bytes = table_bytes - (old ? old->bytes_total : 0);
		struct table_entry *oldest = old && table_head == old ? old->hh.next : table_head;
		if (!oldest ||
		    (count < TABLE_MAX_ENTRIES && bytes + e->bytes_total <= TABLE_MAX_TOTAL_BYTES))
			break;
		table_remove_locked(oldest);
	}
	/* e goes in before old goes out: uthash frees its buckets when the
	 * last entry leaves, and a handle's next transfer would rebuild them. */
	table_oom = false;
	HASH_ADD_PTR(table_head, handle, e);
	if (old)
		table_remove_locked(old);
	uint64_t seq = e->view.seq;
	if (table_oom) {
		free(e);
		seq = 0;
	} else {
		table_bytes += e->bytes_total;
		atomic_fetch_add_explicit(&table_count, 1, memory_order_relaxed);
		table_last_put.handle = e->handle;
		table_last_put.seq = seq;
	}
	pthread_mutex_unlock(&table_lock);
	return seq;
}

void table_drop(const void *handle)
{
	struct table_entry *e;

	if (!table_maybe_nonempty())
		return;
	pthread_mutex_lock(&table_lock);
	HASH_FIND_PTR(table_head, &handle, e);
	if (e)
		table_remove_locked(e);
	pthread_mutex_unlock(&table_lock);
}

int table_read(const void *handle, int (*fn)(const struct table_view *v, void *arg), void *arg)
{
	struct table_entry *e;
	int rc = -1;

	if (!handle || !table_maybe_nonempty())
		return -1;
	pthread_mutex_lock(&table_lock);
	HASH_FIND_PTR(table_head, &handle, e);
	if (e)
		rc = fn(&e->view, arg);
	pthread_mutex_unlock(&table_lock);
	return rc;
}

static int same_seq(const struct table_view *v, void *arg)
{
	return v->seq == *(const uint64_t *)arg;
}

const void *table_last(void)
{
	uint64_t seq = table_last_put.seq;
	const void *h = table_last_put.handle;

	return h && table_read(h, same_seq, &seq) == 1 ? h : NULL;
}

void table_atfork_prepare(void)
{
	pthread_mutex_lock(&table_lock);
}

void table_atfork_parent(void)
{
	pthread_mutex_unlock(&table_lock);
}

void table_atfork_child(void)
{
	pthread_mutex_unlock(&table_lock);
}
