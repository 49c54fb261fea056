/* Transfers of the multi interface between curl_multi_add_handle and the
 * moment they are recorded, so that each is recorded exactly once.  A
 * transfer known to be over whose message the program has not read yet may
 * carry a snapshot of what it is to record (opaque here, owned by whoever
 * takes it), for a program that exits without ever reading it.
 *
 * Adding and taking take no process-wide lock: a fixed table of small
 * buckets, claimed with compare-and-swap, and a locked overflow for a
 * bucket that is full. */
#ifndef AUTHTAP_PENDING_H
#define AUTHTAP_PENDING_H

#include <stdbool.h>
#include <stddef.h>

#include "net.h"

/* multi: the multi handle it was added to; conn: the client connection
 * the transfer serves, if any.  Returns the snapshot of an entry the
 * handle already had (for the caller to free), or NULL.  Preserves
 * errno. */
void *pending_add(const void *handle, const void *multi, struct net_ref conn);

/* The snapshot of a transfer that was found over with nothing to record. */
extern char pending_nothing;
#define PENDING_NOTHING ((void *)&pending_nothing)

/* Frees a snapshot handed out by the functions below (PENDING_NOTHING
 * included). */
void pending_snap_free(void *snap);

/* True, once, for a handle that was added and not yet taken; *conn and
 * *snap (either may be NULL) get what was kept with it: NULL (none),
 * PENDING_NOTHING, or a snapshot the caller then owns. */
bool pending_take(const void *handle, struct net_ref *conn, void **snap);

/* Takes up to max handles added to multi, with their connections and
 * snapshots; returns how many.  For curl_multi_cleanup, which ends them
 * all. */
size_t pending_take_multi(const void *multi, const void **handles, struct net_ref *conns,
                          void **snaps, size_t max);

/* Every transfer of multi is over (nothing of it runs any more): fn makes
 * a snapshot for each of its handles that has none yet, on the calling
 * thread, which is the one driving multi. */
void pending_all_done(const void *multi, void *(*fn)(const void *handle, void *arg), void *arg);

/* Takes up to max snapshots out of the pending transfers, which stay
 * pending; returns how many.  At exit. */
size_t pending_take_snaps(void **snaps, size_t max);

/* False when nothing is pending (one load, no lock). */
bool pending_maybe_nonempty(void);

void pending_atfork_prepare(void);
void pending_atfork_parent(void);
void pending_atfork_child(void);

#endif
