/* The workload of authtap's benchmark: an unmodified libcurl program.
 *
 *   bench_client -p PORT easy N PATH        N keep-alive transfers, one handle
 *   bench_client -p PORT threads T N PATH   T threads, each N on its own handle
 *   bench_client -p PORT multi H N PATH     N transfers through one multi handle,
 *                                           H of them in flight at any time
 *   bench_client -p PORT handles K M PATH   K live handles that did one transfer
 *                                           each, then M transfers spread over them
 *   bench_client -p PORT probe N PATH       easy, plus the floor's two libcurl
 *                                           calls after each transfer (callgrind)
 *   bench_client write N BYTES FILE         N appends of BYTES bytes, alone
 *
 * With BENCH_TABLED=1, easy first runs one /401 transfer on another handle,
 * which stays alive: under the preload, the table then holds an entry for
 * the rest of the run, as in any program that once met a challenge.
 *
 * With BENCH_APPEND=FILE and BENCH_APPEND_BYTES=N in the environment, easy
 * appends N bytes to FILE (O_APPEND, one write) after each transfer: what
 * the one write(2) of a log record costs in place, among the transfers.
 *
 * It links libcurl and nothing of authtap: run.sh runs it with and without
 * LD_PRELOAD.  Only the measured part is timed (not start-up, the first
 * connection or the handles' creation), and the result is one line:
 *
 *   bench mode=easy path=/200 transfers=20000 elapsed_ns=612345678 ns_per_transfer=30617 ...
 *
 * Under callgrind, --toggle-collect=timed_transfers limits the count to the
 * timed loop of easy and probe (timed_multi, timed_spread: of multi and
 * handles); probe_floor and probe_miss are the cost
 * of reading the status plus asking for a second response, and of a header lookup that misses. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 100
#define THREADS_MAX 256
#define HANDLES_MAX 1000000
#define STRIDE 7919 /* a prime: visits every handle before repeating one */

static char url[256], url401[256];
static const char *path_arg;
static atomic_long sockets_opened;

static void die(const char *msg)
{
	fprintf(stderr, "bench_client: %s\n", msg);
	exit(1);
}

static long arg_long(const char *s, long min, long max)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "bench_client: bad number %s (%ld..%ld)\n", s, min, max);
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

/* User plus system time of the whole process: less disturbed than the
 * wall clock by whatever else the machine runs. */
static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Minor page faults of the process: memory first touched shows up here, and
 * in the system time, not in callgrind's counts. */
static long faults_at_start;

static long minor_faults(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

/* Counts connections, so that the output shows keep-alive held. */
static int count_socket(void *arg, curl_socket_t fd, curlsocktype purpose)
{
	(void)arg;
	(void)fd;
	if (purpose == CURLSOCKTYPE_IPCXN)
		atomic_fetch_add(&sockets_opened, 1);
	return CURL_SOCKOPT_OK;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static CURL *new_handle(void)
{
	CURL *h = curl_easy_init();
	if (!h)
		die("curl_easy_init failed");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SOCKOPTFUNCTION, count_socket);
	return h;
}

/* ns and cpu are the wall-clock and CPU time of the measured part, which
 * began at faults_at_start. */
static void report(const char *mode, long transfers, uint64_t ns, uint64_t cpu, long errors,
                   long status, const char *extra)
{
	double n = transfers ? (double)transfers : 1.0;

	printf("bench mode=%s path=%s transfers=%ld elapsed_ns=%llu ns_per_transfer=%.1f "
	       "cpu_ns=%llu cpu_ns_per_transfer=%.1f minor_faults=%ld connections=%ld errors=%ld "
	       "status=%ld%s%s\n",
	       mode, path_arg, transfers, (unsigned long long)ns, (double)ns / n,
	       (unsigned long long)cpu, (double)cpu / n, minor_faults() - faults_at_start,
	       atomic_load(&sockets_opened), errors, status, extra ? " " : "", extra ? extra : "");
}

static long status_of(CURL *h)
{
	long s = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &s);
	return s;
}

/* What authtap's common path cannot do without: the status, and whether a
 * second response exists (CURLHE_NOREQUEST on a single-response transfer). */
