/* Many threads at once through the preload: transfers, queries and
 * cleanups, with the log on.  Made for a ThreadSanitizer build (see
 * tests/sanitize.sh), where any data race in the preload is a report; in
 * other builds it is a quick concurrency test.
 *
 *   LD_PRELOAD=libauthtap.so AUTHTAP_LOG=/tmp/s-%p.log stress HTTPD [options]
 *
 * It starts HTTPD (tests/httpd) itself, then runs until --seconds or
 * --transfers per thread, whichever comes first:
 *
 *   - workers: one easy handle each, reused for a few transfers over the
 *     routes below, then cleaned up; after each transfer they check what
 *     the query API says about their own handle, sometimes forget it, and
 *     publish the handle for the readers;
 *   - a multi worker: a few handles driven by curl_multi_perform;
 *   - readers: every query of the API on the handles the others publish,
 *     which may be cleaned up at that very moment;
 *   - a forker: forks --forks times while all that runs; the child queries
 *     the API and, with a "%p" log, makes a transfer that must land in a
 *     log of its own: no lock may stay held by a thread the fork left.
 *
 * At the end the log (AUTHTAP_LOG, "%p" being the pid) must hold exactly
 * one whole line per recorded transfer.  Exit status 0 when every check
 * held, 1 otherwise, 2 on a usage error. */
#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "authtap.h"

#define STRESS_MAX_THREADS 64
#define STRESS_MULTI_HANDLES 4

struct route {
	const char *path;
	bool follow, digest;
	long status;        /* what the table keeps for the handle; 0: nothing */
	size_t count;       /* challenge header values */
	size_t challenges;  /* challenges in them */
	const char *scheme; /* with param/value: one param to check */
	const char *param, *value;
	int records; /* log lines one transfer writes */
};

static const struct route routes[] = {
    {"/401", false, false, 401, 1, 1, "Bearer", "realm", "mcp", 1},
    {"/200", false, false, 0, 0, 0, NULL, NULL, NULL, 0},
    {"/401-many", false, false, 401, 3, 3, "Basic", "realm", "a, b", 1},
    {"/403-scope", false, false, 403, 1, 1, NULL, "scope", "mcp:tools mcp:admin", 1},
    {"/401-none", false, false, 401, 0, 0, NULL, NULL, NULL, 1},
    {"/redirect-401", true, false, 401, 1, 1, "Bearer", "scope", "mcp:tools", 1},
    {"/redirect-200", true, false, 0, 0, 0, NULL, NULL, NULL, 0},
    {"/digest", false, true, 0, 0, 0, NULL, NULL, NULL, 1},
    {"/hostile?size=3000&count=4", false, false, 401, 4, 4, "Bearer", "realm", NULL, 1},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static struct {
	long threads, readers, seconds, transfers, forks;
} opt = {8, 2, 10, 200, 3};

static int port;
static struct timespec deadline;
static atomic_bool done;
static atomic_long failures, records_expected, transfers_done, queries_done, forks_done;
/* Handles the workers publish for the readers; may be stale. */
static _Atomic(CURL *) published[STRESS_MAX_THREADS + STRESS_MULTI_HANDLES];

#define FAIL(...)                                                                                  \
	do {                                                                                       \
		fprintf(stderr, "stress: " __VA_ARGS__);                                           \
		fputc('\n', stderr);                                                               \
		atomic_fetch_add(&failures, 1);                                                    \
	} while (0)

static bool past_deadline(void)
{
	struct timespec now;

	if (atomic_load(&done))
		return true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec > deadline.tv_sec ||
	       (now.tv_sec == deadline.tv_sec && now.tv_nsec >= deadline.tv_nsec);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static void setup(CURL *h, const struct route *r)
{
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, r->path);
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, r->follow ? 1L : 0L);
	if (r->digest) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_DIGEST);
		curl_easy_setopt(h, CURLOPT_USERPWD, "user:pass");
	}
}

/* What the API says about h right after its transfer on r. */
static void check_answers(CURL *h, const struct route *r, const char *who)
{
	char buf[512];
	long status = authtap_status(h);

	if (status != r->status) {
		FAIL("%s %s: status %ld, want %ld", who, r->path, status, r->status);
		return;
	}
	if (authtap_count(h) != r->count)
		FAIL("%s %s: count %zu, want %zu", who, r->path, authtap_count(h), r->count);
	if (authtap_challenges(h) != r->challenges)
		FAIL("%s %s: challenges %zu, want %zu", who, r->path, authtap_challenges(h),
		     r->challenges);
	for (size_t i = 0; i < r->count; i++) {
		if (authtap_name(h, i, buf, sizeof(buf)) != (int)strlen("WWW-Authenticate") ||
		    strcmp(buf, "WWW-Authenticate") != 0)
			FAIL("%s %s: name %zu is %s", who, r->path, i, buf);
		if (authtap_value(h, i, buf, sizeof(buf)) <= 0)
			FAIL("%s %s: no value %zu", who, r->path, i);
	}
	if (r->param) {
		int n = authtap_param(h, r->scheme, r->param, buf, sizeof(buf));
		if (n < 0 || (r->value && strcmp(buf, r->value) != 0))
			FAIL("%s %s: %s is %s", who, r->path, r->param, n < 0 ? "missing" : buf);
	}
}

