/* Transfers of the multi interface between curl_multi_add_handle and the
 * moment they are recorded, so that each is recorded exactly once. */
#ifndef AUTHTAP_PENDING_H
#define AUTHTAP_PENDING_H

#include <stdbool.h>

void pending_add(const void *handle);

/* True, once, for a handle that was added and not yet taken. */
bool pending_take(const void *handle);

void pending_atfork_prepare(void);
void pending_atfork_parent(void);
void pending_atfork_child(void);

#endif
