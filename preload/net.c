/* The libc hooks that follow accepted connections.
 *
 * They run everywhere: in signal handlers, in hot loops, in other
 * libraries' constructors before authtap's own.  So they call the real
 * functions through linker.c's real_<name> pointers, which are valid from
 * the first call (linker.h says how), and no hook takes a lock or calls
 * malloc (net.h says how).  A read or write on a descriptor that is not a
 * followed connection costs the test of one byte (net_marks) before the
 * hook jumps to the real function; errno untouched. */
#include "net.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hooks.h"
#include "linker.h"
#include "log.h"
#include "preload.h"
#include "record.h"
#include "sock.h"
#include "verdict.h"

#define NET_PROTO(ret, name, params, args) AUTHTAP_EXPORT ret name params;
#define NET_PROTO_VOID(name, params, args) AUTHTAP_EXPORT void name params;
AUTHTAP_LIBC_HOOKS(NET_PROTO, NET_PROTO_VOID)
#undef NET_PROTO
#undef NET_PROTO_VOID

/* The names linker.c knows the hooks by (it must never hand them out as
 * the real functions). */
#define NET_ALIAS(ret, name, params, args)                                                         \
	extern __typeof__(name) hook_##name __attribute__((alias(#name), copy(name)));
#define NET_ALIAS_VOID(name, params, args) NET_ALIAS(void, name, params, args)
AUTHTAP_LIBC_HOOKS(NET_ALIAS, NET_ALIAS_VOID)
#undef NET_ALIAS
#undef NET_ALIAS_VOID

#define NET_CHUNK_BITS 6
#define NET_CHUNK (1u << NET_CHUNK_BITS)
#define NET_MAX_FD (1u << 20)
#define NET_TOP (NET_MAX_FD / NET_CHUNK)

#define NET_LIVE 1u
#define NET_BUSY 2u
#define NET_GONE 4u
#define NET_ID_SHIFT 3

/* fd -> its slot, in chunks mapped on the first accept that needs them
 * and never unmapped, so that a hook holding a stale pointer still reads
 * a slot; a NULL chunk means no descriptor of its range was followed. */
static struct net_conn *_Atomic net_table[NET_TOP];
static atomic_uint_fast64_t net_next_id;
static atomic_bool net_follow;
static atomic_bool net_follow_connects;
atomic_bool net_did_accept;
/* One past the highest chunk ever mapped: walks stop there. */
static atomic_uint net_top_used;

/* One byte per descriptor number, set before its slot becomes a followed
 * connection and cleared when that connection is finished: every hook
 * tests it first, and when it is clear jumps straight to the real function
 * (a byte, not a bit: no shift, no bit test).  Numbers from NET_MAX_FD on,
 * and negative ones, share the bytes of lower ones (they are never
 * followed themselves); the slow path checks.  1 MiB of zero pages,
 * touched only where a descriptor is followed. */
static _Atomic unsigned char net_marks[NET_MAX_FD];

static inline bool net_marked(int fd)
{
	unsigned i = (unsigned)fd & (NET_MAX_FD - 1);
#if defined(__SANITIZE_THREAD__)
	return atomic_load_explicit(&net_marks[i], memory_order_relaxed);
#else
	/* A relaxed load, written so that the compiler folds it into the
	 * compare (one instruction less on the hottest path): a byte is
	 * read whole whatever the store, and a stale value only sends the
	 * call the long way round, or past a connection followed a moment
	 * ago, as the order of two threads could. */
	return *(const unsigned char *)&net_marks[i] != 0;
#endif
}

static void net_mark(int fd, bool on)
{
	if (fd >= 0 && (unsigned)fd < NET_MAX_FD)
		atomic_store_explicit(&net_marks[fd], on, memory_order_relaxed);
}

/* The connection this thread last read a request from. */
__thread struct net_ref net_last_read __attribute__((tls_model("initial-exec")));

void net_init(bool follow)
{
	atomic_store(&net_follow, follow);
	atomic_store(&net_follow_connects, true);
}

/* The slot of fd, when its chunk is mapped; NULL otherwise. */
static struct net_conn *slot_of(int fd)
{
	if (fd < 0 || (unsigned)fd >= NET_MAX_FD)
		return NULL;
	struct net_conn *chunk =
	    atomic_load_explicit(&net_table[fd >> NET_CHUNK_BITS], memory_order_acquire);
	return chunk ? &chunk[fd & (NET_CHUNK - 1)] : NULL;
}

/* The slot of fd when it is a followed connection. */
static struct net_conn *conn_of(int fd)
{
	struct net_conn *c = slot_of(fd);

	if (c && atomic_load_explicit(&c->state, memory_order_relaxed) & NET_LIVE)
		return c;
	return NULL;
}

/* The slot of fd, mapping its chunk if needed: mmap is a plain system
 * call, unlike malloc.  Pages of a slot are touched only as a head needs
 * them. */
