/* The per-handle table: what the final response of each handle's last
 * transfer carried, when it was recorded.  Keys are opaque handle pointers. */
#ifndef AUTHTAP_TABLE_H
#define AUTHTAP_TABLE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "record.h"

/* Caps on what one entry keeps beyond what libcurl already bounds, and on
 * the table as a whole, for hosts that never clean their handles up. */
#define TABLE_MAX_VALUES 1024
#define TABLE_MAX_ENTRY_BYTES (1u << 20)
#define TABLE_MAX_ENTRIES 65536
#define TABLE_MAX_TOTAL_BYTES (64u << 20)

struct table_header {
	uint32_t name_off, name_len;
	uint32_t value_off, value_len;
};

struct table_entry;

/* Copies what r says into a new entry, cutting at the caps (and flagging
 * RECORD_TRUNCATED); NULL when memory is short. */
struct table_entry *table_entry_new(const void *handle, const struct record *r);

/* Replaces handle's entry by e (which the table then owns); returns e's
 * sequence number, which identifies this very transfer, or 0 when memory
 * was short and e is gone. */
uint64_t table_put(struct table_entry *e);

/* Puts what r says as handle's entry, as table_entry_new and table_put
 * do, rewriting the handle's entry in place when it is large enough;
 * drops the entry when memory is short.  Returns the new sequence number,
 * or 0. */
uint64_t table_replace(const void *handle, const struct record *r);

void table_drop(const void *handle);

extern atomic_size_t table_count;

/* Cheap check for the common path: false when the table surely holds
 * nothing (no lock taken). */
static inline bool table_maybe_nonempty(void)
{
	return atomic_load_explicit(&table_count, memory_order_relaxed) != 0;
}

/* Which handles have an entry, readable without the lock: after a
 * transfer that records nothing, a handle's entry must go, and most
 * handles have none.  An open-addressing set (linear probing) of a 32-bit
 * tag per entry, changed under the table's lock inside a sequence count
 * (odd while it changes), so that a reader sees a consistent set or knows
 * it did not.  Two handles may share a tag: a hit only sends the caller to
 * the lock.  A set outgrown is replaced, never freed. */
struct table_set {
	size_t mask;
	/* The set this one replaced, kept: a reader may still be in it. */
	struct table_set *older;
	size_t generation;
	_Atomic uint32_t tag[];
};

extern _Atomic(struct table_set *) table_set_cur;
extern _Atomic unsigned table_set_seq;

static inline uint64_t table_set_hash(const void *handle)
{
	return (uint64_t)(uintptr_t)handle * UINT64_C(0x9e3779b97f4a7c15);
}

/* The tag holds the bits the home slot is taken from, so that a removal
 * can tell where each tag after it belongs. */
static inline uint32_t table_set_tag(uint64_t x)
{
	/* The top bit makes it non-zero and leaves the home bits alone. */
	return (uint32_t)(x >> 16) | 1u << 31;
}

/* The calling thread's last handle found absent, and the set's sequence
 * count then: while the set has not changed, it still is. */
extern __thread struct table_absent {
	const void *handle;
	unsigned seq;
} table_absent_last __attribute__((tls_model("initial-exec")));

/* True when handle surely has no entry, found without the lock; false
 * when it may have one, or the set changed meanwhile.  The thread's last
 * answer is tested first, so that a thread that keeps using one handle
 * pays the same whether the table is empty or holds other handles'
 * entries.  An empty table's answer is remembered too: only the thread
 * driving handle adds its entry, and any entry added bumps the sequence
 * count. */
static inline bool table_surely_absent(const void *handle)
{
	unsigned seq = atomic_load_explicit(&table_set_seq, memory_order_acquire);

	if (table_absent_last.handle == handle && table_absent_last.seq == seq)
		return true;
	if (!atomic_load_explicit(&table_count, memory_order_relaxed)) {
		if (!(seq & 1)) {
			table_absent_last.handle = handle;
			table_absent_last.seq = seq;
		}
		return true;
	}
	struct table_set *st = atomic_load_explicit(&table_set_cur, memory_order_acquire);
	if ((seq & 1) || !st)
		return false;
	uint32_t tag = table_set_tag(table_set_hash(handle)), t;
	size_t i = tag & st->mask;
	/* The set is never more than half full: the walk meets a free slot. */
	while ((t = atomic_load_explicit(&st->tag[i], memory_order_relaxed))) {
		if (t == tag)
			return false;
		i = (i + 1) & st->mask;
	}
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&table_set_seq, memory_order_relaxed) != seq)
		return false;
	table_absent_last.handle = handle;
	table_absent_last.seq = seq;
	return true;
}

/* A read-only view of one entry, valid only inside a table_read callback. */
struct table_view {
	uint64_t seq;
	long status;
	unsigned flags;
	size_t nheaders;
	const struct table_header *headers;
	const char *bytes;
};

/* Runs fn on handle's entry under the table lock and returns its result;
 * returns -1 without calling fn when there is none.  fn must only copy. */
int table_read(const void *handle, int (*fn)(const struct table_view *v, void *arg), void *arg);

/* The handle of the calling thread's last transfer that was put in the
 * table, while that very transfer is still there; NULL otherwise. */
const void *table_last(void);

/* Handlers for pthread_atfork: the child must never inherit a held lock. */
void table_atfork_prepare(void);
void table_atfork_parent(void);
void table_atfork_child(void);

#endif
