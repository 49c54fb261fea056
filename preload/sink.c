/* Where records go: a file, or the host's stderr.  A record is one write(2);
 * a sink that fails, would block, or is no longer the file it was is given up
 * with one warning.  Nothing here may raise SIGPIPE, block, or leave errno
 * changed in the host. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"

enum sink_kind {
	SINK_REGULAR, /* never blocks, never raises SIGPIPE */
	SINK_STREAM,  /* pipe, FIFO or terminal, opened non-blocking */
	SINK_SOCKET,  /* send() with MSG_DONTWAIT | MSG_NOSIGNAL */
};

struct sink {
	int fd;
	enum sink_kind kind;
	dev_t dev;
	ino_t ino;
	bool check_stderr; /* the sink is stderr: fd 2 must stay what it was */
	size_t atomic_max; /* the largest record one write keeps whole */
};

static const struct config *log_cfg;
static struct sink log_sink = {.fd = -1};

/* A log file's descriptor is checked (fstat: is it still the file it was
 * opened as?) before the first record after the program closed or
 * replaced that number through libc, which the hooks report, and at least
 * every LOG_CHECK_MS otherwise, for closes that bypass libc (a raw
 * system call).  A check per record would cost as much again as the
 * record's write.  stderr is checked before every record: libc itself
 * replaces it (daemon, freopen) without passing through the hooks. */
#define LOG_CHECK_MS 100
static atomic_int log_guard_fd = -1; /* the number to watch; -1: none */
static atomic_bool log_suspect;
static atomic_llong log_checked_ms; /* when the last check passed */
static atomic_bool log_live;
/* After fork, a "%p" log is opened anew for the child, at its first
 * record. */
static atomic_bool log_reopen;
static pthread_mutex_t log_reopen_lock = PTHREAD_MUTEX_INITIALIZER;

/* Each record names its process and thread; asking the kernel every time
 * costs as much as the write.  Both are refreshed in a forked child. */
static atomic_long log_pid;
static __thread __attribute__((tls_model("initial-exec"))) long log_tid;

static bool sink_identity(int fd, dev_t dev, ino_t ino)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* Writes all of data or fails; SIGPIPE stays away from the host even when
 * the reader of a pipe has gone. */
static int sink_write(const struct sink *s, int fd, const char *data, size_t len)
{
	sigset_t pipe_set, old, pending;
	bool guard = s->kind == SINK_STREAM;
	bool was_pending = false;
	int rc = 0;

	if (guard) {
		sigemptyset(&pipe_set);
		sigaddset(&pipe_set, SIGPIPE);
		if (sigpending(&pending) == 0)
			was_pending = sigismember(&pending, SIGPIPE);
		pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	}
	while (len) {
		ssize_t n;
		if (s->kind == SINK_SOCKET)
			n = send(fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		else
			n = write(fd, data, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = n < 0 ? errno : EIO;
			break;
		}
		data += n;
		len -= (size_t)n;
	}
	if (guard) {
		if (rc == EPIPE && !was_pending) {
			struct timespec zero = {0, 0};
			while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR)
				;
		}
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return rc;
}

static void sink_describe(struct sink *s, int fd)
{
	struct stat st;

	s->fd = fd;
	s->kind = SINK_REGULAR;
	s->atomic_max = 0;
	if (fstat(fd, &st) != 0)
		return;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	if (S_ISSOCK(st.st_mode)) {
		s->kind = SINK_SOCKET;
		s->atomic_max = PIPE_BUF;
	} else if (!S_ISREG(st.st_mode)) {
		s->kind = SINK_STREAM;
		s->atomic_max = PIPE_BUF;
	}
}

void log_warn(const char *msg)
{
	int saved = errno;
	char line[512];
	struct sink s;

	int n = snprintf(line, sizeof(line), AUTHTAP_PREFIX "%s\n", msg);
	if (n > 0) {
		sink_describe(&s, STDERR_FILENO);
		/* A full pipe on stderr must not stall the host for a warning. */
		struct pollfd p = {.fd = STDERR_FILENO, .events = POLLOUT};
		if (s.kind == SINK_REGULAR || poll(&p, 1, 0) == 1)
			sink_write(&s, STDERR_FILENO,
				   line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	}
	errno = saved;
}

/* "%p" becomes the pid, so that each process of a tree gets its own file. */
static char *expand_path(const char *path)
{
	char pid[24];
	size_t n = 0, plen = (size_t)snprintf(pid, sizeof(pid), "%ld", (long)getpid());

	for (const char *p = path; *p; p++)
		n += (p[0] == '%' && p[1] == 'p') ? (p++, plen) : 1;
	char *out = malloc(n + 1), *o = out;
	if (!out)
		return NULL;
	for (const char *p = path; *p; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			memcpy(o, pid, plen);
			o += plen;
			p++;
		} else {
			*o++ = *p;
		}
	}
	*o = '\0';
	return out;
}

static void sink_fail(const char *what, const char *path, int err)
{
	char msg[400];

	snprintf(msg, sizeof(msg), "%s %.300s: %s; logging is off", what, path, strerror(err));
	log_warn(msg);
}

static bool open_file_sink(const char *pattern)
{
	char *path = expand_path(pattern);
	if (!path)
		return false;
	/* O_NOFOLLOW refuses a symlink planted where the log should be;
	 * O_NONBLOCK keeps a FIFO without a reader from stalling us. */
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY |
				    O_NONBLOCK, 0600);
	if (fd < 0) {
		sink_fail(errno == ELOOP ? "refusing the symlink" : "cannot open log",
			  path, errno == ELOOP ? EPERM : errno);
		free(path);
		return false;
	}
	free(path);
	/* Never on 0, 1 or 2 (a program started with them closed): daemon()
	 * replaces those without passing through the hooks. */
	if (fd <= STDERR_FILENO) {
		int high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
		if (high >= 0) {
			close(fd);
			fd = high;
		}
	}
	sink_describe(&log_sink, fd);
	log_sink.check_stderr = false;
	atomic_store(&log_suspect, false);
	atomic_store(&log_checked_ms, 0);
	atomic_store(&log_guard_fd, fd);
	return true;
}