static struct net_conn *slot_make(int fd)
{
	struct net_conn *c = slot_of(fd);
	if (c || fd < 0 || (unsigned)fd >= NET_MAX_FD)
		return c;
	size_t size = NET_CHUNK * sizeof(struct net_conn);
	struct net_conn *chunk = mmap(NULL, size, PROT_READ | PROT_WRITE,
	                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (chunk == MAP_FAILED)
		return NULL;
	struct net_conn *none = NULL;
	if (!atomic_compare_exchange_strong(&net_table[fd >> NET_CHUNK_BITS], &none, chunk))
		munmap(chunk, size);
	unsigned top = ((unsigned)fd >> NET_CHUNK_BITS) + 1, was = atomic_load(&net_top_used);
	while (was < top && !atomic_compare_exchange_weak(&net_top_used, &was, top))
		;
	return slot_of(fd);
}

/* Whether this thread is inside authtap's connection code: a signal handler
 * that interrupted it passes its calls through. */
static __thread __attribute__((tls_model("initial-exec"))) bool net_busy;

/* Takes a live slot for this thread without waiting; false when another
 * owner has it, or it is no longer live. */
static bool conn_try_take(struct net_conn *c, uint64_t *state)
{
	uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);

	if (!(s & NET_LIVE) || (s & (NET_BUSY | NET_GONE)) || net_busy)
		return false;
	if (!atomic_compare_exchange_strong_explicit(&c->state, &s, s | NET_BUSY,
	                                             memory_order_acquire, memory_order_relaxed))
		return false;
	net_busy = true;
	*state = s | NET_BUSY;
	return true;
}

/* With the slot owned: what is still waiting on the connection becomes
 * unpaired, and the slot is free for the next connection. */
static void conn_finish(struct net_conn *c)
{
	verdict_conn_gone(c);
	c->expect = NULL;
	net_mark(c->ref.fd, false);
	atomic_store_explicit(&c->state, 0, memory_order_release);
}

/* Lets go of an owned slot; if it was closed meanwhile, finishes it. */
static void conn_give_back(struct net_conn *c)
{
	uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);

	for (;;) {
		if (s & NET_GONE) {
			conn_finish(c);
			break;
		}
		if (atomic_compare_exchange_weak_explicit(&c->state, &s, s & ~(uint64_t)NET_BUSY,
		                                          memory_order_release,
		                                          memory_order_relaxed))
			break;
	}
	net_busy = false;
}

/* The body of the response the host is writing to its client, piece by
 * piece; len 0 when it ends by its framing. */
static void conn_body(const char *data, size_t len, void *arg)
{
	struct net_conn *c = arg;

	verdict_body(c, data, len);
	if (!len)
		c->answering = false;
}

/* A final response head the host wrote: its body follows. */
static void head_done(const struct head *h, void *arg)
{
	struct net_conn *c = arg;

	c->answering = true;
	c->answer_len = h->raw_len;
	c->answer_status = h->status;
	c->answer_cgi = h->cgi;
	c->answer_paired = false;
	verdict_head(c, h);
}

/* What an accepted connection's host writes, read from its start. */
static void writer_init(struct net_conn *c)
{
	c->proto = NET_PROTO_UNSURE;
	c->answering = false;
	head_init(&c->reader, c->head, sizeof(c->head));
	c->reader.body = conn_body;
}

/* The next CGI response of a FastCGI connection. */
static void cgi_init(struct net_conn *c)
{
	c->answering = false;
	head_init_cgi_in(&c->reader, c->head, sizeof(c->head));
	c->reader.body = conn_body;
}

/* Bytes went by unread: nothing more is read on this connection. */
static void writer_lost(struct net_conn *c)
{
	c->reader.state = HEAD_LOST;
	c->fcgi.status = FCGI_NOT;
	if (c->proto == NET_PROTO_UNSURE)
		c->proto = NET_PROTO_HTTP;
	c->answering = false;
}

/* FastCGI: a request's FCGI_STDOUT is its CGI response; the response ends
 * with the stream (an empty FCGI_STDOUT record) or the request. */
static void fcgi_event(const struct fcgi_event *ev, void *arg)
{
	struct net_conn *c = arg;

	if (ev->type == FCGI_EVENT_STDOUT) {
		head_feed(&c->reader, ev->data, ev->len, head_done, c);
		return;
	}
	if (c->answering)
		conn_body(NULL, 0, c);
	cgi_init(c);
}

/* Bytes the host wrote on an accepted connection (the clear text, under
 * TLS): an HTTP/1.x response, or FastCGI records, by the first byte. */
static void conn_written(struct net_conn *c, const char *p, size_t n)
{
	if (!n)
		return;
	if (c->proto == NET_PROTO_UNSURE) {
		c->proto = (unsigned char)p[0] == 1 ? NET_PROTO_FCGI : NET_PROTO_HTTP;
		if (c->proto == NET_PROTO_FCGI) {
			fcgi_init(&c->fcgi);
			cgi_init(c);
		}
	}
	if (c->proto == NET_PROTO_FCGI) {
		if (fcgi_feed(&c->fcgi, p, n, fcgi_event, c) == FCGI_NOT)
			c->answering = false;
	} else {
		head_feed(&c->reader, p, n, head_done, c);
	}
}

