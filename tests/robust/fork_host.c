/* fork() in a threaded host while other threads are inside authtap.
 *
 *   fork-host URL401 URL200 FORKS THREADS
 *
 * THREADS threads do transfers and queries (shim/authtap.h) without pause,
 * and one more formats timestamps as a server's logger does, while the main
 * thread forks FORKS times.  Each child does one 401 transfer, asks authtap
 * about it, and exits.  A child that is not done within CHILD_SECS is
 * deadlocked (on a lock held by a thread that does not exist in the child):
 * it is counted as hung, and the forking stops.  Prints
 *
 *   forks=40 ok=40 failed=0 hung=0 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "authtap.h"

#define CHILD_SECS 5
#define THREADS_MAX 16

static const char *url401, *url200;
static atomic_bool stop;

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static CURL *new_handle(const char *url)
{
	CURL *h = curl_easy_init();

	if (!h)
		return NULL;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	return h;
}

static void *busy(void *arg)
{
	char buf[256];
	unsigned n = 0;

	(void)arg;
	while (!atomic_load(&stop)) {
		CURL *h = new_handle(n++ % 3 ? url401 : url200);
		if (!h)
			continue;
		curl_easy_perform(h);
		authtap_status(h);
		authtap_value(h, 0, buf, sizeof(buf));
		authtap_param(h, NULL, "realm", buf, sizeof(buf));
		authtap_last();
		curl_easy_cleanup(h);
	}
	return NULL;
}

/* gmtime_r and localtime_r take libc's time zone lock. */
static void *clock_thread(void *arg)
{
	char buf[64];

	(void)arg;
	while (!atomic_load(&stop)) {
		time_t now = time(NULL);
		struct tm tm;
		strftime(buf, sizeof(buf), "%F %T", gmtime_r(&now, &tm));
		strftime(buf, sizeof(buf), "%F %T", localtime_r(&now, &tm));
	}
	return NULL;
}

static int child(void)
{
	char buf[256];
	long status = 0;

	/* A backstop, should the parent be gone. */
	alarm(CHILD_SECS + 5);
	CURL *h = new_handle(url401);
	if (!h)
		return 1;
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	authtap_status(h);
	authtap_value(h, 0, buf, sizeof(buf));
	curl_easy_cleanup(h);
	return rc == CURLE_OK && status == 401 ? 0 : 1;
}

/* Waits for a child: 0 done, 1 failed, 2 hung (then what it waits on, from
 * /proc, goes to stdout). */
static int reap(pid_t pid)
{
	struct timespec tick = {0, 2 * 1000 * 1000};
	int status;

	for (long waited = 0; waited < CHILD_SECS * 500L; waited++) {
		pid_t r = waitpid(pid, &status, WNOHANG);
		if (r == pid) {
			if (WIFSIGNALED(status))
				return WTERMSIG(status) == SIGALRM ? 2 : 1;
			return WEXITSTATUS(status) ? 1 : 0;
		}
		if (r < 0 && errno != EINTR)
			return 1;
		nanosleep(&tick, NULL);
	}
	char path[64], wchan[64] = "?";
	snprintf(path, sizeof(path), "/proc/%ld/wchan", (long)pid);
	FILE *f = fopen(path, "r");
	if (f) {
		if (!fgets(wchan, sizeof(wchan), f))
			wchan[0] = '\0';
		fclose(f);
	}
	printf("child %ld hung in %s\n", (long)pid, wchan);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return 2;
}

int main(int argc, char **argv)
{
	pthread_t t[THREADS_MAX + 1];
	int counts[3] = {0, 0, 0}, done = 0;

	if (argc != 5) {
		fputs("usage: fork-host URL401 URL200 FORKS THREADS\n", stderr);
		return 2;
	}
	url401 = argv[1];
	url200 = argv[2];
	int forks = atoi(argv[3]), threads = atoi(argv[4]);
	if (threads > THREADS_MAX)
		threads = THREADS_MAX;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, busy, NULL);
	pthread_create(&t[threads], NULL, clock_thread, NULL);
	for (int i = 0; i < forks; i++) {
		/* Vary the moment of the fork against the threads' work. */
		struct timespec pause = {0, (i % 7) * 300 * 1000};
		nanosleep(&pause, NULL);
		fflush(stdout);
		pid_t pid = fork();
		if (pid == 0)
			_exit(child());
		int outcome = pid < 0 ? 1 : reap(pid);
		counts[outcome]++;
		done++;
		/* One deadlock is enough to know; the others would only
		 * take time. */
		if (outcome == 2)
			break;
	}
	atomic_store(&stop, true);
	for (int i = 0; i <= threads; i++)
		pthread_join(t[i], NULL);
	curl_global_cleanup();
	printf("forks=%d ok=%d failed=%d hung=%d\n", done, counts[0], counts[1], counts[2]);
	return counts[0] == forks ? 0 : 1;
}
