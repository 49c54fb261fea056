/* Which hop lost the challenge: the upstream's final recorded response of a
 * transfer, held against the next response head the host writes to the
 * client connection the transfer served. */
#ifndef AUTHTAP_VERDICT_H
#define AUTHTAP_VERDICT_H

#include <stddef.h>

#include "head.h"
#include "net.h"
#include "record.h"
#include "verdict_types.h"

/* A challenge still waiting on conn will not be answered by the head of
 * the transfer that starts now. */
void verdict_unpair_waiting(struct net_ref conn);

/* A transfer starts on this thread.  Its client connection: the one this
 * thread read the only request still waiting for an answer from, or a
 * set of candidates (fd -1, kept here until the response is recorded,
 * narrowed then by method and target and, if several remain, by the heads
 * they are answered with); id 0 when none. */
struct net_ref verdict_pair_start(void);

static inline struct net_ref verdict_transfer_start(void)
{
	if (!net_accepted())
		return (struct net_ref){0};
	return verdict_pair_start();
}

/* The transfer's final response r was recorded: the next head written to
 * conn answers it. */
void verdict_expect(struct net_ref conn, const struct record *r);

/* The socket source wrote a request head on self (owned): the accepted
 * connections it may serve are noted in out. */
void verdict_socket_request(struct net_conn *self, struct net_cands *out);

/* Its response r was recorded: paired with the one candidate of k left
 * (answered ones out, the rest narrowed by method and target), else
 * "ambiguous" with their count; no malloc, no waiting. */
void verdict_socket_response(struct net_conn *self, const struct net_cands *k,
                             const struct record *r);

/* Called by net.c, owning the connection's slot. */
void verdict_head(struct net_conn *c, const struct head *h);
/* The next bytes of the body that follows that head; len 0 when it ends. */
void verdict_body(struct net_conn *c, const char *data, size_t len);
void verdict_conn_gone(struct net_conn *c);

/* At exit: what is still waiting is unpaired; then the summary. */
void verdict_finish(void);

#endif