__attribute__((noinline)) static long probe_floor(CURL *h)
{
	struct curl_header *ch;
	long status = 0;

	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	return status + (long)curl_easy_header(h, "WWW-Authenticate", 0, CURLH_HEADER, 1, &ch);
}

/* One header lookup that misses, for comparison. */
__attribute__((noinline)) static long probe_miss(CURL *h)
{
	struct curl_header *ch;

	return (long)curl_easy_header(h, "WWW-Authenticate", 0, CURLH_HEADER, -1, &ch);
}

static int append_fd = -1;
static char *append_rec;
static size_t append_bytes;

static void append_open(void)
{
	const char *file = getenv("BENCH_APPEND"), *bytes = getenv("BENCH_APPEND_BYTES");

	if (!file || !bytes)
		return;
	append_bytes = (size_t)arg_long(bytes, 1, 1 << 20);
	append_rec = malloc(append_bytes);
	if (!append_rec)
		die("out of memory");
	memset(append_rec, 'x', append_bytes);
	append_rec[append_bytes - 1] = '\n';
	append_fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (append_fd < 0)
		die("cannot open the BENCH_APPEND file");
}

/* The measured loop; callgrind counts only inside it. */
__attribute__((noinline)) static long timed_transfers(CURL *h, long n, bool probe)
{
	long errors = 0, sink = 0;

	for (long i = 0; i < n; i++) {
		if (curl_easy_perform(h) != CURLE_OK)
			errors++;
		if (probe)
			sink += probe_floor(h) + probe_miss(h);
		if (append_fd >= 0 && write(append_fd, append_rec, append_bytes) != (ssize_t)append_bytes)
			errors++;
	}
	if (sink == -1)
		errors++;
	return errors;
}

/* Opens the connection and lets the preload find libcurl, uncounted. */
__attribute__((noinline)) static void warm_up(CURL *h)
{
	for (int i = 0; i < WARMUP; i++) {
		CURLcode rc = curl_easy_perform(h);
		if (rc != CURLE_OK) {
			fprintf(stderr, "bench_client: warm-up transfer %d of %s failed: %s (%d)\n", i,
			        url, curl_easy_strerror(rc), (int)rc);
			exit(1);
		}
	}
}

static int mode_easy(long n, bool probe)
{
	CURL *other = NULL;
	const char *tabled = getenv("BENCH_TABLED");

	if (tabled && strcmp(tabled, "1") == 0) {
		other = new_handle();
		curl_easy_setopt(other, CURLOPT_URL, url401);
		if (curl_easy_perform(other) != CURLE_OK)
			die("the /401 transfer of BENCH_TABLED failed (is the server up?)");
	}
	CURL *h = new_handle();

	warm_up(h);
	faults_at_start = minor_faults();
	uint64_t t0 = now_ns(), c0 = cpu_ns();
	long errors = timed_transfers(h, n, probe);
	uint64_t t1 = now_ns(), c1 = cpu_ns();
	report(probe ? "probe" : append_fd >= 0 ? "easy+append" : other ? "easy+tabled" : "easy", n,
	       t1 - t0, c1 - c0, errors, status_of(h), NULL);
	curl_easy_cleanup(h);
	if (other)
		curl_easy_cleanup(other);
	return errors ? 1 : 0;
}

struct worker {
	pthread_t tid;
	pthread_barrier_t *start;
	long n;
	long errors, status;
	uint64_t done_ns;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	CURL *h = new_handle();

	warm_up(h);
	pthread_barrier_wait(w->start);
	w->errors = timed_transfers(h, w->n, false);
	w->done_ns = now_ns();
	w->status = status_of(h);
	curl_easy_cleanup(h);
	return NULL;
}