static void *worker(void *arg)
{
	long id = (long)arg;
	CURL *h = NULL;
	char who[32];

	snprintf(who, sizeof(who), "worker %ld", id);
	for (long i = 0; i < opt.transfers && !past_deadline(); i++) {
		const struct route *r = &routes[(size_t)(id * 7 + i) % NROUTES];

		if (!h && !(h = curl_easy_init())) {
			FAIL("%s: curl_easy_init failed", who);
			break;
		}
		setup(h, r);
		CURLcode rc = curl_easy_perform(h);
		atomic_fetch_add(&transfers_done, 1);
		if (rc != CURLE_OK) {
			FAIL("%s %s: %s", who, r->path, curl_easy_strerror(rc));
			continue;
		}
		atomic_fetch_add(&records_expected, r->records);
		check_answers(h, r, who);
		const CURL *last = authtap_last();
		if (last != (r->status ? h : NULL))
			FAIL("%s %s: authtap_last() is %p, not %p", who, r->path,
			     (const void *)last, r->status ? (void *)h : NULL);
		atomic_store(&published[id], h);
		if (i % 5 == 4) {
			authtap_forget(h);
			if (authtap_status(h) || authtap_count(h) || authtap_last())
				FAIL("%s %s: still answers after authtap_forget", who, r->path);
		}
		if (i % 3 == 2) {
			curl_easy_cleanup(h);
			h = NULL;
		}
	}
	curl_easy_cleanup(h);
	return NULL;
}

/* A few handles at once through the multi interface, each recorded when
 * its CURLMSG_DONE is read. */
static void *multi_worker(void *arg)
{
	(void)arg;
	CURLM *m = curl_multi_init();

	if (!m) {
		FAIL("multi: curl_multi_init failed");
		return NULL;
	}
	for (long round = 0; round < opt.transfers / STRESS_MULTI_HANDLES && !past_deadline();
	     round++) {
		CURL *hs[STRESS_MULTI_HANDLES];
		const struct route *rs[STRESS_MULTI_HANDLES];

		for (int k = 0; k < STRESS_MULTI_HANDLES; k++) {
			rs[k] = &routes[(size_t)(round + k) % 3];
			hs[k] = curl_easy_init();
			if (!hs[k]) {
				FAIL("multi: curl_easy_init failed");
				goto out;
			}
			setup(hs[k], rs[k]);
			curl_multi_add_handle(m, hs[k]);
		}
		int running = 1;
		while (running) {
			if (curl_multi_perform(m, &running) != CURLM_OK) {
				FAIL("multi: curl_multi_perform failed");
				break;
			}
			if (running)
				curl_multi_poll(m, NULL, 0, 1000, NULL);
		}
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(m, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			for (int k = 0; k < STRESS_MULTI_HANDLES; k++) {
				if (msg->easy_handle != hs[k])
					continue;
				atomic_fetch_add(&transfers_done, 1);
				if (msg->data.result != CURLE_OK) {
					FAIL("multi %s: %s", rs[k]->path,
					     curl_easy_strerror(msg->data.result));
					break;
				}
				atomic_fetch_add(&records_expected, rs[k]->records);
				check_answers(hs[k], rs[k], "multi");
				atomic_store(&published[opt.threads + k], hs[k]);
			}
		}
		for (int k = 0; k < STRESS_MULTI_HANDLES; k++) {
			curl_multi_remove_handle(m, hs[k]);
			curl_easy_cleanup(hs[k]);
		}
	}
out:
	curl_multi_cleanup(m);
	return NULL;
}

/* Every query, with buffers of every interesting size, on handles that
 * may be cleaned up meanwhile: answers may be anything, but must be safe
 * and self-consistent (a copy never longer than its buffer). */