bool net_answering(const struct net_conn *c, struct head *out)
{
	if (!c->answering || c->answer_paired || c->kind != NET_ACCEPTED)
		return false;
	*out = (struct head){.status = c->answer_status,
	                     .raw = c->head,
	                     .raw_len = c->answer_len,
	                     .cgi = c->answer_cgi};
	return true;
}

/* A new connection in slot c, named fd (-1 for a TLS session without
 * one).  A slot still owned elsewhere (a descriptor closed and handed out
 * again while a hook of another thread is still inside it) is left alone:
 * that connection is not followed, and false is returned. */
static bool conn_start(struct net_conn *c, int fd, enum net_kind kind)
{
	/* Set before the connection can be found: a hook that sees it clear
	 * skips the table. */
	atomic_store_explicit(&net_did_accept, true, memory_order_relaxed);
	uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);
	do {
		if (s & NET_BUSY)
			return false;
	} while (!atomic_compare_exchange_weak_explicit(
	    &c->state, &s, NET_BUSY, memory_order_acquire, memory_order_relaxed));
	net_busy = true;
	/* Owning the slot (no conn_finish can clear it now), before the
	 * connection can be found: a hook that sees it clear skips the
	 * table. */
	net_mark(fd, true);
	/* A descriptor we never saw closed: the number is new now. */
	if (s & NET_LIVE)
		verdict_conn_gone(c);
	uint64_t id = atomic_fetch_add(&net_next_id, 1) + 1;
	c->ref.fd = fd;
	c->ref.id = id;
	c->kind = kind;
	atomic_store_explicit(&c->accepted, kind == NET_ACCEPTED, memory_order_relaxed);
	c->expect = NULL;
	c->waits = NULL;
	atomic_store_explicit(&c->skipped, false, memory_order_relaxed);
	atomic_store_explicit(&c->read_skipped, false, memory_order_relaxed);
	head_init(&c->reader, c->head, sizeof(c->head));
	c->api = RECORD_API_SOCKET;
	c->carrying = NULL;
	if (kind == NET_ACCEPTED)
		writer_init(c);
	/* Request heads: written on a connected socket, read on an accepted
	 * one (for pairing). */
	head_init(&c->req, c->req_head, sizeof(c->req_head));
	c->req.request = true;
	c->req_first = c->req_count = 0;
	c->acc_reads = c->acc_heads = 0;
	c->acc_status = 0;
	c->acc_thread = NULL;
	atomic_store_explicit(&c->state, id << NET_ID_SHIFT | NET_LIVE, memory_order_release);
	net_busy = false;
	return true;
}

static void follow_fd(int fd, enum net_kind kind)
{
	if (net_busy)
		return;
	int saved = errno;
	struct net_conn *c = slot_make(fd);
	if (c)
		conn_start(c, fd, kind);
	errno = saved;
}

/* fd is being closed: its connection ends.  When the slot is owned
 * elsewhere, or this thread is inside authtap (a signal handler closing
 * it), it is only marked gone, and its owner, or whoever takes it next,
 * finishes it. */
static void unfollow_slot(struct net_conn *c)
{
	uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);

	for (;;) {
		if (!(s & NET_LIVE) || (s & NET_GONE))
			return;
		bool now = !(s & NET_BUSY) && !net_busy;
		uint64_t want = s | NET_GONE | (now ? NET_BUSY : 0);
		if (atomic_compare_exchange_weak_explicit(&c->state, &s, want, memory_order_acquire,
		                                          memory_order_relaxed)) {
			if (now) {
				net_busy = true;
				conn_finish(c);
				net_busy = false;
			}
			return;
		}
	}
}

static void unfollow_fd(int fd)
{
	struct net_conn *c = net_marked(fd) ? conn_of(fd) : NULL;
	if (!c)
		return;
	int saved = errno;
	unfollow_slot(c);
	errno = saved;
}

/* A request arrived on fd: this thread now works for that connection.  A
 * HEAD request's answer has a length but no body. */
static void response_done(const struct head *h, void *arg)
{
	sock_response(arg, h);
}

/* Response bytes the host read on a socket it connected. */
static void note_response(struct net_conn *c, const struct iovec *iov, int iovcnt, size_t n)
{
	uint64_t s;
	int saved = errno;

	if (!conn_try_take(c, &s)) {
		atomic_store_explicit(&c->skipped, true, memory_order_relaxed);
		errno = saved;
		return;
	}
	if (atomic_load_explicit(&c->skipped, memory_order_relaxed))
		c->reader.state = c->req.state = HEAD_LOST;
	/* Under TLS, the socket carries ciphertext: the library's hooks
	 * hand over the clear text. */
	for (int i = 0; i < iovcnt && n && c->api == RECORD_API_SOCKET; i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
		head_feed(&c->reader, iov[i].iov_base, k, response_done, c);
		n -= k;
	}
	conn_give_back(c);
	errno = saved;
}

