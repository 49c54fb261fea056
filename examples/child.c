#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void exec_child(int out, char *const argv[])
{
	/* Don't outlive a test that crashed. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (dup2(out, STDOUT_FILENO) < 0)
		_exit(127);
	unsetenv("LD_PRELOAD");
	execv(argv[0], argv);
	fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Reads the child's first line into line. */
static int read_line(int fd, char *line, size_t size, int timeout_ms)
{
	long end = now_ms() + timeout_ms;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	size_t len = 0;
	ssize_t n;
	char ch;

	while (len + 1 < size) {
		long left = end - now_ms();

		if (left <= 0 || poll(&pfd, 1, (int)left) <= 0)
			return -1;
		n = read(fd, &ch, 1);
		if (n <= 0)
			return -1;
		if (ch == '\n') {
			line[len] = '\0';
			return 0;
		}
		line[len++] = ch;
	}
	return -1;
}

int child_start(struct child *c, char *const argv[], int timeout_ms)
{
	static const char prefix[] = "listening ";
	char line[256];
	int fds[2];

	memset(c, 0, sizeof(*c));
	c->pid = -1;
	c->out = -1;
	if (pipe2(fds, O_CLOEXEC) != 0)
		return -1;
	c->pid = fork();
	if (c->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (c->pid == 0)
		exec_child(fds[1], argv);
	close(fds[1]);
	c->out = fds[0];
	if (read_line(c->out, line, sizeof(line), timeout_ms) != 0 ||
	    strncmp(line, prefix, sizeof(prefix) - 1) != 0 ||
	    strlen(line + sizeof(prefix) - 1) >= sizeof(c->url)) {
		fprintf(stderr, "%s did not say where it listens\n", argv[0]);
		child_stop(c);
		return -1;
	}
	strcpy(c->url, line + sizeof(prefix) - 1);
	return 0;
}

int child_stop(struct child *c)
{
	int status = -1;
	long end;

	if (c->pid > 0) {
		kill(c->pid, SIGTERM);
		end = now_ms() + 5000;
		while (waitpid(c->pid, &status, WNOHANG) == 0) {
			if (now_ms() > end) {
				kill(c->pid, SIGKILL);
				waitpid(c->pid, &status, 0);
				break;
			}
			usleep(10000);
		}
	}
	if (c->out >= 0)
		close(c->out);
	c->pid = -1;
	c->out = -1;
	return status;
}
