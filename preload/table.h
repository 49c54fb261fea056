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

void table_drop(const void *handle);

extern atomic_size_t table_count;

/* Cheap check for the common path: false when the table surely holds
 * nothing (no lock taken). */
static inline bool table_maybe_nonempty(void)
{
	return atomic_load_explicit(&table_count, memory_order_relaxed) != 0;
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
