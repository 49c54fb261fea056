#include "sock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "log.h"
#include "preload.h"
#include "record.h"
#include "url.h"
#include "verdict.h"

#define SOCK_MAX_HEADERS 16

static bool field_is(const struct head_field *f, const char *name)
{
	return f->name_len == strlen(name) && strncasecmp(f->name, name, f->name_len) == 0;
}

/* "GET /mcp HTTP/1.1" with "Host: 127.0.0.1:8080": method GET, URL
 * http://127.0.0.1:8080/mcp.  An absolute target (to a proxy) is the URL. */
bool sock_request(struct net_conn *c, const struct head *h)
{
	const char *line = h->raw, *end = memchr(h->raw, '\n', h->raw_len);
	if (!end)
		return false;
	const char *sp1 = memchr(line, ' ', (size_t)(end - line));
	const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(end - sp1 - 1)) : NULL;
	if (!sp1 || !sp2 || end - sp2 < 9 || memcmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return false;

	struct head_field host = {.value = h->host, .value_len = h->host ? h->host_len : 0};
	if (c->req_count == NET_PIPELINE) {
		/* More in flight than kept: the oldest gives way. */
		c->req_first = (c->req_first + 1) % NET_PIPELINE;
		c->req_count--;
	}
	unsigned at = (c->req_first + c->req_count++) % NET_PIPELINE;
	struct net_request *r = &c->reqs[at];
	size_t mlen = (size_t)(sp1 - line);
	if (mlen >= sizeof(r->method))
		mlen = sizeof(r->method) - 1;
	memcpy(r->method, line, mlen);
	r->method[mlen] = '\0';

	const char *target = sp1 + 1;
	size_t tlen = (size_t)(sp2 - target), len = 0;
	bool absolute = tlen > 7 && (strncasecmp(target, "http://", 7) == 0 ||
	                             (tlen > 8 && strncasecmp(target, "https://", 8) == 0));
	if (!absolute) {
		const char *scheme = c->api == RECORD_API_SOCKET ? "http://" : "https://";
		size_t slen = strlen(scheme);
		memcpy(r->url, scheme, slen);
		len = slen;
		size_t n = host.value_len < sizeof(r->url) - len - 1 ? host.value_len
		                                                     : sizeof(r->url) - len - 1;
		if (n)
			memcpy(r->url + len, host.value, n);
		len += n;
	}
	size_t n = tlen < sizeof(r->url) - len - 1 ? tlen : sizeof(r->url) - len - 1;
	memcpy(r->url + len, target, n);
	r->url[len + n] = '\0';

	/* The clients it may be made for, as they stand now. */
	const struct config *cfg = preload_config();
	c->cands[at].taken = false;
	if (!cfg->disabled && cfg->verdict)
		verdict_socket_request(c, &c->cands[at]);
	return true;
}

void sock_response(struct net_conn *c, const struct head *h)
{
	struct net_request *req = NULL;
	const struct net_cands *cands = NULL;
	if (c->req_count) {
		req = &c->reqs[c->req_first];
		cands = &c->cands[c->req_first];
		c->req_first = (c->req_first + 1) % NET_PIPELINE;
		c->req_count--;
	}
	/* The next response on this connection answers the next request: a
	 * HEAD request's has no body. */
	c->reader.head_request = c->req_count && strcmp(c->reqs[c->req_first].method, "HEAD") == 0;

	const struct config *cfg = preload_config();
	if (cfg->disabled || !config_status_wanted(cfg, h->status))
		return;
	struct record_header hs[SOCK_MAX_HEADERS];
	size_t nh = 0, pos = 0;
	bool truncated = false;
	struct head_field f;
	static const char *const names[] = {"WWW-Authenticate", "Proxy-Authenticate"};
	for (size_t k = 0; k < 2; k++) {
		pos = 0;
		while (head_next_field(h, &pos, &f)) {
			if (!field_is(&f, names[k]))
				continue;
			if (nh == SOCK_MAX_HEADERS) {
				truncated = true;
				break;
			}
			hs[nh++] = (struct record_header){f.name, f.name_len, f.value, f.value_len};
		}
	}
	if (!nh && h->status != 401 && h->status != 407)
		return;

	char url[NET_URL_MAX];
	if (req)
		url_redact(req->url, url, sizeof(url), cfg->url_full);
	struct record_transfer t = {
	    .handle = (const void *)(uintptr_t)c->ref.id,
	    .api = (enum record_api)c->api,
	    .method = req ? req->method : NULL,
	    .url = req ? url : NULL,
	    .result = 0,
	};
	struct record r = {
	    .transfer = &t,
	    .status = h->status,
	    .final = true,
	    .request = 0,
	    .flags = (nh ? 0 : RECORD_NO_CHALLENGE) | (truncated ? RECORD_TRUNCATED : 0),
	    .headers_known = true,
	    .nheaders = nh,
	    .headers = hs,
	};
	log_record(&r);
	/* The host may be a proxy that made the request for a client it
	 * accepted: that client's answer is held against this response. */
	if (cfg->verdict)
		verdict_socket_response(c, cands, &r);
}

/* Appends s (n bytes) to url at *at, keeping room for the NUL. */
static void url_put(char *url, size_t *at, const char *s, size_t n)
{
	if (n > NET_URL_MAX - 1 - *at)
		n = NET_URL_MAX - 1 - *at;
	memcpy(url + *at, s, n);
	*at += n;
	url[*at] = '\0';
}

/* "https://localhost:8443": the name the client sent, and the port and,
 * without a name, the address of the socket underneath. */
static size_t http2_url(const struct net_conn *c, const char *host, char *url)
{
	struct sockaddr_storage peer;
	socklen_t plen = sizeof(peer);
	char addr[INET6_ADDRSTRLEN + 2] = "";
	unsigned port = 0;
	size_t at = 0;

	if (c->ref.fd >= 0 && getpeername(c->ref.fd, (struct sockaddr *)&peer, &plen) == 0) {
		if (peer.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const struct sockaddr_in *)&peer;
			inet_ntop(AF_INET, &in->sin_addr, addr, sizeof(addr));
			port = ntohs(in->sin_port);
		} else if (peer.ss_family == AF_INET6) {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&peer;
			addr[0] = '[';
			inet_ntop(AF_INET6, &in6->sin6_addr, addr + 1, sizeof(addr) - 2);
			memcpy(addr + strlen(addr), "]", 2);
			port = ntohs(in6->sin6_port);
		}
	}
	if ((!host || !*host) && !addr[0])
		return 0;
	url_put(url, &at, "https://", 8);
	if (host && *host)
		url_put(url, &at, host, strlen(host));
	else
		url_put(url, &at, addr, strlen(addr));
	if (port && port != 443) {
		char digits[8];
		size_t n = sizeof(digits);
		for (; port && n; port /= 10)
			digits[--n] = (char)('0' + port % 10);
		url_put(url, &at, ":", 1);
		url_put(url, &at, digits + n, sizeof(digits) - n);
	}
	return at;
}

void sock_http2(struct net_conn *c, const char *host)
{
	const struct config *cfg = preload_config();
	if (cfg->disabled)
		return;
	char url[NET_URL_MAX];
	bool known = http2_url(c, host, url) > 0;
	struct record_transfer t = {
	    .handle = (const void *)(uintptr_t)c->ref.id,
	    .api = (enum record_api)c->api,
	    .url = known ? url : NULL,
	    .result = 0,
	};
	struct record r = {
	    .transfer = &t,
	    .status = 0,
	    .final = true,
	    .flags = RECORD_HTTP2,
	    .headers_known = false,
	};
	log_record(&r);
}
