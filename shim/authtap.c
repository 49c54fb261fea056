/* authtap [options] [--] COMMAND [ARG...]: runs COMMAND with libauthtap.so
 * preloaded and its log configured.
 *
 * Everything is checked before COMMAND starts: a bad option or variable, a
 * log that cannot be written, is one "authtap:" line and exit 2.
 *
 * The launcher stays as COMMAND's parent.  Records for a stream (stderr,
 * stdout, /dev/fd/N) reach it through a pipe of its own, which it drains
 * into memory at once and writes out as its output can take them: a slow
 * reader never makes the preload drop a record, and COMMAND never waits on
 * it.  The parent hands on the signals sent to it, stops when COMMAND stops,
 * and exits as COMMAND did (re-raising its killing signal), after one line
 * on what was logged. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launcher-config.h"

static const char usage[] =
    "usage: authtap [OPTION]... [--] COMMAND [ARG]...\n"
    "\n"
    "Runs COMMAND with libauthtap.so preloaded: every upstream response that asks for\n"
    "authentication (401, 403, 407 with WWW-Authenticate or Proxy-Authenticate) that\n"
    "COMMAND receives (through libcurl, sockets, OpenSSL or GnuTLS) is logged; when\n"
    "COMMAND is a proxy, so is what it passed on to its client.  Options stop at the\n"
    "first word that is not one.\n"
    "\n"
    "  -o PATH          where records go: a file (appended, created 0600; %p becomes\n"
    "                   the pid), /dev/stdout, /dev/stderr or /dev/fd/N (default:\n"
    "                   stderr)\n"
    "  -f FORMAT        json or text (default: text on stderr, json elsewhere)\n"
    "  -s LIST          statuses to record, e.g. 401,407, or any (default 401,403,407)\n"
    "  --full-url       log URLs with query and fragment (default: redacted)\n"
    "  --raw            text: show each challenge header as received\n"
    "  --color=WHEN     text: auto (default: on a terminal, unless NO_COLOR is set),\n"
    "                   always or never\n"
    "  -q, --quiet      no closing line (how many records, where; on a terminal,\n"
    "                   or when records were lost)\n"
    "  -h, --help       show this help\n"
    "  --version        show the version\n"
    "\n"
    "Environment (an option wins over its variable):\n"
    "  AUTHTAP_LOG      as -o (stderr, a path, /dev/fd/N)\n"
    "  AUTHTAP_FORMAT   as -f\n"
    "  AUTHTAP_STATUS   as -s\n"
    "  AUTHTAP_URL      full or redacted, as --full-url\n"
    "  AUTHTAP_VERDICT  0: do not follow the connections COMMAND accepts\n"
    "  AUTHTAP_DISABLE  1: load authtap inert\n"
    "  NO_COLOR         set and not empty: no colour with --color=auto\n"
    "  LD_PRELOAD       kept, after libauthtap.so\n"
    "The launcher sets AUTHTAP_LOG, AUTHTAP_FORMAT, AUTHTAP_COLOR and, when asked,\n"
    "AUTHTAP_STATUS, AUTHTAP_URL and AUTHTAP_RAW for COMMAND.\n"
    "\n"
    "Exit status: COMMAND's (128+N, or its signal re-raised, when signal N killed\n"
    "it); 2 for a usage or configuration error, 126 when COMMAND cannot be run, 127\n"
    "when it is not found.  See authtap(1).\n";

static void die(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("authtap: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* The library this launcher goes with: the build tree's launcher knows the
 * build tree's, the installed one only the installed path.  Never a path
 * relative to the current directory. */
static const char *library_path(void)
{
	return AUTHTAP_LIBRARY;
}

static void set(const char *name, const char *value)
{
	if (setenv(name, value, 1) != 0)
		die(2, "cannot set %s", name);
}

