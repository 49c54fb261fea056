#include "proxy.h"
#include "server.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct header_list {
	struct curl_slist *list;
	bool failed;
};

/* Not forwarded: hop-by-hop fields (RFC 9110 §7.6.1), what libcurl computes
 * itself, and Accept-Encoding, since the body is relayed without its
 * Content-Encoding. */
static bool hop_by_hop(const char *name)
{
	static const char *const skip[] = {
		"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authorization",
		"TE", "Trailer", "Transfer-Encoding", "Upgrade",
		"Host", "Content-Length", "Expect", "Accept-Encoding",
	};
	size_t i;

	for (i = 0; i < sizeof(skip) / sizeof(skip[0]); i++)
		if (strcasecmp(name, skip[i]) == 0)
			return true;
	return false;
}

static enum MHD_Result add_header(void *arg, enum MHD_ValueKind kind, const char *name,
				  const char *value)
{
	struct header_list *h = arg;
	struct curl_slist *l;
	char line[8192];

	(void)kind;
	if (hop_by_hop(name))
		return MHD_YES;
	if ((size_t)snprintf(line, sizeof(line), "%s: %s", name, value) >= sizeof(line))
		return MHD_YES;
	l = curl_slist_append(h->list, line);
	if (!l) {
		h->failed = true;
		return MHD_NO;
	}
	h->list = l;
	return MHD_YES;
}

static enum MHD_Result on_request(void *arg, const struct server_request *req)
{
	const struct proxy *p = arg;
	struct header_list h = {0};
	struct fwd_response res;
	struct fwd_request fr;
	struct MHD_Response *r = NULL;
	enum MHD_Result ret;

	MHD_get_connection_values(req->conn, MHD_HEADER_KIND, add_header, &h);
	if (h.failed) {
		curl_slist_free_all(h.list);
		return MHD_NO;
	}
	fr = (struct fwd_request){
		.method = req->method,
		.target = req->target,
		.headers = h.list,
		.body = req->body,
		.body_len = req->body_len,
	};
	if (fwd_perform(p->upstream, &fr, &res) == 0)
		r = proxy_respond(p, req->path, &res);
	else
		fprintf(stderr, "%s: %s %s: %s\n", p->name, req->method, req->target, res.error);

	if (r)
		ret = server_queue(req->conn, (unsigned)res.status, r);
	else
		ret = server_reply(req->conn, MHD_HTTP_BAD_GATEWAY, "text/plain", "bad gateway\n");
	fwd_response_free(&res);
	curl_slist_free_all(h.list);
	return ret;
}

int main(int argc, char **argv)
{
	struct proxy p;
	struct server s = {
		.name = "proxy",
		.handler = on_request,
		.arg = &p,
	};
	size_t n;
	int rc = 1;

	s.name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (server_args(&s, argc, argv, true) != 0)
		return 2;
	/* "http://host:port/" and "http://host:port" are the same base. */
	n = strlen(s.upstream);
	while (n && s.upstream[n - 1] == '/')
		n--;
	p.upstream = strndup(s.upstream, n);
	/* Filled by server_start() before anyone can learn our port. */
	p.self = s.self;
	p.name = s.name;
	if (!p.upstream || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	if (server_start(&s) == 0) {
		server_wait(&s);
		server_stop(&s);
		rc = 0;
	}
	curl_global_cleanup();
	free((char *)p.upstream);
	return rc;
}
