#include "capture.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "table.h"
#include "url.h"
#include "verdict.h"

/* The challenge headers, in the order they are recorded. */
static const char *const challenge_names[] = {"WWW-Authenticate", "Proxy-Authenticate"};

/* A response's challenge headers: most have one or two, which fit in
 * local; more go to the heap. */
struct response_headers {
	struct record_header *h;
	size_t n, cap;
	bool truncated;
	bool failed;
	struct record_header local[4];
};

static void headers_init(struct response_headers *rh)
{
	rh->h = rh->local;
	rh->n = 0;
	rh->cap = sizeof(rh->local) / sizeof(rh->local[0]);
	rh->truncated = rh->failed = false;
}

static void headers_free(struct response_headers *rh)
{
	if (rh->h != rh->local)
		free(rh->h);
}

static void headers_add(struct response_headers *rh, const struct curl_header *ch)
{
	if (rh->n == TABLE_MAX_VALUES) {
		rh->truncated = true;
		return;
	}
	if (rh->n == rh->cap) {
		size_t cap = rh->cap * 2;
		struct record_header *p = rh->h == rh->local ? malloc(cap * sizeof(*p))
		                                             : realloc(rh->h, cap * sizeof(*p));
		if (!p) {
			rh->failed = true;
			return;
		}
		if (rh->h == rh->local)
			memcpy(p, rh->local, sizeof(rh->local));
		rh->h = p;
		rh->cap = cap;
	}
	struct record_header *h = &rh->h[rh->n++];
	h->name = ch->name;
	h->name_len = strlen(ch->name);
	h->value = ch->value;
	h->value_len = strlen(ch->value);
	/* Some libcurl versions store an empty value as a lone CR. */
	if (h->value_len == 1 && h->value[0] == '\r')
		h->value_len = 0;
}

/* libcurl's header API walks the transfer's whole header list on every
 * call (curl_easy_nextheader too: it counts the name's occurrences each
 * time), so reading value i costs as much as the response has lines.  A
 * hostile upstream sending thousands of challenge lines would make reading
 * them all quadratic: reading stops at the cap, which keeps the work linear
 * in the response's size, whatever arrives. */
static void collect(const struct curl_lib *lib, CURL *h, unsigned origin, int request,
                    struct response_headers *rh)
{
	for (size_t k = 0; k < sizeof(challenge_names) / sizeof(challenge_names[0]); k++) {
		struct curl_header *ch;
		if (lib->real_curl_easy_header(h, challenge_names[k], 0, origin, request, &ch) !=
		    CURLHE_OK)
			continue;
		size_t amount = ch->amount;
		headers_add(rh, ch);
		for (size_t i = 1; i < amount && !rh->failed; i++) {
			if (rh->n >= TABLE_MAX_VALUES) {
				rh->truncated = true;
				break;
			}
			if (lib->real_curl_easy_header(h, challenge_names[k], i, origin, request,
			                               &ch) == CURLHE_OK)
				headers_add(rh, ch);
		}
	}
}

static bool has_header(const struct curl_lib *lib, CURL *h, const char *name, unsigned origin,
                       int request, struct curl_header **out)
{
	struct curl_header *ch;
	if (lib->real_curl_easy_header(h, name, 0, origin, request, &ch) != CURLHE_OK)
		return false;
	if (out)
		*out = ch;
	return true;
}

/* How many requests the transfer made. */
static int request_count(const struct curl_lib *lib, CURL *h)
{
	int n = 1;

	while (n < 1000 && capture_has_request(lib, h, n))
		n++;
	return n;
}

/* libcurl keeps the status of the last response only.  HTTP/2 and 3 keep a
 * ":status" per response; on HTTP/1 a response that was followed by another
 * request was a challenge if it carries one and no Location, else a
 * redirect, whose code is unknown. */
