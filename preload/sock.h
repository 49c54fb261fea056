/* The socket source: HTTP/1.x exchanges on the connections the host
 * connect()s, read from the request heads it writes and the response heads
 * it reads, recorded as libcurl transfers are.  net.c follows the bytes;
 * this file turns heads into records.  Both run inside the libc hooks, so
 * neither locks nor allocates. */
#ifndef AUTHTAP_SOCK_H
#define AUTHTAP_SOCK_H

#include "head.h"
#include "net.h"

/* A request head the host wrote on c; false when it is not HTTP/1.x (the
 * connection is then no longer followed). */
bool sock_request(struct net_conn *c, const struct head *h);

/* A final response head the host read on c: paired with the oldest
 * request waiting, and recorded when it asks for authentication. */
void sock_response(struct net_conn *c, const struct head *h);

/* A connection on which ALPN chose HTTP/2, which is not read: one record
 * with the flag http2, its URL the server's name (host, the SNI; else the
 * peer's address) and port where known. */
void sock_http2(struct net_conn *c, const char *host);

#endif
