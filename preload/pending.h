/* Transfers of the multi interface between curl_multi_add_handle and the
 * moment they are recorded, so that each is recorded exactly once. */
#ifndef AUTHTAP_PENDING_H
#define AUTHTAP_PENDING_H

#include <stdbool.h>

#include "net.h"

/* conn: the client connection the transfer serves, if any. */
void pending_add(const void *handle, struct net_ref conn);

/* True, once, for a handle that was added and not yet taken. */
bool pending_take(const void *handle, struct net_ref *conn);

void pending_atfork_prepare(void);
void pending_atfork_parent(void);
void pending_atfork_child(void);

#endif
