/* A host that does a 401 transfer, then replaces itself with a shell that
 * runs the curl command: with LD_PRELOAD inherited, both are recorded.
 *
 *   exec-host URL CURL
 *
 * The shell runs CURL as a child (the "; exit" keeps it from exec'ing it in
 * its own place), so that the two transfers come from two processes. */
#include <stdio.h>
#include <unistd.h>

#include <curl/curl.h>

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: exec-host URL CURL\n", stderr);
		return 2;
	}
	CURL *h = curl_easy_init();
	long status = 0;
	curl_easy_setopt(h, CURLOPT_URL, argv[1]);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	CURLcode rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(h);
	printf("host result=%d status=%ld\n", (int)rc, status);
	fflush(stdout);
	execl("/bin/sh", "sh", "-c",
	      "\"$0\" -s -o /dev/null --noproxy '*' -w 'curl status=%{http_code}\\n' \"$1\"; "
	      "exit $?",
	      argv[2], argv[1], (char *)NULL);
	perror("exec-host: /bin/sh");
	return 127;
}