/* An option's value, else the variable's when set and not empty. */
static const char *or_env(const char *opt, const char *name)
{
	if (opt)
		return opt;
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

/* As the preload reads AUTHTAP_STATUS: "401, 407" or "any", three-digit
 * statuses from 100 to 599, all or nothing. */
static bool status_valid(const char *s)
{
	bool seen = false;

	while (*s) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (!*s)
			break;
		const char *start = s;
		while (*s && *s != ',' && *s != ' ' && *s != '\t')
			s++;
		size_t len = (size_t)(s - start);
		while (*s == ' ' || *s == '\t')
			s++;
		if ((*s && *s != ',') || len != 3)
			return false;
		if (strncasecmp(start, "any", 3) != 0) {
			for (size_t i = 0; i < 3; i++)
				if (start[i] < '0' || start[i] > '9')
					return false;
			int v = (start[0] - '0') * 100 + (start[1] - '0') * 10 + (start[2] - '0');
			if (v < 100 || v > 599)
				return false;
		}
		seen = true;
	}
	return seen;
}

/* Where records go. */
struct target {
	int fd;           /* a stream the launcher relays to, or -1: a file */
	const char *name; /* as shown in the closing line */
	char *path;       /* the file, made absolute */
	off_t start;      /* its size before COMMAND ran; -1: not counted */
};

static char *absolute(const char *path)
{
	if (path[0] == '/')
		return strdup(path);
	char *cwd = getcwd(NULL, 0);
	if (!cwd)
		die(2, "cannot resolve -o %s: no current directory", path);
	char *out;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		die(2, "out of memory");
	free(cwd);
	return out;
}

/* "/dev/fd/N", "/dev/stdout", "/dev/stderr", "stderr": a stream the launcher
 * writes to itself; -1 for a file. */
static int stream_fd(const char *out)
{
	if (strcmp(out, "stderr") == 0 || strcmp(out, "/dev/stderr") == 0)
		return STDERR_FILENO;
	if (strcmp(out, "/dev/stdout") == 0)
		return STDOUT_FILENO;
	if (strncmp(out, "/dev/fd/", 8) != 0 && strncmp(out, "/proc/self/fd/", 14) != 0)
		return -1;
	const char *p = out + (out[1] == 'd' ? 8 : 14);
	char *end;
	errno = 0;
	long n = strtol(p, &end, 10);
	if (errno || end == p || *end || n < 0 || n > INT_MAX)
		die(2, "-o %s: not a descriptor number", out);
	return (int)n;
}

/* Checks that the log can be written, as the preload will open it. */
static void target_check(struct target *t, const char *out)
{
	t->fd = stream_fd(out);
	t->start = -1;
	if (t->fd >= 0) {
		int fl = fcntl(t->fd, F_GETFL);
		if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
			die(2, "cannot write the log to %s: %s", out,
			    fl < 0 ? strerror(errno) : "open for reading only");
		t->name = t->fd == STDERR_FILENO   ? "stderr"
		          : t->fd == STDOUT_FILENO ? "stdout"
		                                   : out;
		return;
	}
	t->path = absolute(out);
	t->name = t->path;
	if (strstr(t->path, "%p")) {
		/* Each process opens its own file: the directory must take it. */
		char *dir = strdup(t->path);
		*strrchr(dir, '/') = '\0';
		struct stat st;
		const char *d = *dir ? dir : "/";
		if (stat(d, &st) != 0)
			die(2, "cannot write the log %s: %s", t->path, strerror(errno));
		if (!S_ISDIR(st.st_mode) || access(d, W_OK | X_OK) != 0)
			die(2, "cannot write the log %s: %s is not a writable directory", t->path,
			    d);
		free(dir);
		return;
	}
	int fd = open(
	    t->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK,
	    0600);
	if (fd < 0) {
		if (errno == ELOOP)
			die(2, "refusing the log %s: a symlink", t->path);
		if (errno == ENXIO)
			die(2, "cannot write the log %s: a FIFO nobody reads", t->path);
		die(2, "cannot write the log %s: %s", t->path, strerror(errno));
	}
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		t->start = st.st_size;
	close(fd);
}

