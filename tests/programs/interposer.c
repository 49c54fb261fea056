/* An interposer preloaded after authtap (LD_PRELOAD="libauthtap.so
 * libinterposer.so"): it counts the 7-byte read, write, recv and send calls
 * it sees (libchost's messages), forwards each to the next definition, and
 * says how many it saw when the process ends.  authtap must forward to it,
 * as it would reach libc without authtap. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#define MSG_LEN 7

static atomic_long n_read, n_write, n_recv, n_send;

#define NEXT(name) ((__typeof__(&name))dlsym(RTLD_NEXT, #name))

ssize_t read(int fd, void *buf, size_t n)
{
	if (n == MSG_LEN)
		n_read++;
	return NEXT(read)(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	if (n == MSG_LEN)
		n_write++;
	return NEXT(write)(fd, buf, n);
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	if (n == MSG_LEN)
		n_recv++;
	return NEXT(recv)(fd, buf, n, flags);
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	if (n == MSG_LEN)
		n_send++;
	return NEXT(send)(fd, buf, n, flags);
}

__attribute__((destructor)) static void report(void)
{
	char line[128];
	int len = snprintf(line, sizeof(line), "interposer read=%ld write=%ld recv=%ld send=%ld\n",
			   (long)n_read, (long)n_write, (long)n_recv, (long)n_send);
	if (len > 0)
		NEXT(write)(2, line, (size_t)len);
}
