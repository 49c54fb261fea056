/* Every function authtap interposes, in one place.  Each list is an X-macro:
 * a file that needs the prototypes, the pointers to the real functions, the
 * lookups or the names (tests/test_abi.c) defines X (and XV for a function
 * that returns nothing) and expands the list, so that a hook added here
 * gets all of them at once.
 *
 *   X(return type, name, (parameters), (arguments))
 *   XV(name, (parameters), (arguments))
 *
 * The types are only named, never needed, by a file that expands nothing
 * but the names. */
#ifndef AUTHTAP_HOOKS_H
#define AUTHTAP_HOOKS_H

/* libc (net.c): the calls on the connections the program accepts (for
 * verdicts) and connects (the socket source), and those that close
 * descriptors, which the log hears of too.  The real functions are looked
 * up by linker.c (real_<name>, linker.h). */
#define AUTHTAP_LIBC_HOOKS(X, XV)                                                                  \
	X(ssize_t, read, (int fd, void *buf, size_t n), (fd, buf, n))                              \
	X(ssize_t, readv, (int fd, const struct iovec *iov, int n), (fd, iov, n))                  \
	X(ssize_t, recv, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags))            \
	X(ssize_t, recvfrom,                                                                       \
	  (int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *len),         \
	  (fd, buf, n, flags, addr, len))                                                          \
	X(ssize_t, recvmsg, (int fd, struct msghdr *msg, int flags), (fd, msg, flags))             \
	X(ssize_t, write, (int fd, const void *buf, size_t n), (fd, buf, n))                       \
	X(ssize_t, writev, (int fd, const struct iovec *iov, int n), (fd, iov, n))                 \
	X(ssize_t, send, (int fd, const void *buf, size_t n, int flags), (fd, buf, n, flags))      \
	X(ssize_t, sendto,                                                                         \
	  (int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,              \
	   socklen_t len),                                                                         \
	  (fd, buf, n, flags, addr, len))                                                          \
	X(ssize_t, sendmsg, (int fd, const struct msghdr *msg, int flags), (fd, msg, flags))       \
	X(int, connect, (int fd, const struct sockaddr *addr, socklen_t len), (fd, addr, len))     \
	X(int, accept, (int fd, struct sockaddr *addr, socklen_t *len), (fd, addr, len))           \
	X(int, accept4, (int fd, struct sockaddr *addr, socklen_t *len, int flags),                \
	  (fd, addr, len, flags))                                                                  \
	X(int, close, (int fd), (fd))                                                              \
	X(int, close_range, (unsigned first, unsigned last, int flags), (first, last, flags))      \
	XV(closefrom, (int lowfd), (lowfd))                                                        \
	X(int, dup2, (int oldfd, int newfd), (oldfd, newfd))                                       \
	X(int, dup3, (int oldfd, int newfd, int flags), (oldfd, newfd, flags))

/* The TLS libraries (tls.c): the calls that carry the socket source's
 * clear text, and the end of a session followed by its pointer.  Looked up
 * on first use (linker_tls_real), since the library may be loaded late
 * (Python's _ssl). */
#define AUTHTAP_TLS_HOOKS(X, XV)                                                                   \
	X(int, SSL_read, (void *ssl, void *buf, int num), (ssl, buf, num))                         \
	X(int, SSL_read_ex, (void *ssl, void *buf, size_t num, size_t *readbytes),                 \
	  (ssl, buf, num, readbytes))                                                              \
	X(int, SSL_write, (void *ssl, const void *buf, int num), (ssl, buf, num))                  \
	X(int, SSL_write_ex, (void *ssl, const void *buf, size_t num, size_t *written),            \
	  (ssl, buf, num, written))                                                                \
	XV(SSL_free, (void *ssl), (ssl))                                                           \
	X(ssize_t, gnutls_record_recv, (void *session, void *data, size_t size),                   \
	  (session, data, size))                                                                   \
	X(ssize_t, gnutls_record_send, (void *session, const void *data, size_t size),             \
	  (session, data, size))

/* The TLS libraries' functions authtap calls without interposing them. */
#define AUTHTAP_TLS_CALLED(X)                                                                      \
	X(int, SSL_get_fd, (const void *ssl), (ssl))                                               \
	X(void, SSL_get0_alpn_selected,                                                            \
	  (const void *ssl, const unsigned char **data, unsigned *len), (ssl, data, len))          \
	X(const char *, SSL_get_servername, (const void *ssl, int type), (ssl, type))              \
	X(int, SSL_is_server, (const void *ssl), (ssl))                                            \
	X(int, gnutls_transport_get_int, (void *session), (session))                               \
	X(int, gnutls_alpn_get_selected_protocol, (void *session, struct gnutls_datum *protocol),  \
	  (session, protocol))

/* libcurl (hook.c): the transfer's end, in the order of linker.c's routes.
 * Looked up per loaded libcurl (struct curl_lib, curl_lib.h). */
#define AUTHTAP_CURL_HOOKS(X, XV)                                                                  \
	X(CURLcode, curl_easy_perform, (CURL * h), (h))                                            \
	XV(curl_easy_cleanup, (CURL * h), (h))                                                     \
	X(CURLMcode, curl_multi_add_handle, (CURLM * m, CURL * h), (m, h))                         \
	X(CURLMcode, curl_multi_remove_handle, (CURLM * m, CURL * h), (m, h))                      \
	X(CURLMsg *, curl_multi_info_read, (CURLM * m, int *msgs_in_queue), (m, msgs_in_queue))    \
	X(CURLMcode, curl_multi_cleanup, (CURLM * m), (m))                                         \
	X(CURLMcode, curl_multi_perform, (CURLM * m, int *running_handles), (m, running_handles))  \
	X(CURLMcode, curl_multi_socket_action,                                                     \
	  (CURLM * m, curl_socket_t s, int ev_bitmask, int *running_handles),                      \
	  (m, s, ev_bitmask, running_handles))

/* libcurl's functions authtap calls without interposing them. */
#define AUTHTAP_CURL_CALLED(X)                                                                     \
	X(CURLcode, curl_easy_getinfo, (CURL * h, CURLINFO info, ...), ())                         \
	X(CURLHcode, curl_easy_header,                                                             \
	  (CURL * h, const char *name, size_t index, unsigned int origin, int request,             \
	   struct curl_header **hout),                                                             \
	  (h, name, index, origin, request, hout))

/* The dynamic linker's own functions (linker.c): dlopen keeps PHP's
 * RTLD_DEEPBIND from bypassing the preload, dlsym and dlvsym route libcurl
 * functions looked up by name, dlclose forgets an unloaded object. */
#define AUTHTAP_DL_HOOKS(X) X(dlopen) X(dlsym) X(dlvsym) X(dlclose)

#endif