static int mode_threads(long t, long n)
{
	static struct worker w[THREADS_MAX];
	pthread_barrier_t start;

	pthread_barrier_init(&start, NULL, (unsigned)t + 1);
	for (long i = 0; i < t; i++) {
		w[i].start = &start;
		w[i].n = n;
		if (pthread_create(&w[i].tid, NULL, worker_run, &w[i]) != 0)
			die("pthread_create failed");
	}
	pthread_barrier_wait(&start);
	faults_at_start = minor_faults();
	uint64_t t0 = now_ns(), t1 = t0, c0 = cpu_ns();
	long errors = 0, status = 0;
	for (long i = 0; i < t; i++) {
		pthread_join(w[i].tid, NULL);
		errors += w[i].errors;
		status = w[i].status;
		if (w[i].done_ns > t1)
			t1 = w[i].done_ns;
	}
	uint64_t c1 = cpu_ns();
	char extra[32];
	snprintf(extra, sizeof(extra), "threads=%ld", t);
	report("threads", t * n, t1 - t0, c1 - c0, errors, status, extra);
	return errors ? 1 : 0;
}

/* Runs total transfers through m, keeping every handle busy: a finished
 * handle is removed and added again, as an event-driven proxy reuses its
 * handles.  Returns the number that failed. */
static long multi_run(CURLM *m, CURL **h, long nh, long total, long *status)
{
	long started = 0, done = 0, errors = 0;
	int running = 0;

	for (long i = 0; i < nh && started < total; i++, started++)
		if (curl_multi_add_handle(m, h[i]) != CURLM_OK)
			die("curl_multi_add_handle failed");
	while (done < total) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			die("curl_multi_perform failed");
		CURLMsg *msg;
		int queued;
		while ((msg = curl_multi_info_read(m, &queued))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			CURL *e = msg->easy_handle;
			if (msg->data.result != CURLE_OK)
				errors++;
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
			done++;
			curl_multi_remove_handle(m, e);
			if (started < total) {
				started++;
				if (curl_multi_add_handle(m, e) != CURLM_OK)
					die("curl_multi_add_handle failed");
			}
		}
		if (done < total && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
			die("curl_multi_poll failed");
	}
	return errors;
}

/* The measured multi_run, apart from the warm-up one, for callgrind. */
__attribute__((noinline)) static long timed_multi(CURLM *m, CURL **h, long nh, long total,
                                                  long *status)
{
	return multi_run(m, h, nh, total, status);
}

static int mode_multi(long nh, long n)
{
	CURLM *m = curl_multi_init();
	CURL **h = calloc((size_t)nh, sizeof(*h));
	long status = 0;

	if (!m || !h)
		die("out of memory");
	for (long i = 0; i < nh; i++)
		h[i] = new_handle();
	/* One round to open every connection. */
	if (multi_run(m, h, nh, nh, &status))
		die("warm-up transfers failed");
	faults_at_start = minor_faults();
	uint64_t t0 = now_ns(), c0 = cpu_ns();
	long errors = timed_multi(m, h, nh, n, &status);
	uint64_t t1 = now_ns(), c1 = cpu_ns();
	char extra[32];
	snprintf(extra, sizeof(extra), "handles=%ld", nh);
	report("multi", n, t1 - t0, c1 - c0, errors, status, extra);
	for (long i = 0; i < nh; i++)
		curl_easy_cleanup(h[i]);
	curl_multi_cleanup(m);
	free(h);
	return errors ? 1 : 0;
}

/* K handles stay alive, each having done one transfer (under the preload,
 * each 401 leaves an entry in authtap's table); then M transfers visit them
 * in a scattered order.  They share one connection and DNS cache, so that K
 * handles need one socket, not K.  libcurl itself holds ~14 KB per handle
 * that has done a transfer: 100,000 of them take 1.4 GB. */
/* M transfers spread over K handles; callgrind can count it alone too. */
__attribute__((noinline)) static long timed_spread(CURL **h, long k, long m)
{
	long errors = 0;

	for (long i = 0; i < m; i++)
		if (curl_easy_perform(h[(i * STRIDE) % k]) != CURLE_OK)
			errors++;
	return errors;
}

