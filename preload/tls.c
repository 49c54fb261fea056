/* The socket source through TLS libraries loaded dynamically: OpenSSL 1.1
 * and 3 (SSL_read, SSL_read_ex, SSL_write, SSL_write_ex) and GnuTLS
 * (gnutls_record_recv, gnutls_record_send).  The clear text they carry is
 * followed on the connection of the socket underneath, whose ciphertext is
 * then ignored.  Only what the call returned as done is counted: a
 * SSL_write that returns -1 is retried with the same buffer.  SSL_peek is
 * not hooked, so peeked bytes are counted once, when read.  Calls from
 * libcurl are its own source's, and pass straight through.
 *
 * Not reached: TLS compiled into the program (NodeSource's and the
 * official Node builds, Go), and sessions on memory BIOs (Debian's nodejs),
 * which have no descriptor (SSL_get_fd is -1). */
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "hooks.h"
#include "linker.h"
#include "net.h"
#include "preload.h"
#include "record.h"

#define TLS_PROTO(ret, name, params, args) AUTHTAP_EXPORT ret name params;
AUTHTAP_TLS_HOOKS(TLS_PROTO)
#undef TLS_PROTO

/* The real functions, looked up on first use (linker.c). */
#define TLS_REAL(ret, name, params, args) static void *_Atomic real_##name;
AUTHTAP_TLS_HOOKS(TLS_REAL)
AUTHTAP_TLS_CALLED(TLS_REAL)
#undef TLS_REAL

#define REAL(type, name) ((type)linker_tls_real(&real_##name, #name, (const void *)name))
#define OTHER(type, name) ((type)linker_tls_real(&real_##name, #name, NULL))

static void openssl_note(void *ssl, bool written, const void *buf, size_t n, const void *caller)
{
	if (!net_following() || linker_in_curl(caller))
		return;
	int (*get_fd)(const void *) = OTHER(int (*)(const void *), SSL_get_fd);
	int fd = get_fd ? get_fd(ssl) : -1;
	if (fd >= 0)
		net_tls_data(fd, RECORD_API_OPENSSL, written, buf, n);
}

static void gnutls_note(void *session, bool written, const void *buf, size_t n, const void *caller)
{
	if (!net_following() || linker_in_curl(caller))
		return;
	int (*get_fd)(void *) = OTHER(int (*)(void *), gnutls_transport_get_int);
	int fd = get_fd ? get_fd(session) : -1;
	if (fd >= 0)
		net_tls_data(fd, RECORD_API_GNUTLS, written, buf, n);
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
