/* The connections the host accepted, followed so that the response it
 * writes back to its own client can be held against what the upstream
 * sent.  Only accepted stream sockets are followed; on any other descriptor
 * every hook is a plain pass-through that takes no lock and allocates
 * nothing. */
#ifndef AUTHTAP_NET_H
#define AUTHTAP_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "head.h"

/* A followed connection, named by descriptor and a number that is never
 * reused, since descriptors are. */
struct net_ref {
	int fd;
	uint64_t id;
};

struct net_conn {
	struct net_ref ref;
	struct head_reader reader;
	void *expect; /* owned by verdict.c */
};

/* Resolves the real libc functions; until it has run, hooks use raw system
 * calls.  Called from the preload's constructor. */
void net_init(bool follow);

extern __thread struct net_ref net_last_read __attribute__((tls_model("initial-exec")));

/* The connection this thread last read a request from; id 0 when none. */
static inline struct net_ref net_thread_conn(void)
{
	return net_last_read;
}

/* Runs fn on the connection ref names, if it is still followed, under the
 * connections' lock. */
void net_with_conn(struct net_ref ref, void (*fn)(struct net_conn *c, void *arg), void *arg);

/* Runs fn on every followed connection, under the lock. */
void net_each_conn(void (*fn)(struct net_conn *c, void *arg), void *arg);

/* True once the process has accepted a connection. */
bool net_accepted(void);

void net_atfork_prepare(void);
void net_atfork_parent(void);
void net_atfork_child(void);

#endif
