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

/* Which handles have an entry, readable without the lock: after a
 * transfer that records nothing, a handle's entry must go, and most
 * handles have none.  An open-addressing set (linear probing) of a 32-bit
 * tag per entry, changed under table_lock inside a sequence count, so that
 * a reader sees a consistent set or knows it did not.  Two handles may
 * share a tag: a hit only sends the caller to the lock. */
#define TABLE_SET_MIN 1024
#define TABLE_SET_GENERATIONS 16

_Atomic(struct table_set *) table_set_cur;
_Atomic unsigned table_set_seq;
__thread struct table_absent table_absent_last __attribute__((tls_model("initial-exec")));
static size_t table_set_count;

static inline size_t set_home(const struct table_set *st, uint32_t tag)
{
	return tag & st->mask;
}

static void set_put_tag(struct table_set *st, uint64_t x)
{
	uint32_t tag = table_set_tag(x);
	size_t i = set_home(st, tag);

	while (atomic_load_explicit(&st->tag[i], memory_order_relaxed))
		i = (i + 1) & st->mask;
	atomic_store_explicit(&st->tag[i], tag, memory_order_relaxed);
}

static struct table_set *set_new(size_t slots)
{
	struct table_set *st = calloc(1, sizeof(*st) + slots * sizeof(st->tag[0]));

	if (st)
		st->mask = slots - 1;
	return st;
}

static void seq_begin(void)
{
	atomic_store_explicit(&table_set_seq,
	                      atomic_load_explicit(&table_set_seq, memory_order_relaxed) + 1,
	                      memory_order_relaxed);
	atomic_thread_fence(memory_order_release);
}

static void seq_end(void)
{
	atomic_store_explicit(&table_set_seq,
	                      atomic_load_explicit(&table_set_seq, memory_order_relaxed) + 1,
	                      memory_order_release);
}

/* Under table_lock, after e went into the hash table: false when memory
 * is short, and e must come out again. */
static bool set_insert_locked(const struct table_entry *added)
{
	const void *handle = added->handle;
	struct table_set *st = atomic_load_explicit(&table_set_cur, memory_order_relaxed);

	if (!st || (table_set_count + 1) * 2 > st->mask + 1) {
		if (st && st->generation + 1 == TABLE_SET_GENERATIONS)
			return false;
		size_t slots = st ? (st->mask + 1) * 2 : TABLE_SET_MIN;
		struct table_set *bigger = set_new(slots);
		if (!bigger)
			return false;
		/* Filled before it is published: readers never see it
		 * half-made. */
		struct table_entry *e, *tmp;
		table_set_count = 0;
		HASH_ITER(hh, table_head, e, tmp)
		{
			if (e != added) {
				set_put_tag(bigger, table_set_hash(e->handle));
				table_set_count++;
			}
		}
		/* Sets replaced by a larger one stay reachable from it (a
		 * static array nobody reads could lose its stores). */
		bigger->older = st;
		bigger->generation = st ? st->generation + 1 : 0;
		atomic_store_explicit(&table_set_cur, bigger, memory_order_release);
		st = bigger;
	}
	seq_begin();
	set_put_tag(st, table_set_hash(handle));
	seq_end();
	table_set_count++;
	return true;
}

/* Under table_lock: one instance of handle's tag goes, and the entries
 * after it in its run move back (no tombstones). */
static void set_remove_locked(const void *handle)
{
	struct table_set *st = atomic_load_explicit(&table_set_cur, memory_order_relaxed);
	uint64_t x = table_set_hash(handle);
	uint32_t tag = table_set_tag(x);

	if (!st)
		return;
	size_t i = set_home(st, tag);
	uint32_t t;
	while ((t = atomic_load_explicit(&st->tag[i], memory_order_relaxed)) && t != tag)
		i = (i + 1) & st->mask;
	if (!t)
		return;
	seq_begin();
	size_t hole = i;
	for (size_t j = (i + 1) & st->mask;; j = (j + 1) & st->mask) {
		t = atomic_load_explicit(&st->tag[j], memory_order_relaxed);
		if (!t)
			break;
		size_t home = set_home(st, t);
		/* t may fill the hole if the hole lies between its home and
		 * where it is. */
		if (((j - home) & st->mask) >= ((j - hole) & st->mask)) {
			atomic_store_explicit(&st->tag[hole], t, memory_order_relaxed);
			hole = j;
		}
	}
	atomic_store_explicit(&st->tag[hole], 0, memory_order_relaxed);
	seq_end();
	table_set_count--;
}