static long earlier_status(const struct curl_lib *lib, CURL *h, int request,
                           const struct response_headers *rh, unsigned *flags)
{
	struct curl_header *ch;

	if (has_header(lib, h, ":status", CURLH_PSEUDO, request, &ch)) {
		char *end;
		long v = strtol(ch->value, &end, 10);
		if (*end == '\0' && v >= 100 && v <= 999)
			return v;
	}
	*flags |= RECORD_STATUS_INFERRED;
	if (!rh->n || has_header(lib, h, "Location", CURLH_HEADER, request, NULL))
		return 0;
	return strcasecmp(rh->h[0].name, "Proxy-Authenticate") == 0 ? 407 : 401;
}

static bool wanted(const struct config *cfg, const struct record *r)
{
	if (!config_status_wanted(cfg, r->status))
		return false;
	if (!r->headers_known)
		return r->final;
	return r->nheaders || (r->final && (r->status == 401 || r->status == 407));
}

static void remember(const struct record *r, CURL *h)
{
	struct table_entry *e = table_entry_new(h, r);
	if (e)
		table_put(e);
	else
		table_drop(h);
}

void capture_chain(const struct config *cfg, const struct curl_lib *lib, CURL *h, int result,
                   enum record_api api, const struct net_ref *conn, long status)
{
	long connect = 0;
	unsigned connect_flag = 0;
	int last = 0;

	/* A tunnel refused by the proxy leaves no response code: the answer
	 * to CONNECT is then the final one. */
	if (!status &&
	    lib->real_curl_easy_getinfo(h, CURLINFO_HTTP_CONNECTCODE, &connect) == CURLE_OK &&
	    connect) {
		status = connect;
		connect_flag = RECORD_CONNECT;
	}
	if (lib->real_curl_easy_header && !connect_flag)
		last = request_count(lib, h) - 1;

	if (!last && !config_status_wanted(cfg, status)) {
		table_drop(h);
		return;
	}

	char *method = NULL, *url = NULL, *redacted = NULL, *url_heap = NULL;
	char url_small[512];
	lib->real_curl_easy_getinfo(h, CURLINFO_EFFECTIVE_METHOD, &method);
	lib->real_curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url);
	if (url) {
		size_t n = url_redact(url, url_small, sizeof(url_small), cfg->url_full);
		if (n < sizeof(url_small)) {
			redacted = url_small;
		} else if ((url_heap = malloc(n + 1))) {
			url_redact(url, url_heap, n + 1, cfg->url_full);
			redacted = url_heap;
		}
	}
	struct record_transfer t = {
	    .handle = h,
	    .api = api,
	    .method = method,
	    .url = redacted,
	    .result = result,
	};

	/* Responses before the last redirect came from other URLs. */
	int first_known_url = 0;
	for (int req = last - 1; req >= 0 && lib->real_curl_easy_header; req--) {
		if (has_header(lib, h, "Location", CURLH_HEADER, req, NULL)) {
			first_known_url = req + 1;
			break;
		}
	}

	bool final_recorded = false;
	for (int req = 0; req <= last; req++) {
		struct response_headers rh;
		headers_init(&rh);
		struct record r = {
		    .transfer = &t,
		    .final = req == last,
		    .request = req,
		    .headers_known = lib->real_curl_easy_header != NULL,
		    .url_unknown = req < first_known_url,
		};
		if (r.headers_known)
			collect(lib, h, connect_flag ? CURLH_CONNECT : CURLH_HEADER, req, &rh);
		r.nheaders = rh.n;
		r.headers = rh.h;
		r.flags = connect_flag | (rh.truncated ? RECORD_TRUNCATED : 0);
		r.status = r.final ? status : earlier_status(lib, h, req, &rh, &r.flags);
		if (result != CURLE_OK)
			r.flags |= RECORD_INCOMPLETE;
		else if (r.headers_known && !r.nheaders)
			r.flags |= RECORD_NO_CHALLENGE;

		if (!rh.failed && wanted(cfg, &r)) {
			log_record(&r);
			if (r.final) {
				remember(&r, h);
				if (cfg->verdict)
					verdict_expect(*conn, &r);
				final_recorded = true;
			}
		}
		headers_free(&rh);
	}
	if (!final_recorded)
		table_drop(h);
	free(url_heap);
}
