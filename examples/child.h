/* For the example tests: run one of the example servers as a child and
 * learn its URL from the "listening URL" line it prints. */
#ifndef EXAMPLES_CHILD_H
#define EXAMPLES_CHILD_H

#include <sys/types.h>

struct child {
	pid_t pid;
	int out; /* read end of its stdout */
	char url[128];
};

/* Starts argv (argv[0] a path) without LD_PRELOAD, whatever ours is: a
 * program that wants authtap is started through the launcher.  Waits up to
 * timeout_ms for the URL.  Returns 0, or -1 with the child gone. */
int child_start(struct child *c, char *const argv[], int timeout_ms);

/* SIGTERM, then SIGKILL if it lingers; returns its wait status. */
int child_stop(struct child *c);

#endif