/* A request head read on an accepted connection: its method and target
 * are kept for pairing. */
static void accepted_request(const struct head *h, void *arg)
{
	struct net_conn *c = arg;
	const char *line = h->raw, *end = memchr(h->raw, '\n', h->raw_len);
	const char *sp1 = end ? memchr(line, ' ', (size_t)(end - line)) : NULL;
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
	struct net_request *r = &c->reqs[c->acc_reads % NET_PIPELINE];

	if (!sp2) {
		c->req.state = HEAD_LOST;
		return;
	}
	size_t mlen = (size_t)(sp1 - line), tlen = (size_t)(sp2 - sp1 - 1);
	if (mlen >= sizeof(r->method))
		mlen = sizeof(r->method) - 1;
	if (tlen >= sizeof(r->url))
		tlen = sizeof(r->url) - 1;
	memcpy(r->method, line, mlen);
	r->method[mlen] = '\0';
	memcpy(r->url, sp1 + 1, tlen);
	r->url[tlen] = '\0';
	c->acc_reads++;
	c->acc_thread = net_thread_self();
}

/* Request bytes read on an accepted connection. */
static void note_request(struct net_conn *c, const struct iovec *iov, int iovcnt, size_t n)
{
	uint64_t s;

	if (!conn_try_take(c, &s)) {
		atomic_store_explicit(&c->read_skipped, true, memory_order_relaxed);
		return;
	}
	if (atomic_load_explicit(&c->read_skipped, memory_order_relaxed))
		c->req.state = HEAD_LOST;
	/* A HEAD request's answer has a length but no body. */
	const char *data = iovcnt > 0 ? iov[0].iov_base : NULL;
	if (data && iov[0].iov_len >= 5 && n >= 5 && memcmp(data, "HEAD ", 5) == 0)
		c->reader.head_request = true;
	for (int i = 0; i < iovcnt && n && c->req.state != HEAD_LOST; i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
		head_feed(&c->req, iov[i].iov_base, k, accepted_request, c);
		n -= k;
	}
	conn_give_back(c);
}

/* Bytes the host read: on an accepted connection, a request arrived, and
 * this thread now works for that connection; on a connected one, the
 * response is read. */
static void note_read(int fd, const struct iovec *iov, int iovcnt, size_t n)
{
	struct net_conn *c = conn_of(fd);
	uint64_t s;

	if (!c)
		return;
	s = atomic_load_explicit(&c->state, memory_order_acquire);
	if (!(s & NET_LIVE))
		return;
	if (c->kind == NET_CONNECTED) {
		note_response(c, iov, iovcnt, n);
		return;
	}
	net_last_read = (struct net_ref){fd, s >> NET_ID_SHIFT};
	/* Under TLS the socket carries ciphertext: the request is the
	 * library's clear text (net_tls_data). */
	if (c->api != RECORD_API_SOCKET)
		return;
	int saved = errno;
	note_request(c, iov, iovcnt, n);
	errno = saved;
}

static void request_done(const struct head *h, void *arg)
{
	struct net_conn *c = arg;
	if (!sock_request(c, h))
		c->req.state = c->reader.state = HEAD_LOST;
}

bool net_following(void)
{
	return atomic_load_explicit(&net_did_accept, memory_order_relaxed);
}

/* TLS sessions on memory BIOs (Python's ssl.SSLObject, Debian's nodejs)
 * have no descriptor: each is followed in a slot of its own, found by the
 * session's pointer.  Slots are mapped at the first such session and never
 * unmapped; a key is claimed by compare-and-swap, so the table takes no
 * lock either.  A session beyond the table's size is not followed. */
#define NET_SESSIONS 64

static struct net_conn *_Atomic net_sessions;
static const void *_Atomic net_session_key[NET_SESSIONS];

static unsigned session_hash(const void *key)
{
	uintptr_t k = (uintptr_t)key;
	return (unsigned)((k >> 4) ^ (k >> 12)) % NET_SESSIONS;
}

/* The slot of session key, or NULL; *at gets its index. */
static struct net_conn *session_of(const void *key, unsigned *at)
{
	struct net_conn *t = atomic_load_explicit(&net_sessions, memory_order_acquire);
	if (!t || !key)
		return NULL;
	for (unsigned k = 0, i = session_hash(key); k < NET_SESSIONS;
	     k++, i = (i + 1) % NET_SESSIONS)
		if (atomic_load_explicit(&net_session_key[i], memory_order_acquire) == key) {
			*at = i;
			return &t[i];
		}
	return NULL;
}

