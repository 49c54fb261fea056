/* Transfers under a storm of signals: SIGALRM every 100 us from setitimer,
 * with a handler installed without SA_RESTART, so that any system call of
 * libcurl or authtap may fail with EINTR or come back short.
 *
 *   signal-host URL N
 *
 * Prints a summary that does not depend on timing:
 *
 *   transfers=200 ok=200 signals=some */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <curl/curl.h>

static atomic_long signals;

static void on_alarm(int sig)
{
	(void)sig;
	atomic_fetch_add(&signals, 1);
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: signal-host URL N\n", stderr);
		return 2;
	}
	long n = atol(argv[2]), ok = 0;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, argv[1]);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);

	struct itimerval every = {{0, 100}, {0, 100}};
	setitimer(ITIMER_REAL, &every, NULL);
	for (long i = 0; i < n; i++) {
		long status = 0;
		CURLcode rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (rc == CURLE_OK && status == 401)
			ok++;
		else
			printf("transfer %ld result=%d status=%ld\n", i, (int)rc, status);
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	curl_easy_cleanup(h);
	curl_global_cleanup();
	printf("transfers=%ld ok=%ld signals=%s\n", n, ok, atomic_load(&signals) ? "some" : "none");
	return ok == n ? 0 : 1;
}
