/* The connections the host accepted, followed so that the response it
 * writes back to its own client can be held against what the upstream
 * sent.  Only accepted stream sockets are followed; on any other descriptor
 * every hook is a plain pass-through.
 *
 * A signal handler may call any of the hooked functions at any moment
 * (they are async-signal-safe), also while the thread it interrupted is
 * inside malloc or inside authtap.  So no hook takes a lock or allocates:
 * each descriptor number has a connection slot of its own, in memory that
 * is mapped once and never freed, and a hook owns a slot only by winning
 * its state word; when it cannot (another thread, or the code the signal
 * interrupted, has it), it passes the call through and the connection's
 * reader gives up rather than read a head with bytes missing. */
#ifndef AUTHTAP_NET_H
#define AUTHTAP_NET_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "carry.h"
#include "fcgi.h"
#include "head.h"

/* A followed connection, named by descriptor and a number that is never
 * reused, since descriptors are. */
struct net_ref {
	int fd;
	uint64_t id;
};

#define NET_SCRATCH (24u * 1024)
#define NET_EXPECT_STORE (12u * 1024)
#define NET_PIPELINE 8
#define NET_METHOD_MAX 24
#define NET_URL_MAX 2048

enum net_kind {
	NET_ACCEPTED,  /* the host is the server: its answers are read */
	NET_CONNECTED, /* the host is the client: the socket source */
};

/* What the host writes on a connection it accepted: HTTP/1.x, or FastCGI
 * records (a FastCGI application such as php-fpm), whose FCGI_STDOUT
 * streams are CGI responses.  Decided by the first byte written: 1, the
 * version of every FastCGI record, never begins an HTTP response. */
enum net_proto {
	NET_PROTO_UNSURE,
	NET_PROTO_HTTP,
	NET_PROTO_FCGI,
};

/* A request written on a connected socket, waiting for its response. */
struct net_request {
	char method[NET_METHOD_MAX];
	char url[NET_URL_MAX]; /* scheme, Host and target; redacted at record time */
};

#define NET_CANDS 8

/* An accepted connection that a request written on a connected socket may
 * serve: its heads written then, and the number of the request of its
 * that the next one answers (reqs[req % NET_PIPELINE] while kept). */
struct net_cand {
	struct net_ref ref;
	unsigned heads, req;
	bool answered; /* already answered then (the thread's last read) */
};

/* verdict.c's: the candidates of a request written by the socket source,
 * taken when its head is written, without waiting on any slot. */
struct net_cands {
	bool taken;
	bool last; /* paired by the thread's last read (its requests are not readable) */
	unsigned char n;
	unsigned more; /* candidates not kept here or not readable: unknown */
	struct net_ref last_ref;
	struct net_cand v[NET_CANDS];
};

struct net_conn {
	/* id << 3 | NET_BUSY | NET_LIVE | NET_GONE; 0 when not followed. */
	_Atomic uint64_t state;
	/* Written bytes went by while the slot was owned elsewhere. */
	_Atomic bool skipped;
	struct net_ref ref;
	enum net_kind kind;
	/* kind == NET_ACCEPTED, readable without owning the slot. */
	_Atomic bool accepted;
	/* Connected sockets: RECORD_API_SOCKET, or the TLS library whose
	 * clear text is followed instead of the socket's bytes. */
	int api;
	struct head_reader reader; /* response heads: written (accepted) or read */
	void *expect;              /* owned by verdict.c */
	/* Accepted connections: the protocol written, the FastCGI records'
	 * reader, and the response being written: from its head until its
	 * body ends, the head stays in head[] (the reader starts the next
	 * one only after), so that a transfer that ends while the body goes
	 * (a streaming proxy answers before it calls the upstream) is held
	 * against it. */
	enum net_proto proto;
	bool answering;
	size_t answer_len;
	int answer_status;
	bool answer_cgi;
	bool answer_paired; /* verdict.c: the head answered a transfer */
	struct fcgi_reader fcgi;
	/* verdict.c's: a verdict whose client response body is being
	 * scanned for the challenge, and the scan (about 15 KiB: here, never
	 * on a hook's stack). */
	void *carrying;
	struct carry carry;
	/* Connected sockets: the request heads written, and those waiting
	 * for a response, oldest first (pipelining). */
	struct head_reader req;
	unsigned req_first, req_count;
	struct net_request reqs[NET_PIPELINE];
	struct net_cands cands[NET_PIPELINE]; /* of reqs[i] */
	char req_head[HEAD_MAX_BYTES];
	/* Accepted connections: the request heads read (in req; their
	 * method and target in reqs, by number modulo NET_PIPELINE) and the
	 * response heads written, so that a transfer can be paired with the
	 * connections that still wait for an answer. */
	unsigned acc_reads, acc_heads;
	int acc_status;            /* of the last head written */
	const void *acc_thread;    /* the thread that read the last request */
	_Atomic bool read_skipped; /* request bytes went by unread */
	void *waits;               /* owned by verdict.c */
	/* verdict.c's, for an expectation made by the socket source. */
	_Alignas(16) unsigned char expect_store[NET_EXPECT_STORE];
	/* Room for verdict.c to build a verdict in without malloc. */
	_Alignas(16) unsigned char scratch[NET_SCRATCH];
	char head[HEAD_MAX_BYTES];
};

