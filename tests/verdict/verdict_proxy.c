/* A small reverse proxy whose answer to its client is scripted, to prove
 * authtap's verdicts; it never links authtap.
 *
 *   verdict-proxy MODE UPSTREAM_URL
 *
 * Listens on 127.0.0.1 (port printed on stdout), serves one connection:
 * for each request it reads, it fetches UPSTREAM_URL with libcurl and
 * answers by MODE, then exits (its summary is written then).
 *
 *   forward  the upstream's status and challenge, byte for byte, written one
 *            byte at a time after a 100 Continue
 *   drop     the status only, with a chunked body
 *   alter    the challenge with its realm changed, through writev
 *   convert  a 502, through send
 *   close    no answer at all: the connection is closed
 *   twice    two requests on one connection: dropped, then forwarded */
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/* Reads one request head; 0 at the end of the connection. */
static int read_request(int fd)
{
	char buf[8192];
	size_t len = 0;

	while (len < sizeof(buf) - 1) {
		ssize_t n = read(fd, buf + len, 1);
		if (n <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
		if (len >= 4 && strcmp(buf + len - 4, "\r\n\r\n") == 0)
			return 1;
	}
	return 0;
}

static void write_all(int fd, const char *s)
{
	size_t len = strlen(s);
	while (len) {
		ssize_t n = write(fd, s, len);
		if (n <= 0)
			return;
		s += n;
		len -= (size_t)n;
	}
}

static void answer(int fd, const char *mode, long status, const char *challenge)
{
	char head[4096];

	if (strcmp(mode, "forward") == 0) {
		write_all(fd, "HTTP/1.1 100 Continue\r\n\r\n");
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %ld Unauthorized\r\nWWW-Authenticate: %s\r\n"
			 "Content-Length: 2\r\n\r\nno",
			 status, challenge);
		for (const char *p = head; *p; p++)
			write_all(fd, (char[]){*p, '\0'});
	} else if (strcmp(mode, "drop") == 0) {
		snprintf(head, sizeof(head),
			 "HTTP/1.1 %ld Unauthorized\r\nTransfer-Encoding: chunked\r\n\r\n"
			 "2\r\nno\r\n0\r\n\r\n",
			 status);
		write_all(fd, head);
	} else if (strcmp(mode, "alter") == 0 || strcmp(mode, "alter-ctl") == 0) {
		/* alter-ctl: the new realm holds a control byte. */
		char altered[2048];
		const char *realm = strstr(challenge, "realm=\"mcp\"");
		snprintf(altered, sizeof(altered), "%.*srealm=\"%s\"%s",
			 realm ? (int)(realm - challenge) : 0, challenge,
			 strcmp(mode, "alter") == 0 ? "proxy" : "pro\001xy",
			 realm ? realm + strlen("realm=\"mcp\"") : challenge);
		snprintf(head, sizeof(head), "HTTP/1.1 %ld Unauthorized\r\nWWW-Authenticate: %s\r\n",
			 status, altered);
		struct iovec iov[2] = {{head, strlen(head)}, {"Content-Length: 0\r\n\r\n", 21}};
		if (writev(fd, iov, 2) < 0)
			perror("writev");
	} else if (strcmp(mode, "convert") == 0) {
		const char *bad = "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
		if (send(fd, bad, strlen(bad), 0) < 0)
			perror("send");
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: verdict-proxy MODE UPSTREAM_URL\n", stderr);
		return 2;
	}
	const char *mode = argv[1];
	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(ls, 1) != 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &alen) != 0)
		return 1;
	printf("%d\n", ntohs(a.sin_port));
	fflush(stdout);
	alarm(30);

	int fd = accept(ls, NULL, NULL);
	if (fd < 0)
		return 1;
	CURL *h = curl_easy_init();
	curl_easy_setopt(h, CURLOPT_URL, argv[2]);
	curl_easy_setopt(h, CURLOPT_PROXY, "");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	for (int round = 0; read_request(fd); round++) {
		long status = 0;
		struct curl_header *ch;
		curl_easy_perform(h);
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		const char *challenge = "";
		if (curl_easy_header(h, "WWW-Authenticate", 0, CURLH_HEADER, -1, &ch) == CURLHE_OK)
			challenge = ch->value;
		if (strcmp(mode, "close") == 0)
			break;
		if (strcmp(mode, "twice") == 0)
			answer(fd, round == 0 ? "drop" : "forward", status, challenge);
		else
			answer(fd, mode, status, challenge);
	}
	close(fd);
	curl_easy_cleanup(h);
	close(ls);
	return 0;
}
