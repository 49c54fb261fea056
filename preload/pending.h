/* Transfers of the multi interface between curl_multi_add_handle and the
 * moment they are recorded, so that each is recorded exactly once. */
#ifndef AUTHTAP_PENDING_H
#define AUTHTAP_PENDING_H

#include <stdbool.h>
#include <stddef.h>

#include "net.h"

/* multi: the multi handle it was added to; conn: the client connection
 * the transfer serves, if any. */
void pending_add(const void *handle, const void *multi, struct net_ref conn);

/* True, once, for a handle that was added and not yet taken. */
bool pending_take(const void *handle, struct net_ref *conn);

/* Takes up to max handles added to multi, with their connections; returns
 * how many.  For curl_multi_cleanup, which ends them all. */
size_t pending_take_multi(const void *multi, const void **handles, struct net_ref *conns,
			  size_t max);

void pending_atfork_prepare(void);
void pending_atfork_parent(void);
void pending_atfork_child(void);

#endif
