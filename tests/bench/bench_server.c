/* A fast canned-answer HTTP/1.1 server for authtap's benchmark.
 *
 *   bench_server [--port-file PATH]
 *
 * One thread, one epoll set, non-blocking sockets, keep-alive and pipelining,
 * so that the server is never what the benchmark measures: a request costs it
 * a few microseconds against libcurl's tens.  It binds 127.0.0.1 on an
 * ephemeral port, prints the port on stdout, and answers
 *
 *   GET /200   200 with four headers and a 3-byte body
 *   GET /401   401 with a Bearer WWW-Authenticate challenge
 *   other      404, empty body
 *
 * every one with a Content-Length.  It ends when stdin reaches EOF.  When
 * stdin cannot be watched (a file, /dev/null), it ends instead after
 * IDLE_SECS without any event, or after LIFE_SECS in total: a run.sh on a
 * loaded machine may take longer than that, so it keeps the server by a
 * pipe on its stdin and ends it by closing the pipe. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IDLE_SECS 120
#define LIFE_SECS 1800
#define IN_MAX 8192
#define EVENTS_MAX 256
#define BODY_SKIP_MAX (1LL << 30)

#define CRLF "\r\n"

/* One header line per source line, as on the wire. */
/* clang-format off */
static const char resp_200[] = "HTTP/1.1 200 OK" CRLF
			       "Content-Type: text/plain" CRLF
			       "Content-Length: 3" CRLF
			       "Cache-Control: no-store" CRLF
			       "Server: authtap-bench" CRLF CRLF
			       "ok\n";

static const char resp_401[] =
	"HTTP/1.1 401 Unauthorized" CRLF
	"Content-Type: text/plain" CRLF
	"Content-Length: 13" CRLF
	"Server: authtap-bench" CRLF
	"WWW-Authenticate: Bearer realm=\"mcp\", "
	"resource_metadata=\"http://127.0.0.1/.well-known/oauth-protected-resource\", "
	"scope=\"mcp:tools\"" CRLF CRLF
	"unauthorized\n";

static const char resp_404[] = "HTTP/1.1 404 Not Found" CRLF
			       "Content-Length: 0" CRLF
			       "Server: authtap-bench" CRLF CRLF;
/* clang-format on */

/* The listening socket and stdin are told apart from connections by these
 * tags in epoll_event.data.ptr. */
static char tag_listen, tag_stdin;

struct conn {
	int fd;
	size_t in_len;
	long long skip; /* request body bytes still to discard */
	char *out;      /* what a short write left behind */
	size_t out_len, out_off;
	bool close_after;
	char in[IN_MAX];
};

static int epfd;

static void die(const char *what)
{
	fprintf(stderr, "bench_server: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void conn_close(struct conn *c)
{
	epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->out);
	free(c);
}

static bool pending(const struct conn *c)
{
	return c->out_len > c->out_off;
}

/* The value of header name in the head [p, end), or NULL. */
static const char *header_value(const char *p, const char *end, const char *name, size_t *len)
{
	size_t nlen = strlen(name);

	p = memchr(p, '\n', (size_t)(end - p));
	while (p && ++p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		if ((size_t)(eol - p) > nlen && p[nlen] == ':' && strncasecmp(p, name, nlen) == 0) {
			const char *v = p + nlen + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = eol;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			*len = (size_t)(ve - v);
			return v;
		}
		p = eol;
	}
	return NULL;
}

static const char *route(const char *req, size_t len, size_t *out_len)
{
	const char *sp = memchr(req, ' ', len);
	if (sp) {
		const char *path = sp + 1;
		size_t rest = len - (size_t)(path - req);
		if (rest >= 5 && memcmp(path, "/200", 4) == 0 &&
		    (path[4] == ' ' || path[4] == '?')) {
			*out_len = sizeof(resp_200) - 1;
			return resp_200;
		}
		if (rest >= 5 && memcmp(path, "/401", 4) == 0 &&
		    (path[4] == ' ' || path[4] == '?')) {
			*out_len = sizeof(resp_401) - 1;
			return resp_401;
		}
	}
	*out_len = sizeof(resp_404) - 1;
	return resp_404;
}

/* Sends what it can; keeps the rest and waits for EPOLLOUT.  Returns false
 * when the connection is dead.  Requests already in the input buffer are
 * still answered, appended to what waits. */
static bool conn_send(struct conn *c, const char *data, size_t len)
{
	if (pending(c)) {
		char *p = realloc(c->out, c->out_len + len);
		if (!p)
			return false;
		c->out = p;
		memcpy(c->out + c->out_len, data, len);
		c->out_len += len;
		return true;
	}
	while (len) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	if (!len)
		return true;
	free(c->out);
	c->out = malloc(len);
	if (!c->out)
		return false;
	memcpy(c->out, data, len);
	c->out_len = len;
	c->out_off = 0;
	/* Reading waits until this is out: a client that does not read
	 * cannot make us buffer without end. */
	struct epoll_event ev = {.events = EPOLLOUT, .data.ptr = c};
	return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0;
}

/* Returns false when the connection is to be closed: dead, or done. */
static bool conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;
		c->out_off += (size_t)n;
	}
	c->out_len = c->out_off = 0;
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
	return epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0 && !c->close_after;
}