/* A new session: the first clear text the host writes on it. */
static struct net_conn *session_make(const void *key)
{
	struct net_conn *t = atomic_load_explicit(&net_sessions, memory_order_acquire);
	if (!t) {
		size_t size = NET_SESSIONS * sizeof(struct net_conn);
		struct net_conn *m = mmap(NULL, size, PROT_READ | PROT_WRITE,
		                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			return NULL;
		if (!atomic_compare_exchange_strong(&net_sessions, &t, m))
			munmap(m, size);
		else
			t = m;
	}
	for (unsigned k = 0, i = session_hash(key); k < NET_SESSIONS;
	     k++, i = (i + 1) % NET_SESSIONS) {
		const void *none = NULL;
		if (!atomic_compare_exchange_strong(&net_session_key[i], &none, key))
			continue;
		if (conn_start(&t[i], -1, NET_CONNECTED))
			return &t[i];
		atomic_store_explicit(&net_session_key[i], NULL, memory_order_release);
		return NULL;
	}
	return NULL;
}

void net_tls_gone(const void *session)
{
	unsigned at;
	struct net_conn *c = session_of(session, &at);
	if (!c)
		return;
	int saved = errno;
	unfollow_slot(c);
	atomic_store_explicit(&net_session_key[at], NULL, memory_order_release);
	errno = saved;
}

/* Clear text on a connection the host accepted, which serves HTTPS: what
 * it writes is its response, what it reads its client's request. */
static void tls_accepted(struct net_conn *c, const struct net_tls *t, bool written, const void *buf,
                         size_t n)
{
	int fd = t->fd, api = t->api;
	uint64_t s;
	int saved = errno;

	if (!written && c->api == api)
		goto request;
	if (!conn_try_take(c, &s)) {
		if (written)
			atomic_store_explicit(&c->skipped, true, memory_order_relaxed);
		errno = saved;
		return;
	}
	if (c->api != api) {
		/* The first clear text: what the host wrote on the socket was
		 * the handshake. */
		c->api = api;
		writer_init(c);
		atomic_store_explicit(&c->skipped, false, memory_order_relaxed);
		/* So were the bytes it read: requests start now. */
		head_init(&c->req, c->req_head, sizeof(c->req_head));
		c->req.request = true;
		atomic_store_explicit(&c->read_skipped, false, memory_order_relaxed);
		/* HTTP/2 is not read. */
		if (t->h2)
			writer_lost(c);
	}
	if (atomic_load_explicit(&c->skipped, memory_order_relaxed))
		writer_lost(c);
	if (written)
		conn_written(c, buf, n);
	conn_give_back(c);
request:
	if (!written) {
		s = atomic_load_explicit(&c->state, memory_order_acquire);
		if (s & NET_LIVE) {
			struct iovec iov = {(void *)buf, n};
			net_last_read = (struct net_ref){fd, s >> NET_ID_SHIFT};
			note_request(c, &iov, 1, n);
		}
	}
	errno = saved;
}

void net_tls_data(const struct net_tls *t, bool written, const void *buf, size_t n)
{
	unsigned at;
	struct net_conn *c = t->fd >= 0 ? conn_of(t->fd) : session_of(t->session, &at);
	uint64_t s;

	if (c && t->fd >= 0 && c->kind == NET_ACCEPTED) {
		tls_accepted(c, t, written, buf, n);
		return;
	}

	int saved = errno;
	/* A session is followed from its first clear text, which a client
	 * writes; one whose start went by unseen is not. */
	if (!c && t->fd < 0 && written && !net_busy)
		c = session_make(t->session);
	if (!c || c->kind != NET_CONNECTED || !conn_try_take(c, &s)) {
		if (c && c->kind == NET_CONNECTED)
			atomic_store_explicit(&c->skipped, true, memory_order_relaxed);
		errno = saved;
		return;
	}
	if (c->api != t->api) {
		/* The first clear text: what the socket's readers saw was the
		 * handshake. */
		c->api = t->api;
		head_init(&c->reader, c->head, sizeof(c->head));
		head_init(&c->req, c->req_head, sizeof(c->req_head));
		c->req.request = true;
		c->req_first = c->req_count = 0;
		atomic_store_explicit(&c->skipped, false, memory_order_relaxed);
		if (t->h2) {
			/* HTTP/2 is not read: the connection is recorded once,
			 * as such. */
			sock_http2(c, t->host);
			c->reader.state = c->req.state = HEAD_LOST;
		}
	}
	if (atomic_load_explicit(&c->skipped, memory_order_relaxed))
		c->reader.state = c->req.state = HEAD_LOST;
	if (written)
		head_feed(&c->req, buf, n, request_done, c);
	else
		head_feed(&c->reader, buf, n, response_done, c);
	conn_give_back(c);
	errno = saved;
}

static void note_read1(int fd, void *buf, size_t n)
{
	struct iovec iov = {buf, n};
	note_read(fd, &iov, 1, n);
}

/* Bytes the host wrote to its client: read for response heads. */
static void note_write(int fd, const struct iovec *iov, int iovcnt, size_t n)
{
	struct net_conn *c = conn_of(fd);
	uint64_t s;

	/* An accepted connection under TLS: the socket's bytes are
	 * ciphertext, the library's hooks hand over the clear text. */
	if (!c || (c->kind == NET_ACCEPTED && c->api != RECORD_API_SOCKET))
		return;
	int saved = errno;
	if (!conn_try_take(c, &s)) {
		/* The reader cannot go on with bytes missing. */
		atomic_store_explicit(&c->skipped, true, memory_order_relaxed);
		errno = saved;
		return;
	}
	if (atomic_load_explicit(&c->skipped, memory_order_relaxed)) {
		if (c->kind == NET_ACCEPTED)
			writer_lost(c);
		else
			c->reader.state = c->req.state = HEAD_LOST;
	}
	/* Under TLS, the socket carries ciphertext: the library's hooks
	 * hand over the clear text. */
	for (int i = 0; i < iovcnt && n && c->api == RECORD_API_SOCKET; i++) {
		size_t k = iov[i].iov_len < n ? iov[i].iov_len : n;
		if (c->kind == NET_CONNECTED)
			head_feed(&c->req, iov[i].iov_base, k, request_done, c);
		else
			conn_written(c, iov[i].iov_base, k);
		n -= k;
	}
	conn_give_back(c);
	errno = saved;
}

static void note_write1(int fd, const void *buf, ssize_t n)
{
	if (n > 0 && conn_of(fd)) {
		struct iovec iov = {(void *)buf, (size_t)n};
		note_write(fd, &iov, 1, (size_t)n);
	}
}

static void note_accept(int fd)
{
	if (fd >= 0 && atomic_load_explicit(&net_follow, memory_order_relaxed))
		follow_fd(fd, NET_ACCEPTED);
}

int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	int rc = real_accept(fd, addr, len);
	note_accept(rc);
	return rc;
}

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	int rc = real_accept4(fd, addr, len, flags);
	note_accept(rc);
	return rc;
}

