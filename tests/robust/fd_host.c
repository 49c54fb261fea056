/* A daemon-like host that closes descriptors it does not own and reuses
 * their numbers, to check that authtap never writes into the new file.
 *
 *   fd-host file LOG pipe|socket|file:PATH URL
 *       AUTHTAP_LOG=LOG: a 401 transfer, curl_easy_cleanup, close every
 *       fd >= 3, put a new pipe, socket or file on the number LOG had, a
 *       second 401 transfer, then report what the new descriptor received.
 *       LOG "-" stands for the description of fd 2 that authtap opens for
 *       itself when AUTHTAP_LOG=stderr is a pipe.
 *   fd-host stderr null|pipe|file:PATH URL
 *       AUTHTAP_LOG=stderr: a 401 transfer, then /dev/null, a new pipe or
 *       a file on fd 2, a second 401 transfer, and the same report.
 *
 * stdout gets lines that are the same with and without authtap:
 *
 *   transfer 0 result=0 status=401
 *   transfer 1 result=0 status=401
 *
 * Whatever the new descriptor received goes to the file FD_HOST_SAVE names,
 * for the test to look at.  FD_HOST_CLOSE says how the descriptors go:
 * "loop" (close on each, the default), "range" (close_range), "from"
 * (closefrom, which closes inside glibc) or "raw" (the close_range system
 * call, past libc and its hooks, then a 300 ms pause before the second
 * transfer). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static void transfer(int i, const char *url)
{
	CURL *h = curl_easy_init();
	long status = 0;

	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	/* The cleanup closes the connection: no socket of libcurl's is left
	 * for the descriptor massacre below to break. */
	curl_easy_cleanup(h);
	printf("transfer %d result=%d status=%ld\n", i, (int)rc, status);
	fflush(stdout);
}

/* The descriptor >= 3 that is open on path ("-": on what fd 2 is), or -1
 * (without authtap there is none). */
static int fd_of(const char *path)
{
	struct stat want, st;

	if (strcmp(path, "-") == 0 ? fstat(STDERR_FILENO, &want) != 0 : stat(path, &want) != 0)
		return -1;
	for (int fd = 3; fd < 1024; fd++)
		if (fstat(fd, &st) == 0 && st.st_dev == want.st_dev && st.st_ino == want.st_ino)
			return fd;
	return -1;
}

struct target {
	int fd;      /* what the program writes to (ends up on the reused number) */
	int read_fd; /* the other end, -1 for a file */
	const char *path;
};

/* A new pipe, socket or file, moved onto number at. */
static int open_target(const char *kind, int at, struct target *t)
{
	int p[2];

	t->read_fd = -1;
	t->path = NULL;
	if (strcmp(kind, "pipe") == 0) {
		if (pipe(p) != 0)
			return -1;
		t->read_fd = p[0];
		t->fd = p[1];
	} else if (strcmp(kind, "socket") == 0) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, p) != 0)
			return -1;
		t->read_fd = p[0];
		t->fd = p[1];
	} else if (strcmp(kind, "null") == 0) {
		t->fd = open("/dev/null", O_WRONLY);
	} else if (strncmp(kind, "file:", 5) == 0) {
		t->path = kind + 5;
		t->fd = open(t->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	} else {
		return -1;
	}
	if (t->fd < 0)
		return -1;
	if (t->fd != at) {
		if (t->read_fd == at) {
			/* The read end took the number: move it away first. */
			int moved = fcntl(t->read_fd, F_DUPFD, at + 1);
			close(t->read_fd);
			t->read_fd = moved;
		}
		if (dup2(t->fd, at) != at)
			return -1;
		close(t->fd);
		t->fd = at;
	}
	if (t->read_fd >= 0)
		fcntl(t->read_fd, F_SETFL, O_NONBLOCK);
	return 0;
}

/* Copies what the new descriptor received to save. */
static int save_received(struct target *t, const char *save)
{
	char buf[65536];
	FILE *out = fopen(save, "w");
	int in = t->read_fd;
	ssize_t n;

	if (!out)
		return -1;
	if (t->path)
		in = open(t->path, O_RDONLY);
	else if (t->fd != STDERR_FILENO)
		close(t->fd);
	while (in >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, out);
	return fclose(out);
}

/* Closes every descriptor >= 3, the way how says. */
static int close_all(const char *how)
{
	if (!how || strcmp(how, "loop") == 0) {
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		return 0;
	}
	if (strcmp(how, "range") == 0)
		return close_range(3, ~0u, 0);
	if (strcmp(how, "from") == 0) {
		closefrom(3);
		return 0;
	}
	if (strcmp(how, "raw") == 0) {
		struct timespec pause = {0, 300 * 1000 * 1000};
		if (syscall(SYS_close_range, 3, ~0u, 0) != 0)
			return -1;
		nanosleep(&pause, NULL);
		return 0;
	}
	errno = EINVAL;
	return -1;
}

int main(int argc, char **argv)
{
	int file_mode = argc == 5 && strcmp(argv[1], "file") == 0;
	const char *save = getenv("FD_HOST_SAVE");

	if (!save || (!file_mode && (argc != 4 || strcmp(argv[1], "stderr") != 0))) {
		fputs("usage: FD_HOST_SAVE=PATH fd-host file LOG KIND URL | stderr KIND URL\n",
		      stderr);
		return 2;
	}
	const char *kind = argv[file_mode ? 3 : 2];
	const char *url = argv[file_mode ? 4 : 3];
	struct target t;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	transfer(0, url);
	if (file_mode) {
		/* Without authtap there is no log: use the number it would
		 * most likely have had, so that both runs do the same. */
		int at = fd_of(argv[2]);
		if (at < 0)
			at = 3;
		if (close_all(getenv("FD_HOST_CLOSE")) != 0) {
			printf("cannot close the descriptors: %s\n", strerror(errno));
			return 1;
		}
		if (open_target(kind, at, &t) != 0) {
			printf("cannot reuse fd %d: %s\n", at, strerror(errno));
			return 1;
		}
	} else {
		fflush(stderr);
		if (open_target(kind, STDERR_FILENO, &t) != 0) {
			printf("cannot replace fd 2: %s\n", strerror(errno));
			return 1;
		}
	}
	transfer(1, url);
	curl_global_cleanup();
	if (save_received(&t, save) != 0) {
		printf("cannot save what fd %d received: %s\n", t.fd, strerror(errno));
		return 1;
	}
	return 0;
}
