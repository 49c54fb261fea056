/* The log file (or stderr): opening it, checking that it is still ours,
 * writing whole records to it.  A record is one write(2), whole or absent:
 * cut to fit a pipe's PIPE_BUF, taken back from a file when only part of it
 * fitted.  A record that cannot be written now (a pipe nobody drains) is
 * counted as lost and the count is written before the next record that
 * goes through, and at exit; a sink that fails otherwise, or is no longer
 * the file it was, is given up with one warning.  Warnings go to fd 2 only
 * while it is the stderr the program started with.  Nothing here may raise
 * SIGPIPE or SIGXFSZ, block, or leave errno changed in the host. */
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "escape.h"
#include "log.h"
#include "verdict_types.h"

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
	bool tty;          /* a terminal: text and JSON escaped for one */
	bool guard_xfsz;   /* a file size limit is set: SIGXFSZ kept away */
	size_t atomic_max; /* the largest record one write keeps whole */
};

static const struct config *log_cfg;
static struct sink log_sink = {.fd = -1};
static char *log_path; /* the file's path as opened, for the exit line */

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

/* Records that could not be written (the sink would have blocked, or was
 * given up on a failed write), not yet reported in the log; and the
 * response records this process wrote, for the exit line. */
static atomic_ulong log_lost;
static atomic_ulong log_lost_total;
static atomic_ulong log_written;

/* What fd 2 was when authtap started: warnings go there only while it
 * still is (a daemon closes 0-2 and a client's socket gets number 2). */
enum { WARN_UNKNOWN, WARN_KNOWN, WARN_NONE };
static atomic_int warn_state;
static dev_t warn_dev;
static ino_t warn_ino;