/* A stream socket the host connects, by TCP or a Unix socket, unless
 * libcurl does: its transfers are the libcurl source's. */
static void note_connect(int fd, const struct sockaddr *addr, const void *caller)
{
	int type = 0;
	socklen_t tlen = sizeof(type);

	if (!addr || !atomic_load_explicit(&net_follow_connects, memory_order_relaxed) ||
	    (addr->sa_family != AF_INET && addr->sa_family != AF_INET6 &&
	     addr->sa_family != AF_UNIX) ||
	    linker_in_curl(caller))
		return;
	int saved = errno;
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) == 0 && type == SOCK_STREAM)
		follow_fd(fd, NET_CONNECTED);
	errno = saved;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int rc = real_connect(fd, addr, len);
	if (rc == 0 || errno == EINPROGRESS)
		note_connect(fd, addr, __builtin_return_address(0));
	return rc;
}

static __attribute__((noinline)) ssize_t read_watched(int fd, void *buf, size_t n)
{
	ssize_t rc = real_read(fd, buf, n);
	if (rc > 0 && conn_of(fd))
		note_read1(fd, buf, (size_t)rc);
	return rc;
}

ssize_t read(int fd, void *buf, size_t n)
{
	if (__builtin_expect(!net_marked(fd), 1))
		return real_read(fd, buf, n);
	return read_watched(fd, buf, n);
}

static __attribute__((noinline)) ssize_t recv_watched(int fd, void *buf, size_t n, int flags)
{
	ssize_t rc = real_recv(fd, buf, n, flags);
	if (rc > 0 && conn_of(fd) && !(flags & MSG_PEEK))
		note_read1(fd, buf, (size_t)rc);
	return rc;
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	if (__builtin_expect(!net_marked(fd), 1))
		return real_recv(fd, buf, n, flags);
	return recv_watched(fd, buf, n, flags);
}

static __attribute__((noinline)) ssize_t recvfrom_watched(int fd, void *buf, size_t n, int flags,
                                                          struct sockaddr *addr, socklen_t *len)
{
	ssize_t rc = real_recvfrom(fd, buf, n, flags, addr, len);
	if (rc > 0 && conn_of(fd) && !(flags & MSG_PEEK))
		note_read1(fd, buf, (size_t)rc);
	return rc;
}

ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *len)
{
	if (__builtin_expect(!net_marked(fd), 1))
		return real_recvfrom(fd, buf, n, flags, addr, len);
	return recvfrom_watched(fd, buf, n, flags, addr, len);
}

static __attribute__((noinline)) ssize_t recvmsg_watched(int fd, struct msghdr *msg, int flags)
{
	ssize_t rc = real_recvmsg(fd, msg, flags);
	if (rc > 0 && conn_of(fd) && !(flags & MSG_PEEK))
		note_read(fd, msg->msg_iov, (int)msg->msg_iovlen, (size_t)rc);
	return rc;
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (__builtin_expect(!net_marked(fd), 1))
		return real_recvmsg(fd, msg, flags);
	return recvmsg_watched(fd, msg, flags);
}

static __attribute__((noinline)) ssize_t readv_watched(int fd, const struct iovec *iov, int n)
{
	ssize_t rc = real_readv(fd, iov, n);
	if (rc > 0 && conn_of(fd))
		note_read(fd, iov, n, (size_t)rc);
	return rc;
}