/* What the closing line says: records seen, and the losses the preload
 * reported.  A record that reports losses carries "lost":N (JSON) or
 * lost=N (text), a running count per process: the largest per pid counts. */
struct tally {
	unsigned long records;
	struct {
		long pid;
		unsigned long lost;
	} procs[64];
	size_t nprocs;
};

static unsigned long number_after(const char *line, size_t len, const char *key)
{
	size_t klen = strlen(key);
	for (size_t i = 0; i + klen < len; i++) {
		if (memcmp(line + i, key, klen) != 0)
			continue;
		unsigned long n = 0;
		size_t j = i + klen;
		if (j >= len || line[j] < '0' || line[j] > '9')
			continue;
		for (; j < len && line[j] >= '0' && line[j] <= '9'; j++)
			n = n * 10 + (unsigned long)(line[j] - '0');
		return n;
	}
	return 0;
}

static void tally_line(struct tally *t, const char *line, size_t len)
{
	/* A text record's challenge and raw header lines are indented. */
	if (len >= 2 && line[0] == ' ' && line[1] == ' ')
		return;
	t->records++;
	unsigned long lost = number_after(line, len, "\"lost\":");
	if (!lost)
		lost = number_after(line, len, "lost=");
	if (!lost)
		return;
	long pid = (long)number_after(line, len, "\"pid\":");
	if (!pid)
		pid = (long)number_after(line, len, "authtap[");
	size_t i = 0;
	while (i < t->nprocs && t->procs[i].pid != pid)
		i++;
	if (i == t->nprocs) {
		if (t->nprocs == sizeof(t->procs) / sizeof(t->procs[0]))
			i--;
		else
			t->nprocs++;
		t->procs[i].pid = pid;
		t->procs[i].lost = 0;
	}
	if (lost > t->procs[i].lost)
		t->procs[i].lost = lost;
}

static void tally_text(struct tally *t, const char *p, size_t len)
{
	while (len) {
		const char *nl = memchr(p, '\n', len);
		size_t n = nl ? (size_t)(nl - p) : len;
		tally_line(t, p, n);
		n += nl ? 1 : 0;
		p += n;
		len -= n;
	}
}

static unsigned long tally_lost(const struct tally *t)
{
	unsigned long lost = 0;
	for (size_t i = 0; i < t->nprocs; i++)
		lost += t->procs[i].lost;
	return lost;
}