static void *reader(void *arg)
{
	(void)arg;
	char buf[64];
	size_t slots = (size_t)opt.threads + STRESS_MULTI_HANDLES;

	while (!atomic_load(&done)) {
		for (size_t s = 0; s < slots; s++) {
			CURL *h = atomic_load(&published[s]);
			if (!h)
				continue;
			(void)authtap_status(h);
			size_t n = authtap_count(h);
			for (size_t i = 0; i <= n; i++) {
				int len = authtap_value(h, i, buf, sizeof(buf));
				if (len >= 0 &&
				    strlen(buf) !=
				        ((size_t)len < sizeof(buf) ? (size_t)len : sizeof(buf) - 1))
					FAIL("reader: value %zu is %zu bytes, said %d", i,
					     strlen(buf), len);
				(void)authtap_name(h, i, buf, 1);
				(void)authtap_value(h, i, NULL, 0);
			}
			size_t c = authtap_challenges(h);
			for (size_t i = 0; i <= c; i++)
				(void)authtap_scheme(h, i, buf, sizeof(buf));
			(void)authtap_param(h, NULL, "realm", buf, sizeof(buf));
			(void)authtap_param(h, "bearer", "scope", buf, 3);
			(void)authtap_last();
			atomic_fetch_add(&queries_done, 1);
		}
	}
	return NULL;
}

static char *log_path(long pid);

/* The records in a log: its lines but a text record's indented ones. */
static long file_records(const char *path)
{
	FILE *f = fopen(path, "r");
	long n = 0;
	int c, prev = '\n';

	if (!f)
		return -1;
	while ((c = getc(f)) != EOF) {
		n += prev == '\n' && c != ' ';
		prev = c;
	}
	fclose(f);
	return n;
}

/* In the child of a fork taken while other threads hold the preload's
 * locks: the API must answer, and with a "%p" log (which the child gets
 * its own of) a transfer must be recorded there.  Exits 0 when so. */
static void child_after_fork(CURL *published_handle)
{
	char buf[64];
	const char *log_var = getenv("AUTHTAP_LOG");

	(void)authtap_status(published_handle);
	(void)authtap_param(published_handle, NULL, "realm", buf, sizeof(buf));
	(void)authtap_last();
	authtap_forget(published_handle);
	if (!log_var || !strstr(log_var, "%p"))
		_exit(0);

	char *log = log_path((long)getpid());
	CURL *h = curl_easy_init();
	if (!log || !h)
		_exit(3);
	setup(h, &routes[0]);
	CURLcode rc = curl_easy_perform(h);
	long status = authtap_status(h);
	curl_easy_cleanup(h);
	long records = file_records(log);
	unlink(log);
	_exit(rc == CURLE_OK && status == 401 && records == 1 ? 0 : 3);
}

/* Forks --forks times while the others run; a child that hangs (a lock
 * the fork left held) is killed and counted. */
