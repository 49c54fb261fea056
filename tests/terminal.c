#include "terminal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

void run_pty(struct run *r, const char *const argv[], const char *const env[])
{
	int master, slave;

	memset(r, 0, sizeof(*r));
	cr_assert(openpty(&master, &slave, NULL, NULL, NULL) == 0, "openpty: %s", strerror(errno));
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		char **e = clean_env(env);
		close(master);
		setsid();
		ioctl(slave, TIOCSCTTY, 0);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		if (slave > 2)
			close(slave);
		alarm(60);
		execve(argv[0], (char *const *)argv, e);
		_exit(127);
	}
	close(slave);
	size_t cap = 0;
	for (;;) {
		struct pollfd p = {.fd = master, .events = POLLIN};
		cr_assert(poll(&p, 1, 60000) > 0, "no output for 60 s");
		if (r->out_len + 4097 > cap) {
			cap = (cap + 4097) * 2;
			r->out = realloc(r->out, cap);
			cr_assert(r->out);
		}
		ssize_t got = read(master, r->out + r->out_len, 4096);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break; /* EIO: every holder of the terminal has gone */
		r->out_len += (size_t)got;
	}
	close(master);
	if (!r->out)
		r->out = calloc(1, 1);
	r->out[r->out_len] = '\0';
	/* The terminal's output processing made each "\n" a "\r\n". */
	size_t o = 0;
	for (size_t i = 0; i < r->out_len; i++)
		if (!(r->out[i] == '\r' && r->out[i + 1] == '\n'))
			r->out[o++] = r->out[i];
	r->out[o] = '\0';
	r->out_len = o;
	r->err = calloc(1, 1);
	int status;
	cr_assert(waitpid(pid, &status, 0) == pid);
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