/* The calling thread's last put.  The preload is always in the initial set
 * of objects, so its TLS is static and reaching it never allocates. */
static __thread __attribute__((tls_model("initial-exec"))) struct {
	const void *handle;
	uint64_t seq;
} table_last_put;

/* What an entry for r keeps: how many headers, their bytes, the flags. */
struct entry_size {
	size_t keep, bytes, total;
	unsigned flags;
};

static struct entry_size entry_measure(const struct record *r)
{
	size_t n = r->nheaders < TABLE_MAX_VALUES ? r->nheaders : TABLE_MAX_VALUES;
	struct entry_size z = {.flags = r->flags};

	if (n < r->nheaders)
		z.flags |= RECORD_TRUNCATED;
	/* Keep whole headers while they fit; cut the first one that does not. */
	for (; z.keep < n; z.keep++) {
		size_t need = r->headers[z.keep].name_len + r->headers[z.keep].value_len + 2;
		if (z.bytes + need > TABLE_MAX_ENTRY_BYTES) {
			z.flags |= RECORD_TRUNCATED;
			break;
		}
		z.bytes += need;
	}
	z.total = sizeof(struct table_entry) + z.keep * sizeof(struct table_header) + z.bytes;
	return z;
}

/* Writes r into e, whose allocation holds z.total bytes at least. */
static void entry_fill(struct table_entry *e, const struct record *r, const struct entry_size *z)
{
	char *blob = (char *)e + sizeof(struct table_entry) + z->keep * sizeof(struct table_header);
	size_t at = 0;

	for (size_t i = 0; i < z->keep; i++) {
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
	e->view.status = r->status;
	e->view.flags = z->flags;
	e->view.nheaders = z->keep;
	e->view.headers = e->hdr;
	e->view.bytes = blob;
}

struct table_entry *table_entry_new(const void *handle, const struct record *r)
{
	struct entry_size z = entry_measure(r);
	struct table_entry *e = malloc(z.total);

	if (!e)
		return NULL;
	memset(e, 0, sizeof(*e));
	e->handle = handle;
	entry_fill(e, r, &z);
	e->bytes_total = z.total;
	return e;
}

uint64_t table_replace(const void *handle, const struct record *r)
{
	struct entry_size z = entry_measure(r);
	struct table_entry *old;
	uint64_t seq = 0;

	pthread_mutex_lock(&table_lock);
	HASH_FIND_PTR(table_head, &handle, old);
	/* The handle's entry is rewritten where it is when it is large
	 * enough: no allocation, and its handle stays in the set. */
	if (old && old->bytes_total >= z.total) {
		entry_fill(old, r, &z);
		seq = old->view.seq =
		    atomic_fetch_add_explicit(&table_seq, 1, memory_order_relaxed) + 1;
		/* Replaced counts as new: it goes last in the eviction order.
		 * With other entries there, the buckets stay. */
		if (HASH_COUNT(table_head) > 1 && table_head->hh.tbl->tail != &old->hh) {
			HASH_DEL(table_head, old);
			table_oom = false;
			HASH_ADD_PTR(table_head, handle, old);
			if (table_oom) {
				/* Out of the hash table: out of the set too. */
				set_remove_locked(old->handle);
				table_bytes -= old->bytes_total;
				atomic_fetch_sub_explicit(&table_count, 1, memory_order_relaxed);
				free(old);
				seq = 0;
			}
		}
		if (seq) {
			table_last_put.handle = handle;
			table_last_put.seq = seq;
		}
		pthread_mutex_unlock(&table_lock);
		return seq;
	}
	pthread_mutex_unlock(&table_lock);
	struct table_entry *e = table_entry_new(handle, r);
	if (!e) {
		table_drop(handle);
		return 0;
	}
	return table_put(e);
}

static void table_remove_locked(struct table_entry *e)
{
	set_remove_locked(e->handle);
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
	if (!table_oom && !set_insert_locked(e)) {
		/* Without its tag the entry could be missed: out. */
		HASH_DEL(table_head, e);
		table_oom = true;
	}
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

	if (!table_maybe_nonempty() || table_surely_absent(handle))
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
