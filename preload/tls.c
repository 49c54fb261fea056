/* The socket source through TLS libraries loaded dynamically: OpenSSL 1.1
 * and 3 (SSL_read, SSL_read_ex, SSL_write, SSL_write_ex) and GnuTLS
 * (gnutls_record_recv, gnutls_record_send).  The clear text they carry is
 * followed on the connection of the socket underneath, whose ciphertext is
 * then ignored.  Only what the call returned as done is counted: a
 * SSL_write that returns -1 is retried with the same buffer.  SSL_peek is
 * not hooked, so peeked bytes are counted once, when read.  Calls from
 * libcurl are its own source's, and pass straight through.
 *
 * An OpenSSL session on memory BIOs (Debian's nodejs, Python's
 * ssl.SSLObject under asyncio) has no descriptor (SSL_get_fd is -1): it is
 * followed by its pointer from its first clear text written until SSL_free.
 * A session on which ALPN chose HTTP/2 is recorded once and not read.
 *
 * Not reached: TLS compiled into the program (NodeSource's and the
 * official Node builds, Go), GnuTLS sessions without a descriptor. */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "linker.h"
#include "net.h"
#include "preload.h"
#include "record.h"

AUTHTAP_EXPORT int SSL_read(void *ssl, void *buf, int num);
AUTHTAP_EXPORT int SSL_read_ex(void *ssl, void *buf, size_t num, size_t *readbytes);
AUTHTAP_EXPORT int SSL_write(void *ssl, const void *buf, int num);
AUTHTAP_EXPORT int SSL_write_ex(void *ssl, const void *buf, size_t num, size_t *written);
AUTHTAP_EXPORT void SSL_free(void *ssl);
AUTHTAP_EXPORT ssize_t gnutls_record_recv(void *session, void *data, size_t size);
AUTHTAP_EXPORT ssize_t gnutls_record_send(void *session, const void *data, size_t size);

/* The real function, looked up on first use. */
static void *real_of(void *_Atomic *slot, const char *name, const void *self)
{
	void *f = atomic_load_explicit(slot, memory_order_acquire);
	if (!f) {
		f = linker_tls_sym(name, self);
		atomic_store_explicit(slot, f, memory_order_release);
	}
	return f;
}

#define REAL(type, name) ((type)real_of(&real_##name, #name, (const void *)name))
#define OTHER(type, name) ((type)real_of(&real_##name, #name, NULL))

static void *_Atomic real_SSL_read, *_Atomic real_SSL_read_ex, *_Atomic real_SSL_write,
    *_Atomic real_SSL_write_ex, *_Atomic real_SSL_free, *_Atomic real_SSL_get_fd,
    *_Atomic real_SSL_get0_alpn_selected, *_Atomic real_SSL_get_servername,
    *_Atomic real_SSL_is_server, *_Atomic real_gnutls_record_recv, *_Atomic real_gnutls_record_send,
    *_Atomic real_gnutls_transport_get_int, *_Atomic real_gnutls_alpn_get_selected_protocol;

/* ALPN's protocol ID for HTTP/2 (RFC 9113 section 3.2). */
static bool alpn_h2(const unsigned char *p, unsigned len)
{
	return p && len == 2 && p[0] == 'h' && p[1] == '2';
}

/* A session without a descriptor (a memory BIO: SSL_get_fd is -1) is
 * followed by its pointer. */
static void openssl_note(void *ssl, bool written, const void *buf, size_t n, const void *caller)
{
	if (!net_following() || linker_in_curl(caller))
		return;
	int (*get_fd)(const void *) = OTHER(int (*)(const void *), SSL_get_fd);
	void (*alpn)(const void *, const unsigned char **, unsigned *) = OTHER(
	    void (*)(const void *, const unsigned char **, unsigned *), SSL_get0_alpn_selected);
	struct net_tls t = {
	    .fd = get_fd ? get_fd(ssl) : -1, .session = ssl, .api = RECORD_API_OPENSSL};
	if (t.fd < 0) {
		/* The server's end of a session has no connection to
		 * follow: the socket source reads what the host asked. */
		int (*is_server)(const void *) = OTHER(int (*)(const void *), SSL_is_server);
		if (!is_server || is_server(ssl))
			return;
	}
	const unsigned char *proto = NULL;
	unsigned plen = 0;
	if (alpn)
		alpn(ssl, &proto, &plen);
	t.h2 = alpn_h2(proto, plen);
	if (t.h2) {
		const char *(*name)(const void *, int) =
		    OTHER(const char *(*)(const void *, int), SSL_get_servername);
		t.host = name ? name(ssl, 0 /* TLSEXT_NAMETYPE_host_name */) : NULL;
	}
	net_tls_data(&t, written, buf, n);
}

