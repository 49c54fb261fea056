/* Plain libc calls under the preload (it never links authtap):
 *
 *   libchost io N           N 7-byte write+read pairs on a pipe and N
 *                           send+recv pairs on a socket pair, after those of
 *                           libearlyio's constructor (which runs before
 *                           authtap's); prints "early=K io=N"
 *   libchost cancel-pending a thread with a cancel pending calls read() on a
 *                           pipe that has a byte: read() is a cancellation
 *                           point, so the thread ends cancelled
 *   libchost cancel-blocked a thread blocked in read() on an empty pipe is
 *                           cancelled
 *
 * Exit status 0 when everything went as libc promises, 1 otherwise, with
 * one line saying what happened. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include "earlyio.h"

static int p[2];
static atomic_int go;
static atomic_int tid;

static int io(long n)
{
	int s[2];
	char buf[EARLYIO_MSG_LEN];
	long ok = 0;

	if (pipe(p) != 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, s) != 0)
		return 1;
	for (long i = 0; i < n; i++)
		if (write(p[1], "authtap", EARLYIO_MSG_LEN) == EARLYIO_MSG_LEN &&
		    read(p[0], buf, EARLYIO_MSG_LEN) == EARLYIO_MSG_LEN &&
		    send(s[0], "authtap", EARLYIO_MSG_LEN, 0) == EARLYIO_MSG_LEN &&
		    recv(s[1], buf, EARLYIO_MSG_LEN, 0) == EARLYIO_MSG_LEN)
			ok++;
	printf("early=%ld io=%ld\n", earlyio_pairs, ok);
	return ok == n && earlyio_pairs == EARLYIO_PAIRS ? 0 : 1;
}

static void *reader(void *arg)
{
	char c;

	(void)arg;
	tid = gettid();
	while (!go)
		sched_yield();
	if (read(p[0], &c, 1) < 0)
		return (void *)2;
	return (void *)1;
}

/* The thread's state letter in /proc ('S': asleep, here in read). */
static char state_of(int t)
{
	char path[64], buf[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", t);
	f = fopen(path, "r");
	if (!f)
		return '?';
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *paren = strrchr(buf, ')');
	return paren && paren[1] == ' ' ? paren[2] : '?';
}

static int cancel(bool blocked)
{
	pthread_t t;
	void *res = NULL;

	if (pipe(p) != 0 || pthread_create(&t, NULL, reader, NULL) != 0)
		return 1;
	if (blocked) {
		go = 1;
		/* Bounded: the thread has nothing else to sleep in. */
		long i;
		for (i = 0; i < 100000000 && (!tid || state_of(tid) != 'S'); i++)
			sched_yield();
		pthread_cancel(t);
	} else {
		/* A byte to read: should read() not act on the pending cancel,
		 * it returns instead of blocking. */
		if (write(p[1], "x", 1) != 1)
			return 1;
		pthread_cancel(t);
		go = 1;
	}
	pthread_join(t, &res);
	if (res == PTHREAD_CANCELED) {
		printf("cancelled\n");
		return 0;
	}
	printf("not cancelled (%ld)\n", (long)(intptr_t)res);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "io") == 0)
		return io(atol(argv[2]));
	if (argc == 2 && strcmp(argv[1], "cancel-pending") == 0)
		return cancel(false);
	if (argc == 2 && strcmp(argv[1], "cancel-blocked") == 0)
		return cancel(true);
	fprintf(stderr, "usage: libchost io N | cancel-pending | cancel-blocked\n");
	return 2;
}
