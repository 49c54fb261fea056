#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A body larger than this is refused: the demo's JSON-RPC bodies are tiny. */
#define BODY_MAX (1u << 20)

struct request_state {
	char *target;
	char *body;
	size_t len, cap;
	bool headers_seen;
	bool too_big;
};

static void usage(const struct server *s, bool want_upstream)
{
	fprintf(stderr, "usage: %s %s[PORT]\n", s->name, want_upstream ? "--upstream URL " : "");
}

int server_args(struct server *s, int argc, char **argv, bool want_upstream)
{
	const char *port = "0";
	char *end;
	long n;
	int i;

	for (i = 1; i < argc; i++) {
		if (want_upstream && strcmp(argv[i], "--upstream") == 0 && i + 1 < argc)
			s->upstream = argv[++i];
		else if (strncmp(argv[i], "--upstream=", 11) == 0 && want_upstream)
			s->upstream = argv[i] + 11;
		else if (argv[i][0] != '-' && i == argc - 1)
			port = argv[i];
		else
			goto bad;
	}
	if (want_upstream && !s->upstream)
		goto bad;
	errno = 0;
	n = strtol(port, &end, 10);
	if (errno || *end || end == port || n < 0 || n > 65535)
		goto bad;
	s->port = (uint16_t)n;
	return 0;
bad:
	usage(s, want_upstream);
	return -1;
}

/* MHD calls this once per request, before the headers are parsed: the
 * place to allocate our state and keep the target as sent, query included,
 * which is what a proxy must forward. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct request_state *st;

	(void)cls;
	(void)conn;
	st = calloc(1, sizeof(*st));
	if (st && !(st->target = strdup(uri))) {
		free(st);
		st = NULL;
	}
	return st;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct request_state *st = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (st) {
		free(st->target);
		free(st->body);
		free(st);
		*con_cls = NULL;
	}
}

static int body_append(struct request_state *st, const char *data, size_t n)
{
	char *p;
	size_t cap;

	if (st->len + n + 1 > BODY_MAX) {
		st->too_big = true;
		return 0;
	}
	if (st->len + n + 1 > st->cap) {
		cap = st->cap ? st->cap : 1024;
		while (cap < st->len + n + 1)
			cap *= 2;
		p = realloc(st->body, cap);
		if (!p)
			return -1;
		st->body = p;
		st->cap = cap;
	}
	memcpy(st->body + st->len, data, n);
	st->len += n;
	st->body[st->len] = '\0';
	return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version, const char *upload,
				  size_t *upload_size, void **con_cls)
{
	struct server *s = cls;
	struct request_state *st = *con_cls;
	struct server_request req;

	(void)version;
	if (!st)
		return MHD_NO;
	/* The first call only announces the headers. */
	if (!st->headers_seen) {
		st->headers_seen = true;
		return MHD_YES;
	}
	if (*upload_size) {
		if (!st->too_big && body_append(st, upload, *upload_size) != 0)
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (st->too_big)
		return server_reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, "text/plain",
				    "request body too large\n");
	req = (struct server_request){
		.conn = conn,
		.method = method,
		.path = url,
		.target = st->target,
		.body = st->body ? st->body : "",
		.body_len = st->len,
	};
	return s->handler(s->arg, &req);
}

int server_start(struct server *s)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(s->port),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	const union MHD_DaemonInfo *info;
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	s->daemon = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
					     MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG,
				     0, NULL, NULL, on_request, s,
				     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
				     MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
				     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
				     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
				     MHD_OPTION_END);
	if (!s->daemon) {
		fprintf(stderr, "%s: cannot listen on 127.0.0.1:%u\n", s->name, s->port);
		return -1;
	}
	info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	if (!info || !info->port) {
		fprintf(stderr, "%s: cannot tell the port\n", s->name);
		MHD_stop_daemon(s->daemon);
		s->daemon = NULL;
		return -1;
	}
	snprintf(s->self, sizeof(s->self), "http://127.0.0.1:%u", info->port);
	/* Whoever started us waits for this line: flush it now. */
	printf("listening %s\n", s->self);
	fflush(stdout);
	return 0;
}

void server_wait(struct server *s)
{
	sigset_t set;
	int sig;

	(void)s;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	while (sigwait(&set, &sig) != 0)
		;
}

void server_stop(struct server *s)
{
	if (s->daemon)
		MHD_stop_daemon(s->daemon);
	s->daemon = NULL;
}

enum MHD_Result server_queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r)
{
	enum MHD_Result ret;

	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result server_reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     const char *body)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (type && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return server_queue(conn, status, r);
}
