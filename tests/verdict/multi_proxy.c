/* A reverse proxy on libcurl's multi interface with an event loop of its
 * own, for the verdict tests: each turn of the loop accepts every waiting
 * client and reads every request that has arrived, and only then starts
 * their transfers, so that one thread has read several requests before
 * any of them has an upstream transfer.
 *
 *   multi-proxy MODE UPSTREAM COUNT
 *
 * /api/PATH goes to UPSTREAM/PATH; /opaque/a to UPSTREAM/401 and any other
 * /opaque/NAME to UPSTREAM/200.  MODE: forward (status, body and the
 * challenge) or drop (status and body only).  It prints its port and exits
 * once it has answered COUNT requests.  Never links authtap. */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#define MAX_CLIENTS 512

struct client {
	int fd;
	char in[8192];
	size_t in_len;
	bool started;
	CURL *easy;
	char *challenges; /* "Name: value\r\n" lines */
	size_t challenges_len;
	char *body;
	size_t body_len;
	char post[1024];
	size_t post_len;
};

static struct client *clients[MAX_CLIENTS];
static const char *mode, *upstream;

static void append(char **buf, size_t *len, const char *p, size_t n)
{
	char *b = realloc(*buf, *len + n + 1);
	if (!b)
		abort();
	memcpy(b + *len, p, n);
	*len += n;
	b[*len] = '\0';
	*buf = b;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct client *c = arg;
	size_t len = size * n;
	if (len > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
		append(&c->challenges, &c->challenges_len, p, len);
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct client *c = arg;
	append(&c->body, &c->body_len, p, size * n);
	return size * n;
}

/* A whole request in c->in: its method and path, and its body. */
static bool request_complete(struct client *c, char *method, char *path)
{
	char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
	if (!end)
		return false;
	size_t head = (size_t)(end - c->in) + 4, clen = 0;
	char *cl = strcasestr(c->in, "\r\nContent-Length:");
	if (cl && cl < end)
		clen = strtoul(cl + 17, NULL, 10);
	if (c->in_len < head + clen || clen > sizeof(c->post))
		return false;
	if (sscanf(c->in, "%15s %255s", method, path) != 2)
		return false;
	memcpy(c->post, c->in + head, clen);
	c->post_len = clen;
	return true;
}

static void start(CURLM *multi, struct client *c)
{
	char method[16], path[256], url[512];

	if (c->started || !request_complete(c, method, path))
		return;
	c->started = true;
	if (strncmp(path, "/api/", 5) == 0)
		snprintf(url, sizeof(url), "%s%s", upstream, path + 4);
	else
		snprintf(url, sizeof(url), "%s%s", upstream,
		         strcmp(path, "/opaque/a") == 0 ? "/401" : "/200");
	c->easy = curl_easy_init();
	curl_easy_setopt(c->easy, CURLOPT_URL, url);
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	if (strcmp(method, "POST") == 0) {
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)c->post_len);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->post);
	}
	curl_multi_add_handle(multi, c->easy);
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && (errno == EINTR || errno == EAGAIN)) {
			struct pollfd w = {fd, POLLOUT, 0};
			poll(&w, 1, 1000);
			continue;
		}
		if (k <= 0)
			return;
		p += k;
		n -= (size_t)k;
	}
}

/* The upstream answered: the client gets status and body, and in forward
 * mode the challenge. */
static void answer(struct client *c)
{
	long status = 0;
	char head[256];

	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
	int n = snprintf(head, sizeof(head), "HTTP/1.1 %ld Proxied\r\n", status);
	write_all(c->fd, head, (size_t)n);
	if (strcmp(mode, "forward") == 0 && c->challenges)
		write_all(c->fd, c->challenges, c->challenges_len);
	n = snprintf(head, sizeof(head), "Content-Length: %zu\r\nConnection: close\r\n\r\n",
	             c->body_len);
	write_all(c->fd, head, (size_t)n);
	write_all(c->fd, c->body ? c->body : "", c->body_len);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	mode = argv[1];
	upstream = argv[2];
	long count = atol(argv[3]), answered = 0;

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 512) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl))
		return 1;
	printf("%d\n", ntohs(sa.sin_port));
	fflush(stdout);

	curl_global_init(CURL_GLOBAL_DEFAULT);
	CURLM *multi = curl_multi_init();
	struct curl_waitfd extra[MAX_CLIENTS + 1];

	while (answered < count) {
		unsigned n = 0;
		extra[n++] = (struct curl_waitfd){lfd, CURL_WAIT_POLLIN, 0};
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (clients[i] && !clients[i]->started)
				extra[n++] =
				    (struct curl_waitfd){clients[i]->fd, CURL_WAIT_POLLIN, 0};
		int running;
		curl_multi_perform(multi, &running);
		curl_multi_poll(multi, extra, n, 1000, NULL);

		/* Every waiting client, every request that has arrived... */
		int fd;
		while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
			int i = 0;
			while (i < MAX_CLIENTS && clients[i])
				i++;
			if (i == MAX_CLIENTS) {
				close(fd);
				continue;
			}
			clients[i] = calloc(1, sizeof(struct client));
			clients[i]->fd = fd;
		}
		for (int i = 0; i < MAX_CLIENTS; i++) {
			struct client *c = clients[i];
			ssize_t k;
			while (c && !c->started && c->in_len < sizeof(c->in) - 1 &&
			       (k = read(c->fd, c->in + c->in_len, sizeof(c->in) - 1 - c->in_len)) >
			           0)
				c->in[c->in_len += (size_t)k] = '\0';
		}
		/* ...and only then their transfers. */
		for (int i = 0; i < MAX_CLIENTS; i++)
			if (clients[i])
				start(multi, clients[i]);

		curl_multi_perform(multi, &running);
		CURLMsg *msg;
		int left;
		while ((msg = curl_multi_info_read(multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			struct client *c;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
			answer(c);
			curl_multi_remove_handle(multi, c->easy);
			curl_easy_cleanup(c->easy);
			close(c->fd);
			for (int i = 0; i < MAX_CLIENTS; i++)
				if (clients[i] == c)
					clients[i] = NULL;
			free(c->challenges);
			free(c->body);
			free(c);
			answered++;
		}
	}
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	return 0;
}