/* Answers every complete request in the input buffer (pipelining). */
static bool conn_serve(struct conn *c)
{
	size_t at = 0;

	while (at < c->in_len) {
		if (c->skip) {
			size_t n =
			    c->in_len - at < (size_t)c->skip ? c->in_len - at : (size_t)c->skip;
			at += n;
			c->skip -= (long long)n;
			continue;
		}
		char *head = c->in + at;
		size_t avail = c->in_len - at;
		char *end = memmem(head, avail, "\r\n\r\n", 4);
		if (!end)
			break;
		end += 4;
		size_t hlen = (size_t)(end - head), vlen, rlen;
		const char *v = header_value(head, end, "Content-Length", &vlen);
		if (v) {
			char num[24];
			if (vlen == 0 || vlen >= sizeof(num))
				return false;
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			char *e;
			long long cl = strtoll(num, &e, 10);
			if (*e || cl < 0 || cl > BODY_SKIP_MAX)
				return false;
			c->skip = cl;
		}
		v = header_value(head, end, "Connection", &vlen);
		const char *eol = memchr(head, '\n', hlen);
		bool http10 = eol && eol - head >= 9 && memcmp(eol - 9, "HTTP/1.0", 8) == 0;
		if ((v && vlen == 5 && strncasecmp(v, "close", 5) == 0) || http10)
			c->close_after = true;
		const char *resp = route(head, hlen, &rlen);
		at += hlen;
		if (!conn_send(c, resp, rlen))
			return false;
		if (c->close_after)
			return pending(c); /* flush, then close */
	}
	memmove(c->in, c->in + at, c->in_len - at);
	c->in_len -= at;
	return c->in_len < IN_MAX; /* a head larger than the buffer: give up */
}

static bool conn_read(struct conn *c)
{
	for (;;) {
		if (pending(c))
			return true; /* read again once flushed */
		ssize_t n = recv(c->fd, c->in + c->in_len, IN_MAX - c->in_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (n <= 0)
			return false;
		c->in_len += (size_t)n;
		if (!conn_serve(c))
			return false;
	}
}

static void accept_all(int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN, or out of descriptors: try later */
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
			close(fd);
			free(c);
		}
	}
}

static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	const char *port_file = NULL;

	if (argc == 3 && strcmp(argv[1], "--port-file") == 0) {
		port_file = argv[2];
	} else if (argc != 1) {
		fprintf(stderr, "usage: bench_server [--port-file PATH]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	int one = 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t slen = sizeof(sa);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 4096) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &slen) != 0)
		die("listen");

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1");
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &tag_listen};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev) != 0)
		die("epoll_ctl");
	/* stdin may be a file or /dev/null, which epoll refuses: then only
	 * the time limits end the server. */
	ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &tag_stdin};
	bool watched = epoll_ctl(epfd, EPOLL_CTL_ADD, STDIN_FILENO, &ev) == 0;

	unsigned port = ntohs(sa.sin_port);
	printf("%u\n", port);
	fflush(stdout);
	if (port_file) {
		FILE *f = fopen(port_file, "w");
		if (!f || fprintf(f, "%u\n", port) < 0 || fclose(f) != 0)
			die(port_file);
	}

	time_t start = time(NULL), last = start;
	struct epoll_event events[EVENTS_MAX];
	for (;;) {
		int n = epoll_wait(epfd, events, EVENTS_MAX, 1000);
		if (n < 0 && errno != EINTR)
			die("epoll_wait");
		for (int i = 0; i < n; i++) {
			void *tag = events[i].data.ptr;
			if (tag == &tag_listen) {
				accept_all(lfd);
				continue;
			}
			if (tag == &tag_stdin) {
				char b[256];
				ssize_t r = read(STDIN_FILENO, b, sizeof(b));
				if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
					return 0;
				continue;
			}
			struct conn *c = tag;
			uint32_t e = events[i].events;
			bool ok = !(e & EPOLLERR);
			if (ok && (e & (EPOLLOUT | EPOLLHUP)) && pending(c))
				ok = conn_flush(c);
			if (ok && (e & (EPOLLIN | EPOLLHUP)) && !pending(c))
				ok = conn_read(c) && !(c->close_after && !pending(c));
			if (!ok)
				conn_close(c);
		}
		time_t now = time(NULL);
		if (n > 0)
			last = now;
		if (!watched && (now - start > LIFE_SECS || now - last > IDLE_SECS))
			return 0;
	}
}