static int mode_handles(long k, long m)
{
	CURLSH *share = curl_share_init();
	CURL **h = calloc((size_t)k, sizeof(*h));

	if (!share || !h)
		die("out of memory");
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	for (long i = 0; i < k; i++) {
		h[i] = new_handle();
		curl_easy_setopt(h[i], CURLOPT_SHARE, share);
		if (curl_easy_perform(h[i]) != CURLE_OK)
			die("populating transfer failed");
	}
	faults_at_start = minor_faults();
	uint64_t t0 = now_ns(), c0 = cpu_ns();
	long errors = timed_spread(h, k, m);
	uint64_t t1 = now_ns(), c1 = cpu_ns();
	char extra[32];
	snprintf(extra, sizeof(extra), "handles=%ld", k);
	report("handles", m, t1 - t0, c1 - c0, errors, status_of(h[0]), extra);
	/* No cleanup: freeing K handles is not what is measured. */
	return errors ? 1 : 0;
}

/* The cost of one O_APPEND write(2) of a record's size, alone, and of the
 * other calls a logged record makes, for comparison with the 401 path. */
static int mode_write(long n, long bytes, const char *file)
{
	char *rec = malloc((size_t)bytes);
	struct stat st;
	struct timespec ts;
	long sink = 0;

	if (!rec)
		die("out of memory");
	memset(rec, 'x', (size_t)bytes);
	rec[bytes - 1] = '\n';
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		die("cannot open the write file");

	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++)
		if (write(fd, rec, (size_t)bytes) != bytes)
			die("write failed");
	uint64_t t1 = now_ns();
	for (long i = 0; i < n; i++)
		sink += fstat(fd, &st);
	uint64_t t2 = now_ns();
	for (long i = 0; i < n; i++)
		sink += getpid();
	uint64_t t3 = now_ns();
	for (long i = 0; i < n; i++)
		sink += syscall(SYS_gettid);
	uint64_t t4 = now_ns();
	for (long i = 0; i < n; i++)
		sink += clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t t5 = now_ns();
	close(fd);
	free(rec);

	double d = (double)n;
	printf("bench mode=write bytes=%ld writes=%ld elapsed_ns=%llu write_ns=%.1f fstat_ns=%.1f "
	       "getpid_ns=%.1f gettid_ns=%.1f clock_ns=%.1f sink=%ld\n",
	       bytes, n, (unsigned long long)(t1 - t0), (double)(t1 - t0) / d,
	       (double)(t2 - t1) / d, (double)(t3 - t2) / d, (double)(t4 - t3) / d,
	       (double)(t5 - t4) / d, sink);
	return 0;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: bench_client -p PORT easy|probe N PATH\n"
	                "       bench_client -p PORT threads T N PATH\n"
	                "       bench_client -p PORT multi H N PATH\n"
	                "       bench_client -p PORT handles K M PATH\n"
	                "       bench_client write N BYTES FILE\n");
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
	if (argc < 2)
		usage();
	const char *mode = argv[1];

	if (strcmp(mode, "write") == 0) {
		if (argc != 5)
			usage();
		return mode_write(arg_long(argv[2], 1, 100000000), arg_long(argv[3], 1, 1 << 20),
		                  argv[4]);
	}
	if (!port)
		usage();
	bool two = strcmp(mode, "easy") == 0 || strcmp(mode, "probe") == 0;
	if (argc != (two ? 4 : 5))
		usage();
	path_arg = argv[argc - 1];
	if (path_arg[0] != '/')
		usage();
	snprintf(url, sizeof(url), "http://127.0.0.1:%ld%s", port, path_arg);
	snprintf(url401, sizeof(url401), "http://127.0.0.1:%ld/401", port);

	raise_fd_limit();
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		die("curl_global_init failed");
	int rc;
	if (two) {
		append_open();
		rc = mode_easy(arg_long(argv[2], 1, 100000000), strcmp(mode, "probe") == 0);
	}
	else if (strcmp(mode, "threads") == 0)
		rc = mode_threads(arg_long(argv[2], 1, THREADS_MAX),
		                  arg_long(argv[3], 1, 100000000));
	else if (strcmp(mode, "multi") == 0)
		rc = mode_multi(arg_long(argv[2], 1, HANDLES_MAX), arg_long(argv[3], 1, 100000000));
	else if (strcmp(mode, "handles") == 0)
		rc = mode_handles(arg_long(argv[2], 1, HANDLES_MAX),
		                  arg_long(argv[3], 1, 100000000));
	else
		usage();
	fflush(stdout);
	return rc;
}
