/* The socket source's workload in authtap's benchmark: a program that uses
 * plain libc calls and never links authtap (issue 14, item 5).
 *
 *   sock_client pipe N            N write(2)+read(2) pairs of one byte through a
 *                                 pipe, before any socket is connected
 *   sock_client -p PORT pipe N    the same after connecting a socket to the
 *                                 server (under the preload, a followed
 *                                 connection: the hooks are watching)
 *   sock_client -p PORT keepalive N
 *                                 N "GET /200 HTTP/1.1" on one connection, each
 *                                 answer read whole (Content-Length) before
 *                                 the next request
 *
 * Under callgrind, --toggle-collect=timed_pipe or timed_keepalive limits the
 * count to the measured loop; --collect-systime=yes counts its system calls
 * too ("counted" in the result: the calls or requests inside them, the
 * warm-up's included).  The result is one line:
 *
 *   bench mode=keepalive requests=2000 counted=2020 errors=0 elapsed_ns=... ns_per_request=...
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 20

static char request[128];
static size_t request_len;

static void die(const char *msg)
{
	fprintf(stderr, "sock_client: %s: %s\n", msg, strerror(errno));
	exit(1);
}

static long arg_long(const char *s, long lo, long hi)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "sock_client: bad number: %s\n", s);
		exit(2);
	}
	return v;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int connect_to(long port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		die("connect");
	return fd;
}

/* One byte in, one byte out, n times: 2n calls on descriptors that are not
 * connections. */
__attribute__((noinline)) static long timed_pipe(const int p[2], long n)
{
	long errors = 0;
	char c = 'x';

	for (long i = 0; i < n; i++) {
		if (write(p[1], &c, 1) != 1)
			errors++;
		if (read(p[0], &c, 1) != 1)
			errors++;
	}
	return errors;
}

static int mode_pipe(long n, long port)
{
	int p[2];
	int sock = port ? connect_to(port) : -1;

	if (pipe(p) != 0)
		die("pipe");
	long errors = timed_pipe(p, WARMUP);
	uint64_t t0 = now_ns();
	errors += timed_pipe(p, n);
	uint64_t t1 = now_ns();
	printf("bench mode=pipe connected=%d calls=%ld counted=%ld errors=%ld elapsed_ns=%llu "
	       "ns_per_call=%.1f\n",
	       sock >= 0, 2 * n, 2 * (n + WARMUP), errors, (unsigned long long)(t1 - t0),
	       (double)(t1 - t0) / (double)(2 * n));
	close(p[0]);
	close(p[1]);
	if (sock >= 0)
		close(sock);
	return errors ? 1 : 0;
}

/* The Content-Length of a head that ends at end, or -1. */
static long content_length(const char *head, const char *end)
{
	static const char name[] = "\r\nContent-Length:";
	const char *p = memmem(head, (size_t)(end - head), name, sizeof(name) - 1);
	if (!p)
		return -1;
	p += sizeof(name) - 1;
	while (p < end && *p == ' ')
		p++;
	long v = 0;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		v = v * 10 + (*p - '0');
	return v;
}

/* One request, its whole answer read; false on any failure or a status
 * other than 200. */
static bool one_request(int fd)
{
	char buf[4096];
	size_t have = 0;

	if (write(fd, request, request_len) != (ssize_t)request_len)
		return false;
	for (;;) {
		ssize_t k = read(fd, buf + have, sizeof(buf) - have);
		if (k <= 0)
			return false;
		have += (size_t)k;
		const char *end = memmem(buf, have, "\r\n\r\n", 4);
		if (!end)
			continue;
		long len = content_length(buf, end + 2);
		size_t whole = (size_t)(end + 4 - buf) + (size_t)(len < 0 ? 0 : len);
		if (have < whole)
			continue;
		/* One request in flight at a time: nothing follows the answer. */
		return have == whole && memcmp(buf, "HTTP/1.1 200 ", 13) == 0;
	}
}

__attribute__((noinline)) static long timed_keepalive(int fd, long n)
{
	long errors = 0;

	for (long i = 0; i < n; i++)
		if (!one_request(fd))
			errors++;
	return errors;
}

static int mode_keepalive(long n, long port)
{
	int fd = connect_to(port);
	int len = snprintf(request, sizeof(request),
	                   "GET /200 HTTP/1.1\r\nHost: 127.0.0.1:%ld\r\nAccept: */*\r\n\r\n", port);
	request_len = (size_t)len;

	long errors = timed_keepalive(fd, WARMUP);
	uint64_t t0 = now_ns();
	errors += timed_keepalive(fd, n);
	uint64_t t1 = now_ns();
	printf("bench mode=keepalive requests=%ld counted=%ld errors=%ld elapsed_ns=%llu "
	       "ns_per_request=%.1f\n",
	       n, n + WARMUP, errors, (unsigned long long)(t1 - t0), (double)(t1 - t0) / (double)n);
	close(fd);
	return errors ? 1 : 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: sock_client [-p PORT] pipe N\n"
	                "       sock_client -p PORT keepalive N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long port = 0;

	if (argc >= 3 && strcmp(argv[1], "-p") == 0) {
		port = arg_long(argv[2], 1, 65535);
		argv += 2;
		argc -= 2;
	}
	if (argc != 3)
		usage();
	long n = arg_long(argv[2], 1, 100000000);
	int rc;
	if (strcmp(argv[1], "pipe") == 0)
		rc = mode_pipe(n, port);
	else if (strcmp(argv[1], "keepalive") == 0 && port)
		rc = mode_keepalive(n, port);
	else
		usage();
	fflush(stdout);
	return rc;
}