/* Records to stderr go through a description of our own where we can get
 * one, so that non-blocking mode never touches the host's fd 2. */
static bool open_stderr_sink(void)
{
	struct sink s;

	sink_describe(&s, STDERR_FILENO);
	if (fcntl(STDERR_FILENO, F_GETFD) < 0)
		return false;
	log_sink = s;
	log_sink.check_stderr = true;
	if (s.kind == SINK_STREAM) {
		int fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY |
							 O_NONBLOCK);
		if (fd >= 0 && sink_identity(fd, s.dev, s.ino))
			log_sink.fd = fd;
		else if (fd >= 0)
			close(fd);
	}
	return true;
}

/* An inherited descriptor (AUTHTAP_LOG=/dev/fd/N): written through a
 * close-on-exec duplicate, so that the program may close or reuse N, in the
 * mode it was given.  The launcher's pipe is blocking because its reader
 * never stops; give a non-blocking one to have records dropped instead. */
static bool open_fd_sink(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY) {
		char name[32];
		snprintf(name, sizeof(name), "/dev/fd/%d", fd);
		sink_fail("cannot write to log", name, fl < 0 ? errno : EBADF);
		return false;
	}
	int own = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	if (own < 0)
		return false;
	sink_describe(&log_sink, own);
	log_sink.check_stderr = false;
	atomic_store(&log_suspect, false);
	atomic_store(&log_checked_ms, 0);
	atomic_store(&log_guard_fd, own);
	return true;
}

void log_open(const struct config *cfg)
{
	int saved = errno;
	bool ok = false;

	log_cfg = cfg;
	/* Opened at start, so that a bad path is reported at once. */
	if (cfg->sink == CONFIG_SINK_FILE) {
		ok = open_file_sink(cfg->path);
	} else if (cfg->sink == CONFIG_SINK_STDERR) {
		ok = open_stderr_sink();
	} else if (cfg->sink == CONFIG_SINK_FD) {
		ok = open_fd_sink(cfg->fd);
	}
	atomic_store(&log_live, ok);
	errno = saved;
}

int log_enabled(void)
{
	return atomic_load_explicit(&log_live, memory_order_relaxed);
}

void log_atfork_prepare(void)
{
	pthread_mutex_lock(&log_reopen_lock);
}

void log_atfork_parent(void)
{
	pthread_mutex_unlock(&log_reopen_lock);
}

void log_atfork_child(void)
{
	pthread_mutex_unlock(&log_reopen_lock);
	atomic_store_explicit(&log_pid, 0, memory_order_relaxed);
	log_tid = 0;
	if (log_cfg && log_cfg->sink == CONFIG_SINK_FILE && strstr(log_cfg->path, "%p"))
		atomic_store(&log_reopen, true);
}

static void give_up(const char *why)
{
	bool was = atomic_exchange(&log_live, false);
	if (was)
		log_warn(why);
}

/* The flag is cleared only once the sink is whole: a thread that sees it
 * clear may use the sink at once. */
static void open_pending(void)
{
	pthread_mutex_lock(&log_reopen_lock);
	if (atomic_load_explicit(&log_reopen, memory_order_acquire)) {
		if (log_sink.fd >= 0 && !log_sink.check_stderr)
			close(log_sink.fd);
		log_sink.fd = -1;
		if (!open_file_sink(log_cfg->path))
			atomic_store(&log_live, false);
		atomic_store_explicit(&log_reopen, false, memory_order_release);
	}
	pthread_mutex_unlock(&log_reopen_lock);
}

static void format(struct buf *b, const struct record *r, const struct log_meta *m)
{
	b->len = 0;
	if (log_cfg->format == CONFIG_FORMAT_TEXT)
		log_format_text(b, r, m);
	else
		log_format_json(b, r, m);
}

/* Whether a record can be written now, and what every record says of
 * when and where it was made. */