/* The records a file gained while COMMAND ran. */
static void tally_file(struct tally *t, const struct target *tg)
{
	if (tg->start < 0)
		return;
	int fd = open(tg->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return;
	char buf[65536], *carry = NULL;
	size_t ncarry = 0;
	off_t at = tg->start;
	ssize_t n;
	while ((n = pread(fd, buf, sizeof(buf), at)) > 0) {
		at += n;
		char *all = realloc(carry, ncarry + (size_t)n);
		if (!all)
			break;
		memcpy(all + ncarry, buf, (size_t)n);
		carry = all;
		ncarry += (size_t)n;
		char *last = memrchr(carry, '\n', ncarry);
		if (last) {
			size_t whole = (size_t)(last - carry) + 1;
			tally_text(t, carry, whole);
			memmove(carry, carry + whole, ncarry - whole);
			ncarry -= whole;
		}
	}
	free(carry);
	close(fd);
}

/* Records waiting for the launcher's output: unbounded, so that the pipe
 * from COMMAND is always drained. */
struct queue {
	char *p;
	size_t len, cap, off;
};

static bool queue_read(struct queue *q, int fd)
{
	for (;;) {
		if (q->cap - q->len < 65536) {
			if (q->off) {
				memmove(q->p, q->p + q->off, q->len - q->off);
				q->len -= q->off;
				q->off = 0;
			}
			if (q->cap - q->len < 65536) {
				size_t cap = q->cap ? q->cap * 2 : 262144;
				char *p = realloc(q->p, cap);
				if (!p)
					die(1, "out of memory relaying the log");
				q->p = p;
				q->cap = cap;
			}
		}
		ssize_t n = read(fd, q->p + q->len, q->cap - q->len);
		if (n > 0) {
			q->len += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		return n == 0; /* true: end of file */
	}
}

/* Writes whole lines, at most PIPE_BUF at a time, so that a record never
 * mixes with what COMMAND writes to the same stream.  Returns false when the
 * stream is gone. */
static bool queue_write(struct queue *q, int fd, struct tally *t, bool last)
{
	while (q->off < q->len) {
		size_t n = q->len - q->off;
		if (n > PIPE_BUF)
			n = PIPE_BUF;
		char *nl = memrchr(q->p + q->off, '\n', n);
		if (nl)
			n = (size_t)(nl - (q->p + q->off)) + 1;
		else if (q->len - q->off <= PIPE_BUF && !last)
			return true; /* a line still arriving */
		ssize_t w = write(fd, q->p + q->off, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (w <= 0)
			return false;
		tally_text(t, q->p + q->off, (size_t)w);
		q->off += (size_t)w;
		/* One write per wake-up: the pipe from COMMAND comes first. */
		return true;
	}
	return true;
}

static bool stopped(pid_t pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && (p[2] == 'T' || p[2] == 't');
}

/* The signals the parent hands on to COMMAND, read through a signalfd. */
static const int forwarded[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGUSR1,
                                SIGUSR2, SIGALRM, SIGPIPE, SIGCHLD};

/* Waits for COMMAND, relaying its records when log >= 0.  Returns its wait
 * status. */
static int supervise(pid_t child, int sfd, int log, struct target *tg, struct tally *t)
{
	struct queue q = {0};
	bool out_ok = tg->fd >= 0;
	int status = 0;
	bool done = false;

	while (!done || (q.off < q.len && out_ok)) {
		struct pollfd p[3] = {
		    {.fd = sfd, .events = POLLIN},
		    {.fd = log, .events = POLLIN},
		    {.fd = (out_ok && q.off < q.len) ? tg->fd : -1, .events = POLLOUT},
		};
		if (done) {
			/* COMMAND is gone: what is left is written out, blocking. */
			p[0].fd = p[1].fd = -1;
		}
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			die(1, "poll: %s", strerror(errno));
		}
		if (log >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (queue_read(&q, log)) {
				close(log);
				log = -1;
			}
		}
		if (p[2].revents & (POLLOUT | POLLERR | POLLHUP)) {
			if (!queue_write(&q, tg->fd, t, done)) {
				/* Nobody reads our output any more: keep draining
				 * COMMAND's records so that it never waits. */
				out_ok = false;
			}
		}
		if (!out_ok)
			q.off = q.len;
		if (!(p[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo != SIGCHLD) {
			/* Ctrl-C and Ctrl-\ reach COMMAND from the terminal
			 * itself; a signal sent to the launcher is handed on. */
			if (si.ssi_code != SI_KERNEL && si.ssi_signo != SIGPIPE)
				kill(child, (int)si.ssi_signo);
			continue;
		}
		pid_t w;
		while ((w = waitpid(child, &status, WNOHANG | WUNTRACED)) > 0) {
			if (WIFSTOPPED(status)) {
				/* COMMAND stopped (Ctrl-Z, a background read): so
				 * does the launcher, so that the shell sees the job
				 * stop; when continued, so is COMMAND. */
				if (!stopped(child))
					continue;
				int sig = WSTOPSIG(status);
				if (sig != SIGTSTP && sig != SIGTTIN && sig != SIGTTOU)
					sig = SIGSTOP;
				raise(sig);
				if (stopped(child))
					kill(child, SIGCONT);
				continue;
			}
			done = true;
			break;
		}
		if (done && log >= 0) {
			/* Its last records are in the pipe; a process it left
			 * behind may still hold the pipe: take what is there. */
			int fl = fcntl(log, F_GETFL);
			fcntl(log, F_SETFL, fl | O_NONBLOCK);
			queue_read(&q, log);
			close(log);
			log = -1;
		}
	}
	free(q.p);
	return status;
}

static void closing_line(const struct target *tg, const struct tally *t)
{
	unsigned long lost = tally_lost(t);
	/* For the person at the terminal; a loss is told wherever stderr
	 * goes. */
	if (!lost && (!t->records || !isatty(STDERR_FILENO)))
		return;
	fprintf(stderr, "authtap: %lu record%s %s %s", t->records, t->records == 1 ? "" : "s",
	        tg->fd >= 0 ? "on" : "in", tg->name);
	if (lost)
		fprintf(stderr, "; %lu lost (the log could not take them)", lost);
	fputc('\n', stderr);
}

/* Ends as COMMAND ended: its exit code, or its killing signal. */
static int exit_like(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		struct rlimit none = {0, 0};
		setrlimit(RLIMIT_CORE, &none);
		signal(sig, SIG_DFL);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		fflush(NULL);
		raise(sig);
		return 128 + sig;
	}
	return 1;
}

int main(int argc, char **argv)
{
	const char *out = NULL, *format = NULL, *status = NULL, *color = "auto";
	bool full_url = false, raw = false, quiet = false;
	int i = 1;

	/* Options end at the first word that is not one, so that
	 * `authtap curl -s URL` hands -s to curl. */
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(a, "--version") == 0) {
			printf("authtap %s\n", AUTHTAP_VERSION);
			return 0;
		} else if (strcmp(a, "--full-url") == 0) {
			full_url = true;
		} else if (strcmp(a, "--raw") == 0) {
			raw = true;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			quiet = true;
		} else if (strcmp(a, "--color") == 0) {
			color = "always";
		} else if (strncmp(a, "--color=", 8) == 0) {
			color = a + 8;
			if (strcmp(color, "auto") != 0 && strcmp(color, "always") != 0 &&
			    strcmp(color, "never") != 0)
				die(2, "--color takes auto, always or never, not '%s'", color);
		} else if (strcmp(a, "-o") == 0 || strcmp(a, "-f") == 0 || strcmp(a, "-s") == 0) {
			if (i + 1 >= argc)
				die(2, "%s needs a value (see authtap --help)", a);
			const char *v = argv[++i];
			if (a[1] == 'o')
				out = v;
			else if (a[1] == 'f')
				format = v;
			else
				status = v;
		} else if (a[0] == '-' && a[1] != '\0') {
			die(2, "unknown option %s (see authtap --help)", a);
		} else {
			break;
		}
	}
	if (i >= argc) {
		fputs(usage, stderr);
		return 2;
	}

	/* An option wins; a variable already set is used, and checked, as
	 * if it had been given as the option. */
	bool format_opt = format != NULL, status_opt = status != NULL;
	out = or_env(out, "AUTHTAP_LOG");
	format = or_env(format, "AUTHTAP_FORMAT");
	status = or_env(status, "AUTHTAP_STATUS");
	if (!out)
		out = "stderr";
	if (out[0] == '\0')
		die(2, "-o needs a path");

	struct target tg = {0};
	target_check(&tg, out);
	if (format && strcasecmp(format, "json") != 0 && strcasecmp(format, "text") != 0)
		die(2,
		    format_opt ? "-f takes json or text, not '%s'"
		               : "AUTHTAP_FORMAT takes json or text, not '%s'",
		    format);
	if (!format)
		format = tg.fd == STDERR_FILENO ? "text" : "json";
	if (status && !status_valid(status))
		die(2,
		    status_opt ? "-s takes statuses from 100 to 599 or any, e.g. 401,407; not '%s'"
		               : "AUTHTAP_STATUS takes statuses from 100 to 599 or any, e.g. "
		                 "401,407; not '%s'",
		    status);
	const char *url = getenv("AUTHTAP_URL");
	if (!full_url && url && *url && strcasecmp(url, "full") != 0 &&
	    strcasecmp(url, "redacted") != 0)
		die(2, "AUTHTAP_URL takes full or redacted, not '%s'", url);

	const char *lib = library_path();
	if (strpbrk(lib, ": \t"))
		die(2, "refusing the library path %s: LD_PRELOAD cannot hold ':' or spaces", lib);
	if (access(lib, R_OK) != 0)
		die(2, "cannot find the library %s", lib);

	const char *old = getenv("LD_PRELOAD");
	char *preload;
	if (asprintf(&preload, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "") < 0)
		die(2, "out of memory");
	set("LD_PRELOAD", preload);

	/* Colour is decided here: the preload writes into a pipe. */
	bool colored = false;
	if (strcasecmp(format, "text") == 0 && tg.fd >= 0) {
		const char *no = getenv("NO_COLOR");
		if (strcmp(color, "always") == 0)
			colored = true;
		else if (strcmp(color, "auto") == 0)
			colored = isatty(tg.fd) && !(no && *no);
	} else if (strcmp(color, "always") == 0) {
		colored = true;
	}
	set("AUTHTAP_COLOR", colored ? "always" : "never");
	set("AUTHTAP_FORMAT", format);
	if (status)
		set("AUTHTAP_STATUS", status);
	if (full_url)
		set("AUTHTAP_URL", "full");
	if (raw)
		set("AUTHTAP_RAW", "1");

	/* A stream gets COMMAND's records through our pipe, blocking on its
	 * side: we never stop reading it. */
	int log = -1, log_w = -1;
	if (tg.fd >= 0) {
		int p[2];
		if (pipe2(p, O_CLOEXEC) != 0)
			die(2, "cannot make a pipe: %s", strerror(errno));
		log_w = fcntl(p[1], F_DUPFD, 3); /* inherited by COMMAND */
		if (log_w < 0)
			die(2, "cannot make a pipe: %s", strerror(errno));
		close(p[1]);
		fcntl(log_w, F_SETPIPE_SZ, 1 << 20);
		log = fcntl(p[0], F_DUPFD_CLOEXEC, 3);
		if (log < 0)
			die(2, "cannot make a pipe: %s", strerror(errno));
		close(p[0]);
		fcntl(log, F_SETFL, O_NONBLOCK);
		char name[32];
		snprintf(name, sizeof(name), "/dev/fd/%d", log_w);
		set("AUTHTAP_LOG", name);
	} else {
		set("AUTHTAP_LOG", tg.path);
	}

	sigset_t mask, old_mask;
	sigemptyset(&mask);
	for (size_t k = 0; k < sizeof(forwarded) / sizeof(forwarded[0]); k++)
		sigaddset(&mask, forwarded[k]);
	sigprocmask(SIG_BLOCK, &mask, &old_mask);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sfd < 0)
		die(2, "signalfd: %s", strerror(errno));

	fflush(NULL);
	pid_t child = fork();
	if (child < 0)
		die(2, "cannot fork: %s", strerror(errno));
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &old_mask, NULL);
		execvp(argv[i], argv + i);
		int err = errno;
		fprintf(stderr, "authtap: %s: %s\n", argv[i], strerror(err));
		_exit(err == ENOENT ? 127 : 126);
	}
	if (log_w >= 0)
		close(log_w);

	struct tally t = {0};
	int st = supervise(child, sfd, log, &tg, &t);
	if (tg.fd < 0)
		tally_file(&t, &tg);
	if (!quiet &&
	    !(WIFEXITED(st) && (WEXITSTATUS(st) == 127 || WEXITSTATUS(st) == 126) && !t.records))
		closing_line(&tg, &t);
	return exit_like(st);
}
