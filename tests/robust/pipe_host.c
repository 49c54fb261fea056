/* A host whose log is a pipe that is full for a while (GitHub issue 12,
 * item 5): records written meanwhile are lost, the log is not.
 *
 *   pipe-host TARGET URL N M
 *       TARGET is the log's FIFO, or "-" for stderr (a pipe).  The host
 *       fills TARGET through a description of its own, makes N transfers
 *       of URL, says "filled" on stdout and waits for a line on stdin
 *       (the test drains the pipe meanwhile), then makes M transfers more
 *       and says "done".
 *
 * stdout is the same with and without authtap. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static void transfers(CURL *h, const char *url, long n)
{
	for (long i = 0; i < n; i++) {
		long status = 0;
		curl_easy_setopt(h, CURLOPT_URL, url);
		CURLcode rc = curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		printf("transfer result=%d status=%ld\n", (int)rc, status);
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fputs("usage: pipe-host FIFO|- URL N M\n", stderr);
		return 2;
	}
	const char *target = strcmp(argv[1], "-") == 0 ? "/proc/self/fd/2" : argv[1];
	int fd = open(target, O_WRONLY | O_NONBLOCK);
	if (fd < 0) {
		printf("cannot open %s\n", target);
		return 1;
	}
	char fill[4096];
	memset(fill, 'x', sizeof(fill));
	while (write(fd, fill, sizeof(fill)) > 0)
		;
	while (write(fd, fill, 1) > 0)
		;
	close(fd);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
	transfers(h, argv[2], atol(argv[3]));
	puts("filled");
	fflush(stdout);
	char line[16];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	transfers(h, argv[2], atol(argv[4]));
	puts("done");
	curl_easy_cleanup(h);
	curl_global_cleanup();
	return 0;
}
