/* A server whose SIGALRM handler answers on an accepted socket while the
 * main thread is inside malloc (GitHub issue 12, item 3).  write(2) is
 * async-signal-safe, so a handler may call it at any moment: a preload that
 * takes a lock or allocates in its write hook can deadlock here.
 *
 *   signal-server N
 *
 * Accepts N connections from itself, one after the other; on each, the
 * handler writes response heads while the main thread allocates and frees
 * blocks too large for malloc's per-thread cache (which takes the arena
 * lock: a second thread exists, so malloc locks).  A watchdog thread ends
 * the process with "hung" if it has not finished within a generous bound.
 * Prints a summary that does not depend on timing:
 *
 *   connections=200 heads=some */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t answer_fd = -1;
static atomic_long heads;
static atomic_bool finished;

static void on_alarm(int sig)
{
	static const char head[] = "HTTP/1.1 401 Unauthorized\r\n"
	                           "WWW-Authenticate: Bearer realm=\"signal\"\r\n"
	                           "Content-Length: 0\r\n\r\n";
	int fd = answer_fd;

	(void)sig;
	if (fd >= 0 && write(fd, head, sizeof(head) - 1) > 0)
		atomic_fetch_add(&heads, 1);
}

static void *watchdog(void *arg)
{
	(void)arg;
	for (int i = 0; i < 300 && !atomic_load(&finished); i++) {
		struct timespec t = {0, 100 * 1000 * 1000};
		nanosleep(&t, NULL);
	}
	if (!atomic_load(&finished)) {
		static const char msg[] = "hung\n";
		write(1, msg, sizeof(msg) - 1);
		_exit(3);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: signal-server N\n", stderr);
		return 2;
	}
	long n = atol(argv[1]);
	/* The watchdog never takes the signal: it is created with SIGALRM
	 * blocked. */
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);
	pthread_t dog;
	if (pthread_create(&dog, NULL, watchdog, NULL) != 0)
		return 2;
	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t alen = sizeof(a);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 8) != 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) != 0)
		return 2;

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval every = {{0, 50}, {0, 50}};
	setitimer(ITIMER_REAL, &every, NULL);

	for (long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) != 0)
			return 2;
		int s = accept(ls, NULL, NULL);
		if (s < 0)
			return 2;
		/* The client never reads: a full buffer must not block the
		 * handler. */
		fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
		long before = atomic_load(&heads);
		answer_fd = s;
		for (long k = 0; atomic_load(&heads) < before + 2 && k < 1000000; k++) {
			void *p[8];
			for (int j = 0; j < 8; j++)
				p[j] = malloc(4096 + 512 * (size_t)j);
			for (int j = 0; j < 8; j++)
				free(p[j]);
		}
		answer_fd = -1;
		close(s);
		close(c);
	}
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	atomic_store(&finished, true);
	pthread_join(dog, NULL);
	printf("connections=%ld heads=%s\n", n, atomic_load(&heads) ? "some" : "none");
	return 0;
}