struct gnutls_datum {
	unsigned char *data;
	unsigned size;
};

static void gnutls_note(void *session, bool written, const void *buf, size_t n, const void *caller)
{
	if (!net_following() || linker_in_curl(caller))
		return;
	int (*get_fd)(void *) = OTHER(int (*)(void *), gnutls_transport_get_int);
	int fd = get_fd ? get_fd(session) : -1;
	if (fd < 0)
		return;
	int (*alpn)(void *, struct gnutls_datum *) =
	    OTHER(int (*)(void *, struct gnutls_datum *), gnutls_alpn_get_selected_protocol);
	struct gnutls_datum proto = {0};
	struct net_tls t = {.fd = fd, .session = session, .api = RECORD_API_GNUTLS};
	t.h2 = alpn && alpn(session, &proto) == 0 && alpn_h2(proto.data, proto.size);
	net_tls_data(&t, written, buf, n);
}

int SSL_read(void *ssl, void *buf, int num)
{
	int (*real)(void *, void *, int) = REAL(int (*)(void *, void *, int), SSL_read);
	if (!real)
		return -1;
	int rc = real(ssl, buf, num);
	if (rc > 0)
		openssl_note(ssl, false, buf, (size_t)rc, __builtin_return_address(0));
	return rc;
}

int SSL_read_ex(void *ssl, void *buf, size_t num, size_t *readbytes)
{
	int (*real)(void *, void *, size_t, size_t *) =
	    REAL(int (*)(void *, void *, size_t, size_t *), SSL_read_ex);
	if (!real)
		return 0;
	int rc = real(ssl, buf, num, readbytes);
	if (rc == 1 && readbytes && *readbytes)
		openssl_note(ssl, false, buf, *readbytes, __builtin_return_address(0));
	return rc;
}

int SSL_write(void *ssl, const void *buf, int num)
{
	int (*real)(void *, const void *, int) =
	    REAL(int (*)(void *, const void *, int), SSL_write);
	if (!real)
		return -1;
	int rc = real(ssl, buf, num);
	if (rc > 0)
		openssl_note(ssl, true, buf, (size_t)rc, __builtin_return_address(0));
	return rc;
}

int SSL_write_ex(void *ssl, const void *buf, size_t num, size_t *written)
{
	int (*real)(void *, const void *, size_t, size_t *) =
	    REAL(int (*)(void *, const void *, size_t, size_t *), SSL_write_ex);
	if (!real)
		return 0;
	int rc = real(ssl, buf, num, written);
	if (rc == 1 && written && *written)
		openssl_note(ssl, true, buf, *written, __builtin_return_address(0));
	return rc;
}

void SSL_free(void *ssl)
{
	void (*real)(void *) = REAL(void (*)(void *), SSL_free);
	/* Before the real one: its address may be handed out again at once. */
	net_tls_gone(ssl);
	if (real)
		real(ssl);
}

ssize_t gnutls_record_recv(void *session, void *data, size_t size)
{
	ssize_t (*real)(void *, void *, size_t) =
	    REAL(ssize_t(*)(void *, void *, size_t), gnutls_record_recv);
	if (!real)
		return -1;
	ssize_t rc = real(session, data, size);
	if (rc > 0)
		gnutls_note(session, false, data, (size_t)rc, __builtin_return_address(0));
	return rc;
}

ssize_t gnutls_record_send(void *session, const void *data, size_t size)
{
	ssize_t (*real)(void *, const void *, size_t) =
	    REAL(ssize_t(*)(void *, const void *, size_t), gnutls_record_send);
	if (!real)
		return -1;
	ssize_t rc = real(session, data, size);
	if (rc > 0)
		gnutls_note(session, true, data, (size_t)rc, __builtin_return_address(0));
	return rc;
}