static void *forker(void *arg)
{
	(void)arg;
	size_t slots = (size_t)opt.threads + STRESS_MULTI_HANDLES;

	/* A few times only: under TSan a fork takes about a second. */
	for (long round = 0; round < opt.forks && !atomic_load(&done); round++) {
		CURL *h = atomic_load(&published[(size_t)round % slots]);
		pid_t pid = fork();
		if (pid < 0) {
			FAIL("fork: %s", strerror(errno));
			return NULL;
		}
		if (pid == 0)
			child_after_fork(h);
		atomic_fetch_add(&forks_done, 1);
		int status = 0, waited = 0;
		while (waitpid(pid, &status, WNOHANG) == 0) {
			if (++waited > 10000) {
				FAIL("a child forked during transfers hung (pid %ld)", (long)pid);
				kill(pid, SIGKILL);
				waitpid(pid, &status, 0);
				break;
			}
			usleep(1000);
		}
		if (waited <= 10000 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			FAIL("a child forked during transfers failed (status %#x)", status);
		usleep(200000);
	}
	return NULL;
}

/* Starts the server with no preload of its own; returns its pid. */
static pid_t start_httpd(const char *path, int *stdin_fd)
{
	int in[2], out[2];
	char line[32] = {0};
	size_t n = 0;

	if (pipe(in) || pipe(out))
		return -1;
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		unsetenv("LD_PRELOAD");
		execl(path, path, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*stdin_fd = in[1];
	struct pollfd p = {.fd = out[0], .events = POLLIN};
	while (n < sizeof(line) - 1 && !memchr(line, '\n', n)) {
		ssize_t k;
		if (poll(&p, 1, 10000) != 1 ||
		    (k = read(out[0], line + n, sizeof(line) - 1 - n)) <= 0)
			break;
		n += (size_t)k;
	}
	close(out[0]);
	port = atoi(line);
	return pid;
}

/* AUTHTAP_LOG with "%p" made pid, as the preload does; NULL for stderr. */
static char *log_path(long pid)
{
	const char *v = getenv("AUTHTAP_LOG");
	char *out;

	if (!v || !*v || strcmp(v, "stderr") == 0)
		return NULL;
	size_t cap = strlen(v) * 8 + 32, n = 0;
	if (!(out = malloc(cap)))
		return NULL;
	for (const char *p = v; *p; p++) {
		if (p[0] == '%' && p[1] == 'p') {
			n += (size_t)snprintf(out + n, cap - n, "%ld", pid);
			p++;
		} else {
			out[n++] = *p;
		}
	}
	out[n] = '\0';
	return out;
}

/* One whole record per line (in text, a first line and the challenges'
 * lines indented by two spaces), as many records as recorded transfers. */
static void check_log(const char *path)
{
	const char *fmt = getenv("AUTHTAP_FORMAT");
	bool text = fmt && strcmp(fmt, "text") == 0;
	char prefix[32];
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	long lines = 0, records = 0;

	if (!f) {
		FAIL("cannot read the log %s: %s", path, strerror(errno));
		return;
	}
	snprintf(prefix, sizeof(prefix), text ? "authtap[%ld] " : "{\"v\":1,", (long)getpid());
	while ((len = getline(&line, &cap, f)) > 0) {
		lines++;
		bool more = text && records > 0 && strncmp(line, "  ", 2) == 0;
		bool whole = line[len - 1] == '\n' &&
		             (more || strncmp(line, prefix, strlen(prefix)) == 0) &&
		             (text || (len >= 3 && strcmp(line + len - 3, "]}\n") == 0)) &&
		             strstr(line + 1, text ? "authtap[" : "{\"v\":1,") == NULL;
		if (!whole)
			FAIL("log line %ld is not one whole record: %.200s", lines, line);
		if (!more)
			records++;
	}
	free(line);
	fclose(f);
	if (records != atomic_load(&records_expected))
		FAIL("the log has %ld records, want %ld", records, atomic_load(&records_expected));
}

static long number(const char *s, long min, long max)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*end || v < min || v > max) {
		fprintf(stderr, "stress: bad number %s\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	pthread_t tids[2 * STRESS_MAX_THREADS + 2];
	size_t ntids = 0;
	int httpd_in;

	if (argc < 2) {
		fprintf(stderr, "usage: stress HTTPD [--threads N] [--readers N] [--seconds N] "
		                "[--transfers N] [--forks N]\n");
		return 2;
	}
	for (int i = 2; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--threads") == 0)
			opt.threads = number(argv[i + 1], 1, STRESS_MAX_THREADS);
		else if (strcmp(argv[i], "--readers") == 0)
			opt.readers = number(argv[i + 1], 0, STRESS_MAX_THREADS);
		else if (strcmp(argv[i], "--seconds") == 0)
			opt.seconds = number(argv[i + 1], 1, 3600);
		else if (strcmp(argv[i], "--transfers") == 0)
			opt.transfers = number(argv[i + 1], 1, 1000000);
		else if (strcmp(argv[i], "--forks") == 0)
			opt.forks = number(argv[i + 1], 0, 1000);
		else {
			fprintf(stderr, "stress: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (!authtap_active()) {
		fprintf(stderr, "stress: run me under the preload (LD_PRELOAD=libauthtap.so)\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	pid_t httpd = start_httpd(argv[1], &httpd_in);
	if (httpd < 0 || port <= 0) {
		fprintf(stderr, "stress: %s did not start\n", argv[1]);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += opt.seconds;

	for (long i = 0; i < opt.threads; i++)
		if (pthread_create(&tids[ntids], NULL, worker, (void *)i) == 0)
			ntids++;
	if (pthread_create(&tids[ntids], NULL, multi_worker, NULL) == 0)
		ntids++;
	size_t nworkers = ntids;
	for (long i = 0; i < opt.readers; i++)
		if (pthread_create(&tids[ntids], NULL, reader, NULL) == 0)
			ntids++;
	if (pthread_create(&tids[ntids], NULL, forker, NULL) == 0)
		ntids++;
	if (ntids != (size_t)(opt.threads + 2 + opt.readers))
		FAIL("could not start every thread");
	for (size_t i = 0; i < nworkers; i++)
		pthread_join(tids[i], NULL);
	atomic_store(&done, true);
	for (size_t i = nworkers; i < ntids; i++)
		pthread_join(tids[i], NULL);
	curl_global_cleanup();

	close(httpd_in);
	kill(httpd, SIGTERM);
	waitpid(httpd, NULL, 0);

	char *log = log_path((long)getpid());
	if (log) {
		check_log(log);
		if (!atomic_load(&failures))
			unlink(log);
		free(log);
	}
	printf("stress: %ld transfers, %ld queries, %ld records, %ld forks, %ld failures\n",
	       atomic_load(&transfers_done), atomic_load(&queries_done),
	       atomic_load(&records_expected), atomic_load(&forks_done), atomic_load(&failures));
	return atomic_load(&failures) ? 1 : 0;
}