ssize_t readv(int fd, const struct iovec *iov, int n)
{
	if (__builtin_expect(!net_marked(fd), 1))
		return real_readv(fd, iov, n);
	return readv_watched(fd, iov, n);
}

static __attribute__((noinline)) ssize_t write_watched(int fd, const void *buf, size_t n)
{
	ssize_t rc = real_write(fd, buf, n);
	note_write1(fd, buf, rc);
	return rc;
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (__builtin_expect(!net_marked(fd), 1))
		return real_write(fd, buf, n);
	return write_watched(fd, buf, n);
}

static __attribute__((noinline)) ssize_t send_watched(int fd, const void *buf, size_t n, int flags)
{
	ssize_t rc = real_send(fd, buf, n, flags);
	note_write1(fd, buf, rc);
	return rc;
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	if (__builtin_expect(!net_marked(fd), 1))
		return real_send(fd, buf, n, flags);
	return send_watched(fd, buf, n, flags);
}

static __attribute__((noinline)) ssize_t sendto_watched(int fd, const void *buf, size_t n,
                                                        int flags, const struct sockaddr *addr,
                                                        socklen_t len)
{
	ssize_t rc = real_sendto(fd, buf, n, flags, addr, len);
	note_write1(fd, buf, rc);
	return rc;
}

ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
               socklen_t len)
{
	if (__builtin_expect(!net_marked(fd), 1))
		return real_sendto(fd, buf, n, flags, addr, len);
	return sendto_watched(fd, buf, n, flags, addr, len);
}

static __attribute__((noinline)) ssize_t sendmsg_watched(int fd, const struct msghdr *msg,
                                                         int flags)
{
	ssize_t rc = real_sendmsg(fd, msg, flags);
	if (rc > 0 && conn_of(fd))
		note_write(fd, msg->msg_iov, (int)msg->msg_iovlen, (size_t)rc);
	return rc;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (__builtin_expect(!net_marked(fd), 1))
		return real_sendmsg(fd, msg, flags);
	return sendmsg_watched(fd, msg, flags);
}

static __attribute__((noinline)) ssize_t writev_watched(int fd, const struct iovec *iov, int n)
{
	ssize_t rc = real_writev(fd, iov, n);
	if (rc > 0 && conn_of(fd))
		note_write(fd, iov, n, (size_t)rc);
	return rc;
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	if (__builtin_expect(!net_marked(fd), 1))
		return real_writev(fd, iov, n);
	return writev_watched(fd, iov, n);
}

/* Forgotten before the real close: once closed, the number may be handed
 * to a new connection on another thread at once.  The log hears of a close
 * before and after it (log_fds_closing). */
int close(int fd)
{
	unfollow_fd(fd);
	if (fd < 0)
		return real_close(fd);
	log_fds_closing((unsigned)fd, (unsigned)fd);
	int rc = real_close(fd);
	log_fds_closing((unsigned)fd, (unsigned)fd);
	return rc;
}

static void unfollow_range(unsigned first, unsigned last)
{
	if (!atomic_load_explicit(&net_did_accept, memory_order_relaxed))
		return;
	int saved = errno;
	for (unsigned top = first >> NET_CHUNK_BITS;
	     top < NET_TOP && top <= (last >> NET_CHUNK_BITS); top++) {
		struct net_conn *chunk = atomic_load(&net_table[top]);
		for (unsigned i = 0; chunk && i < NET_CHUNK; i++) {
			unsigned fd = (top << NET_CHUNK_BITS) | i;
			if (fd >= first && fd <= last &&
			    atomic_load_explicit(&chunk[i].state, memory_order_relaxed) & NET_LIVE)
				unfollow_slot(&chunk[i]);
		}
	}
	errno = saved;
}

int close_range(unsigned first, unsigned last, int flags)
{
#ifdef CLOSE_RANGE_CLOEXEC
	bool closes = !(flags & CLOSE_RANGE_CLOEXEC);
#else
	bool closes = true;
#endif
	if (!closes)
		return real_close_range(first, last, flags);
	unfollow_range(first, last);
	log_fds_closing(first, last);
	int rc = real_close_range(first, last, flags);
	log_fds_closing(first, last);
	return rc;
}

/* glibc's closefrom closes through an internal call, which close_range
 * above would not see. */
void closefrom(int lowfd)
{
	unsigned first = lowfd < 0 ? 0 : (unsigned)lowfd;

	unfollow_range(first, ~0u);
	log_fds_closing(first, ~0u);
	real_closefrom(lowfd);
	log_fds_closing(first, ~0u);
}

int dup2(int oldfd, int newfd)
{
	if (oldfd == newfd || newfd < 0)
		return real_dup2(oldfd, newfd);
	unfollow_fd(newfd);
	log_fds_closing((unsigned)newfd, (unsigned)newfd);
	int rc = real_dup2(oldfd, newfd);
	log_fds_closing((unsigned)newfd, (unsigned)newfd);
	return rc;
}