static bool sink_identity(int fd, dev_t dev, ino_t ino)
{
	struct stat st;

	return fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* Writes all of data or fails: 0, or the errno, with *done the bytes that
 * went out.  SIGPIPE (a pipe whose reader has gone) and SIGXFSZ (a file
 * past RLIMIT_FSIZE) stay away from the host. */
static int sink_write(const struct sink *s, int fd, const char *data, size_t len, size_t *done)
{
	sigset_t set, old, pending;
	bool guard = s->kind == SINK_STREAM || s->guard_xfsz;
	bool pipe_was = false, xfsz_was = false;
	int rc = 0;

	*done = 0;
	if (guard) {
		sigemptyset(&set);
		sigaddset(&set, SIGPIPE);
		sigaddset(&set, SIGXFSZ);
		if (sigpending(&pending) == 0) {
			pipe_was = sigismember(&pending, SIGPIPE);
			xfsz_was = sigismember(&pending, SIGXFSZ);
		}
		pthread_sigmask(SIG_BLOCK, &set, &old);
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
		*done += (size_t)n;
	}
	if (guard) {
		/* Take back only a signal our write raised. */
		sigset_t ours;
		sigemptyset(&ours);
		if (rc == EPIPE && !pipe_was)
			sigaddset(&ours, SIGPIPE);
		if (rc == EFBIG && !xfsz_was)
			sigaddset(&ours, SIGXFSZ);
		struct timespec zero = {0, 0};
		if (sigismember(&ours, SIGPIPE) || sigismember(&ours, SIGXFSZ))
			while (sigtimedwait(&ours, NULL, &zero) > 0 || errno == EINTR)
				;
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
	s->tty = false;
	s->guard_xfsz = false;
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
		s->tty = isatty(fd);
	} else {
		struct rlimit lim;
		s->guard_xfsz = getrlimit(RLIMIT_FSIZE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY;
	}
}

/* fd 2 as authtap first saw it; WARN_NONE when it was not open. */
static void warn_capture(void)
{
	struct stat st;

	if (atomic_load(&warn_state) != WARN_UNKNOWN)
		return;
	if (fstat(STDERR_FILENO, &st) != 0) {
		atomic_store(&warn_state, WARN_NONE);
		return;
	}
	warn_dev = st.st_dev;
	warn_ino = st.st_ino;
	atomic_store(&warn_state, WARN_KNOWN);
}

/* One line to fd 2 if it is still the program's stderr, whole (one write,
 * at most PIPE_BUF bytes) or not at all, never blocking. */
static void warn_line(const char *line, size_t len)
{
	struct sink s;

	warn_capture();
	if (atomic_load(&warn_state) != WARN_KNOWN ||
	    !sink_identity(STDERR_FILENO, warn_dev, warn_ino))
		return;
	sink_describe(&s, STDERR_FILENO);
	/* A full pipe on stderr must not stall the host for a warning. */
	struct pollfd p = {.fd = STDERR_FILENO, .events = POLLOUT};
	size_t done;
	if (s.kind == SINK_REGULAR || poll(&p, 1, 0) == 1)
		sink_write(&s, STDERR_FILENO, line, len, &done);
}

void log_warn(const char *msg)
{
	int saved = errno;
	char store[512];
	struct buf b;

	/* A path or a value in the message may hold any byte. */
	buf_init(&b, store, sizeof(store));
	buf_puts(&b, AUTHTAP_PREFIX);
	escape_text(&b, msg, strnlen(msg, 400));
	buf_putc(&b, '\n');
	if (!buf_failed(&b))
		warn_line(b.p, b.len);
	buf_free(&b);
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
	int fd = open(
	    path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK,
	    0600);
	if (fd < 0) {
		sink_fail(errno == ELOOP ? "refusing the symlink" : "cannot open log", path,
		          errno == ELOOP ? EPERM : errno);
		free(path);
		return false;
	}
	free(log_path);
	log_path = path;
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
		int fd = open("/proc/self/fd/2",
		              O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
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

	warn_capture();
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
	atomic_store(&log_lost, 0);
	atomic_store(&log_lost_total, 0);
	atomic_store(&log_written, 0);
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
	m->tty = log_sink.tty;
	m->color = log_cfg->color == CONFIG_COLOR_ALWAYS ||
	           (log_cfg->color == CONFIG_COLOR_AUTO && log_sink.tty && !log_cfg->no_color);
	m->raw = log_cfg->raw;
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

/* Room for a usual record on the stack, so that writing one costs no
 * malloc; a larger one moves to the heap. */
#define SINK_STACK_RECORD 2048

/* What one record of any kind is, for fit() to format again and again. */
enum item_kind { ITEM_RESPONSE, ITEM_VERDICT, ITEM_SUMMARY, ITEM_LOST, ITEM_EXIT };

struct item {
	enum item_kind kind;
	const struct record *record;
	const struct verdict *verdict;
	const struct verdict_summary *summary;
	const struct format_exit *exit;
	unsigned long count;
};

static void format_item(struct buf *b, const struct item *it, const struct log_meta *m)
{
	bool text = log_cfg->format == CONFIG_FORMAT_TEXT;

	b->len = 0;
	switch (it->kind) {
	case ITEM_RESPONSE:
		(text ? format_response_text : format_response_json)(b, it->record, m);
		break;
	case ITEM_VERDICT:
		(text ? format_verdict_text : format_verdict_json)(b, it->verdict, m);
		break;
	case ITEM_SUMMARY:
		(text ? format_summary_text : format_summary_json)(b, it->summary, m);
		break;
	case ITEM_LOST:
		(text ? format_lost_text : format_lost_json)(b, it->count,
		                                             atomic_load(&log_lost_total), m);
		break;
	case ITEM_EXIT:
		(text ? format_exit_text : format_exit_json)(b, it->exit, m);
		break;
	}
	if (m->tty && !text)
		escape_json_terminal(b, 0);
}

/* Formats it into b so that one write keeps it whole: a pipe or terminal
 * takes at most PIPE_BUF bytes at once, so values are cut (flagged
 * truncated) until it fits, then the headers are left out; false when even
 * that does not fit (a URL of 5,000 bytes): the record is not written. */
static bool fit(struct buf *b, const struct item *it, struct log_meta *m, size_t max)
{
	format_item(b, it, m);
	if (!max || b->failed || b->len <= max)
		return !b->failed;
	for (size_t cap = 2048; !b->failed && b->len > max && cap; cap /= 2) {
		m->value_cap = cap;
		format_item(b, it, m);
	}
	if (!b->failed && b->len > max) {
		struct record r;
		struct verdict v;
		struct item bare = *it;
		if (it->record) {
			r = *it->record;
			r.nheaders = 0;
			bare.record = &r;
		}
		if (it->verdict) {
			v = *it->verdict;
			v.nheaders = 0;
			bare.verdict = &v;
		}
		m->truncated = true;
		format_item(b, &bare, m);
	}
	return !b->failed && b->len <= max;
}

/* A record that went out in part to a regular file is taken back: the file
 * is cut to where the record began, when nothing was appended after it
 * (another writer's append, which O_APPEND would have put after ours, is
 * never cut).  A position shared with the program is put back too. */
static void take_back(int fd, size_t done)
{
	struct stat st;
	off_t end = lseek(fd, 0, SEEK_CUR);

	if (end < (off_t)done || fstat(fd, &st) != 0 || st.st_size != end)
		return;
	if (ftruncate(fd, end - (off_t)done) != 0)
		return;
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && !(fl & O_APPEND))
		lseek(fd, end - (off_t)done, SEEK_SET);
}

/* One write of a formatted record: 0, or the errno; never a part of it
 * left in a file. */
static int write_whole(const struct buf *b)
{
	/* Without a description of our own (no /proc), a stream on fd 2 is
	 * shared with the host: write only when it has room now. */
	struct pollfd room = {.fd = log_sink.fd, .events = POLLOUT};
	size_t done = 0;
	int err;

	if (log_sink.kind == SINK_STREAM && log_sink.fd == STDERR_FILENO && poll(&room, 1, 0) != 1)
		return EAGAIN;
	err = sink_write(&log_sink, log_sink.fd, b->p, b->len, &done);
	if (err && done && log_sink.kind == SINK_REGULAR)
		take_back(log_sink.fd, done);
	else if (err && done && (err == EAGAIN || err == EWOULDBLOCK))
		err = EPIPE; /* a stream took part of it: it cannot be made whole */
	return err;
}

static void lose(unsigned long n)
{
	atomic_fetch_add(&log_lost, n);
	atomic_fetch_add(&log_lost_total, n);
}

static void failed(int err)
{
	char msg[200];

	if (err == EAGAIN || err == EWOULDBLOCK)
		return; /* counted; logging goes on */
	snprintf(msg, sizeof(msg), "writing the log failed: %s; logging is off", strerror(err));
	give_up(msg);
}

/* The count of records lost since the last report, as a record of its
 * own just before the next one that goes through. */
static bool report_lost(struct log_meta *m)
{
	if (!atomic_load_explicit(&log_lost, memory_order_relaxed))
		return true;
	unsigned long n = atomic_exchange(&log_lost, 0);
	if (!n)
		return true;
	char store[256];
	struct buf b;
	struct log_meta lm = *m;
	struct item it = {.kind = ITEM_LOST, .count = n};
	int err = EIO;

	buf_init(&b, store, sizeof(store));
	lm.value_cap = 0;
	if (fit(&b, &it, &lm, log_sink.atomic_max))
		err = write_whole(&b);
	buf_free(&b);
	if (err) {
		atomic_fetch_add(&log_lost, n);
		failed(err);
		return false;
	}
	return true;
}

/* Formats and writes one record, or counts it lost; true when written. */
static bool emit(const struct item *it, struct log_meta *m)
{
	char store[SINK_STACK_RECORD];
	struct buf b;
	bool ok = false;

	if (!sink_still_ours(&m->ts)) {
		lose(1);
		give_up("the log is no longer the file it was opened as; logging is off");
		return false;
	}
	buf_init(&b, store, sizeof(store));
	if (!fit(&b, it, m, log_sink.atomic_max)) {
		lose(1);
	} else if (report_lost(m)) {
		int err = write_whole(&b);
		if (err) {
			lose(1);
			failed(err);
		} else {
			ok = true;
		}
	} else {
		lose(1);
	}
	buf_free(&b);
	return ok;
}

void log_record(const struct record *r)
{
	int saved = errno;
	struct log_meta m;
	struct item it = {.kind = ITEM_RESPONSE, .record = r};

	if (begin(&m) && emit(&it, &m))
		atomic_fetch_add_explicit(&log_written, 1, memory_order_relaxed);
	errno = saved;
}

void log_verdict(const struct verdict *v)
{
	int saved = errno;
	struct log_meta m;
	struct item it = {.kind = ITEM_VERDICT, .verdict = v};

	if (begin(&m))
		emit(&it, &m);
	errno = saved;
}

void log_summary(const struct verdict_summary *s)
{
	int saved = errno;
	struct log_meta m;
	struct item it = {.kind = ITEM_SUMMARY, .summary = s};

	if (begin(&m))
		emit(&it, &m);
	errno = saved;
}

unsigned long log_lost_count(void)
{
	return atomic_load(&log_lost_total);
}

/* At exit: records lost since the last report are reported in the log, or
 * else in one warning; then, with AUTHTAP_SUMMARY, one line on stderr from
 * a process that logged anything: in the log's format when the log is
 * stderr, else as text. */
void log_finish(void)
{
	int saved = errno;
	struct log_meta m;

	if (!log_cfg || log_cfg->disabled || log_cfg->sink == CONFIG_SINK_NONE)
		goto out;
	if (atomic_load(&log_lost) && begin(&m) && sink_still_ours(&m.ts))
		report_lost(&m);
	unsigned long unreported = atomic_load(&log_lost);
	if (unreported && log_enabled()) {
		char msg[160];
		snprintf(msg, sizeof(msg),
		         "%lu records were lost: the log would have blocked the program "
		         "(nobody reads it?)",
		         unreported);
		log_warn(msg);
	}
	struct format_exit e = {
	    .records = atomic_load(&log_written),
	    .lost = atomic_load(&log_lost_total),
	    .log = log_cfg->sink == CONFIG_SINK_FILE ? log_path : NULL,
	};
	if (!log_cfg->summary || (!e.records && !e.lost))
		goto out;
	struct item it = {.kind = ITEM_EXIT, .exit = &e};
	if (log_cfg->sink == CONFIG_SINK_STDERR && begin(&m)) {
		emit(&it, &m);
		goto out;
	}
	char store[512];
	struct buf b;
	memset(&m, 0, sizeof(m));
	clock_gettime(CLOCK_REALTIME, &m.ts);
	m.pid = (long)getpid();
	buf_init(&b, store, sizeof(store));
	format_exit_text(&b, &e, &m);
	if (!buf_failed(&b) && b.len <= PIPE_BUF)
		warn_line(b.p, b.len);
	buf_free(&b);
out:
	errno = saved;
}

/* After every other destructor of the preload (a plain destructor runs
 * before any with a priority, and 101 is the last of those): the records
 * and verdicts written at exit come before the loss report and the exit
 * line. */
__attribute__((destructor(101))) static void log_at_exit(void)
{
	log_finish();
}