/* Starts following connections: accepted ones when follow (verdicts),
 * connected ones (the socket source).  Called from the preload's
 * constructor, unless authtap is disabled.  The real libc functions are
 * linker.c's (real_<name>), valid before this and without it. */
void net_init(bool follow);

extern __thread struct net_ref net_last_read __attribute__((tls_model("initial-exec")));

/* The connection this thread last read a request from; id 0 when none. */
static inline struct net_ref net_thread_conn(void)
{
	return net_last_read;
}

/* This thread, as acc_thread names it. */
static inline const void *net_thread_self(void)
{
	return &net_last_read;
}

/* An accepted connection whose requests cannot be read (not HTTP/1.x, TLS,
 * or bytes that went by unread): paired the old way, by the thread that
 * last read from it. */
static inline bool net_requests_lost(const struct net_conn *c)
{
	return c->req.state == HEAD_LOST;
}

/* Runs fn on the connection ref names, if it is still followed, owning
 * its slot (waiting for a hook on another thread to let go of it).  Only
 * from code that a signal handler cannot be running: the libcurl hooks and
 * the destructor. */
void net_with_conn(struct net_ref ref, void (*fn)(struct net_conn *c, void *arg), void *arg);

enum net_take { NET_TAKEN, NET_NOT_FOLLOWED, NET_IN_USE };

/* From inside a hook that owns another slot: takes the slot of ref without
 * waiting.  Given back with net_give_nested. */
enum net_take net_take_nested(struct net_ref ref, struct net_conn **out);
void net_give_nested(struct net_conn *c);

/* From inside a hook that owns self: runs fn on every accepted
 * connection whose slot it can take without waiting.  Returns how many
 * accepted connections were owned elsewhere (not seen). */
unsigned net_each_accepted_nested(const struct net_conn *self,
                                  void (*fn)(struct net_conn *c, void *arg), void *arg);

/* Runs fn on every followed connection, the same way (up to the highest
 * descriptor ever followed). */
void net_each_conn(void (*fn)(struct net_conn *c, void *arg), void *arg);

/* True once a connection is followed: until then the hooks pass every
 * call through. */
bool net_following(void);

/* A TLS session of the host's, as its library's hooks see it. */
struct net_tls {
	int fd; /* the socket underneath, connected or accepted; -1: none (a memory BIO) */
	const void *session; /* the library's session: names it when fd is -1 */
	int api;             /* RECORD_API_OPENSSL or RECORD_API_GNUTLS */
	bool h2;             /* ALPN chose HTTP/2 */
	const char *host;    /* the server name sent (SNI), or NULL */
};

/* Clear text the TLS library read or wrote on the session: from now on it
 * is followed instead of the socket's bytes, on a connection the host
 * connected or accepted (a server of HTTPS: its clear text is its
 * response).  A session without a
 * descriptor is followed from the first clear text the host writes, as a
 * connection of its own, until net_tls_gone. */
void net_tls_data(const struct net_tls *t, bool written, const void *buf, size_t n);

/* The library frees the session. */
void net_tls_gone(const void *session);

/* The head of the response c's host is writing, while its body goes:
 * false when no response is under way.  Owning c. */
bool net_answering(const struct net_conn *c, struct head *out);

/* True once the process has accepted a connection. */
extern atomic_bool net_did_accept __attribute__((visibility("hidden")));

static inline bool net_accepted(void)
{
	return atomic_load_explicit(&net_did_accept, memory_order_relaxed);
}

void net_atfork_prepare(void);
void net_atfork_parent(void);
void net_atfork_child(void);

#endif