int dup3(int oldfd, int newfd, int flags)
{
	if (oldfd == newfd || newfd < 0)
		return real_dup3(oldfd, newfd, flags);
	unfollow_fd(newfd);
	log_fds_closing((unsigned)newfd, (unsigned)newfd);
	int rc = real_dup3(oldfd, newfd, flags);
	log_fds_closing((unsigned)newfd, (unsigned)newfd);
	return rc;
}

/* Takes a live slot, waiting while a hook of another thread owns it (it
 * lets go within a few instructions).  A slot marked gone is finished on
 * the way.  false when it does not hold connection id (0: any). */
static bool conn_take(struct net_conn *c, uint64_t id)
{
	uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);

	for (;;) {
		if (!(s & NET_LIVE) || (id && s >> NET_ID_SHIFT != id))
			return false;
		if (s & NET_BUSY) {
			sched_yield();
			s = atomic_load_explicit(&c->state, memory_order_relaxed);
			continue;
		}
		if (atomic_compare_exchange_weak_explicit(
		        &c->state, &s, s | NET_BUSY, memory_order_acquire, memory_order_relaxed))
			break;
	}
	net_busy = true;
	if (s & NET_GONE) {
		conn_finish(c);
		net_busy = false;
		return false;
	}
	return true;
}

void net_with_conn(struct net_ref ref, void (*fn)(struct net_conn *c, void *arg), void *arg)
{
	struct net_conn *c = ref.id ? slot_of(ref.fd) : NULL;

	if (c && conn_take(c, ref.id)) {
		fn(c, arg);
		conn_give_back(c);
	}
}

enum net_take net_take_nested(struct net_ref ref, struct net_conn **out)
{
	struct net_conn *c = ref.id ? slot_of(ref.fd) : NULL;
	if (!c)
		return NET_NOT_FOLLOWED;
	uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);
	if (!(s & NET_LIVE) || (s & NET_GONE) || s >> NET_ID_SHIFT != ref.id)
		return NET_NOT_FOLLOWED;
	if ((s & NET_BUSY) ||
	    !atomic_compare_exchange_strong_explicit(&c->state, &s, s | NET_BUSY,
	                                             memory_order_acquire, memory_order_relaxed))
		return NET_IN_USE;
	*out = c;
	return NET_TAKEN;
}

void net_give_nested(struct net_conn *c)
{
	bool busy = net_busy;
	conn_give_back(c);
	net_busy = busy;
}

unsigned net_each_accepted_nested(const struct net_conn *self,
                                  void (*fn)(struct net_conn *c, void *arg), void *arg)
{
	unsigned used = atomic_load(&net_top_used), in_use = 0;
	for (unsigned top = 0; top < used && top < NET_TOP; top++) {
		struct net_conn *chunk = atomic_load(&net_table[top]);
		for (unsigned i = 0; chunk && i < NET_CHUNK; i++) {
			struct net_conn *c = &chunk[i];
			uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);
			/* Connected sockets are never taken: another thread's
			 * hook on one would lose its bytes. */
			if (c == self || !(s & NET_LIVE) || (s & NET_GONE) ||
			    !atomic_load_explicit(&c->accepted, memory_order_relaxed))
				continue;
			if ((s & NET_BUSY) || !atomic_compare_exchange_strong_explicit(
			                          &c->state, &s, s | NET_BUSY, memory_order_acquire,
			                          memory_order_relaxed)) {
				in_use++;
				continue;
			}
			/* Taken: kind is stable now. */
			if (c->kind == NET_ACCEPTED)
				fn(c, arg);
			net_give_nested(c);
		}
	}
	return in_use;
}

void net_each_conn(void (*fn)(struct net_conn *c, void *arg), void *arg)
{
	unsigned used = atomic_load(&net_top_used);
	for (unsigned top = 0; top < used && top < NET_TOP; top++) {
		struct net_conn *chunk = atomic_load(&net_table[top]);
		for (unsigned i = 0; chunk && i < NET_CHUNK; i++) {
			if (conn_take(&chunk[i], 0)) {
				fn(&chunk[i], arg);
				conn_give_back(&chunk[i]);
			}
		}
	}
}

void net_atfork_prepare(void)
{
}

void net_atfork_parent(void)
{
}

/* The child has only the thread that forked: a slot that another thread
 * owned at that moment has no owner to let go of it. */
void net_atfork_child(void)
{
	for (unsigned top = 0; top < NET_TOP; top++) {
		struct net_conn *chunk = atomic_load(&net_table[top]);
		for (unsigned i = 0; chunk && i < NET_CHUNK; i++)
			if (atomic_fetch_and(&chunk[i].state, ~(uint64_t)NET_BUSY) & NET_BUSY)
				atomic_store(&chunk[i].skipped, true);
	}
	struct net_conn *t = atomic_load(&net_sessions);
	for (unsigned i = 0; t && i < NET_SESSIONS; i++)
		if (atomic_fetch_and(&t[i].state, ~(uint64_t)NET_BUSY) & NET_BUSY)
			atomic_store(&t[i].skipped, true);
	net_busy = false;
}