static bool begin(struct log_meta *m)
{
	if (!log_enabled())
		return false;
	if (atomic_load_explicit(&log_reopen, memory_order_acquire))
		open_pending();
	if (!log_enabled())
		return false;
	memset(m, 0, sizeof(*m));
	clock_gettime(CLOCK_REALTIME, &m->ts);
	m->pid = atomic_load_explicit(&log_pid, memory_order_relaxed);
	if (!m->pid) {
		m->pid = (long)getpid();
		atomic_store_explicit(&log_pid, m->pid, memory_order_relaxed);
	}
	if (!log_tid)
		log_tid = (long)syscall(SYS_gettid);
	m->tid = log_tid;
	return true;
}

void log_fds_closing(unsigned first, unsigned last)
{
	int fd = atomic_load_explicit(&log_guard_fd, memory_order_relaxed);

	if (fd >= 0 && (unsigned)fd >= first && (unsigned)fd <= last)
		atomic_store(&log_suspect, true);
}

/* Whether the sink's descriptor is surely still what it was opened as. */
static bool sink_still_ours(const struct timespec *now)
{
	if (log_sink.check_stderr)
		return sink_identity(log_sink.fd, log_sink.dev, log_sink.ino) &&
		       (log_sink.fd == STDERR_FILENO ||
			sink_identity(STDERR_FILENO, log_sink.dev, log_sink.ino));

	long long ms = (long long)now->tv_sec * 1000 + now->tv_nsec / 1000000;
	long long last = atomic_load_explicit(&log_checked_ms, memory_order_relaxed);
	bool due = ms - last >= LOG_CHECK_MS || ms < last;
	bool suspect = atomic_load_explicit(&log_suspect, memory_order_relaxed) &&
		       atomic_exchange(&log_suspect, false);
	if (!suspect && !due)
		return true;
	if (!sink_identity(log_sink.fd, log_sink.dev, log_sink.ino))
		return false;
	atomic_store_explicit(&log_checked_ms, ms, memory_order_relaxed);
	return true;
}

/* One write(2) of a finished record, to the sink it was opened as. */
static void emit(const struct buf *b, const struct log_meta *m)
{
	if (b->failed)
		return;
	if (!sink_still_ours(&m->ts)) {
		give_up("the log is no longer the file it was opened as; logging is off");
		return;
	}
	/* Without a description of our own (no /proc), a stream on fd 2 is
	 * shared with the host: write only when it has room now. */
	struct pollfd room = {.fd = log_sink.fd, .events = POLLOUT};
	int err = 0;
	if (log_sink.kind == SINK_STREAM && log_sink.fd == STDERR_FILENO &&
	    poll(&room, 1, 0) != 1)
		err = EAGAIN;
	else
		err = sink_write(&log_sink, log_sink.fd, b->p, b->len);
	if (err == EAGAIN || err == EWOULDBLOCK)
		give_up("the log would block the program (nobody reads it?); logging is off");
	else if (err) {
		char msg[200];
		snprintf(msg, sizeof(msg), "writing the log failed: %s; logging is off",
			 strerror(err));
		give_up(msg);
	}
}

/* Room for a usual record on the stack, so that writing one costs no
 * malloc; a larger one moves to the heap. */
#define SINK_STACK_RECORD 2048

void log_record(const struct record *r)
{
	int saved = errno;
	struct log_meta m;
	char store[SINK_STACK_RECORD];
	struct buf b;

	buf_init(&b, store, sizeof(store));
	if (!begin(&m))
		goto out;
	format(&b, r, &m);

	/* A pipe or terminal keeps a write whole only up to PIPE_BUF: cut the
	 * values until the record fits. */
	if (log_sink.atomic_max) {
		for (size_t cap = 2048; !b.failed && b.len > log_sink.atomic_max && cap; cap /= 2) {
			m.value_cap = cap;
			format(&b, r, &m);
		}
		if (!b.failed && b.len > log_sink.atomic_max) {
			struct record bare = *r;
			bare.nheaders = 0;
			bare.flags |= RECORD_TRUNCATED;
			format(&b, &bare, &m);
		}
	}
	emit(&b, &m);
out:
	buf_free(&b);
	errno = saved;
}

void log_verdict(const struct verdict *v)
{
	int saved = errno;
	struct log_meta m;
	char store[SINK_STACK_RECORD];
	struct buf b;

	buf_init(&b, store, sizeof(store));
	if (begin(&m)) {
		if (log_cfg->format == CONFIG_FORMAT_TEXT)
			log_format_verdict_text(&b, v, &m);
		else
			log_format_verdict_json(&b, v, &m);
		emit(&b, &m);
	}
	buf_free(&b);
	errno = saved;
}

void log_summary(const struct verdict_summary *s)
{
	int saved = errno;
	struct log_meta m;
	char store[SINK_STACK_RECORD];
	struct buf b;

	buf_init(&b, store, sizeof(store));
	if (begin(&m)) {
		if (log_cfg->format == CONFIG_FORMAT_TEXT)
			log_format_summary_text(&b, s, &m);
		else
			log_format_summary_json(&b, s, &m);
		emit(&b, &m);
	}
	buf_free(&b);
	errno = saved;
}
