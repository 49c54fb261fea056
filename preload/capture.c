#include "capture.h"

#include <errno.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
/* status: the response's, when known (0 otherwise).  A 401 that carries
 * WWW-Authenticate is an origin's challenge: Proxy-Authenticate belongs
 * to a proxy's 407 (RFC 9110, 11.7.1), so it is not looked for there,
 * which saves a walk of the header list on the most common record. */
static void collect(const struct curl_lib *lib, CURL *h, unsigned origin, int request, long status,
                    struct response_headers *rh)
{
	for (size_t k = 0; k < sizeof(challenge_names) / sizeof(challenge_names[0]); k++) {
		struct curl_header *ch;
		if (k == 1 && status == 401 && rh->n)
			break;
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
	table_replace(h, r);
}

/* A snapshot: the records of one transfer, packed into one allocation
 * that free() releases, for a program that exits without reading the
 * transfer's message.  Layout: a snap_head, then per record a snap_rec,
 * the method and URL bytes, and per header its two lengths and bytes. */
struct snap_head {
	size_t len; /* bytes in use, this head included */
	long pid;   /* the process that made it: a forked child does not log it */
};

struct snap_rec {
	const void *handle;
	long status;
	int request, result;
	unsigned flags;
	enum record_api api;
	bool final, headers_known, url_unknown;
	size_t nheaders;
	size_t method_len, url_len; /* SIZE_MAX: NULL */
};

struct snap_buf {
	unsigned char *p;
	size_t len, cap;
	bool failed;
};

static void snap_put(struct snap_buf *sb, const void *data, size_t n)
{
	if (sb->failed || !n)
		return;
	if (sb->cap - sb->len < n) {
		size_t cap = sb->cap ? sb->cap : 512;
		while (cap - sb->len < n)
			cap *= 2;
		unsigned char *p = realloc(sb->p, cap);
		if (!p) {
			sb->failed = true;
			return;
		}
		sb->p = p;
		sb->cap = cap;
	}
	memcpy(sb->p + sb->len, data, n);
	sb->len += n;
}

static void snap_put_str(struct snap_buf *sb, const char *s, size_t len)
{
	if (s)
		snap_put(sb, s, len);
}

static void snap_record(struct snap_buf *sb, const struct record *r)
{
	const struct record_transfer *t = r->transfer;
	struct snap_rec sr = {
	    .handle = t->handle,
	    .status = r->status,
	    .request = r->request,
	    .result = t->result,
	    .flags = r->flags,
	    .api = t->api,
	    .final = r->final,
	    .headers_known = r->headers_known,
	    .url_unknown = r->url_unknown,
	    .nheaders = r->nheaders,
	    .method_len = t->method ? strlen(t->method) : SIZE_MAX,
	    .url_len = t->url ? strlen(t->url) : SIZE_MAX,
	};

	if (!sb->len) {
		struct snap_head head = {0, (long)getpid()};
		snap_put(sb, &head, sizeof(head));
	}
	snap_put(sb, &sr, sizeof(sr));
	snap_put_str(sb, t->method, sr.method_len);
	snap_put_str(sb, t->url, sr.url_len);
	for (size_t i = 0; i < r->nheaders; i++) {
		const struct record_header *h = &r->headers[i];
		size_t lens[2] = {h->name_len, h->value_len};
		snap_put(sb, lens, sizeof(lens));
		snap_put(sb, h->name, h->name_len);
		snap_put(sb, h->value, h->value_len);
	}
}

/* Calls fn on each record of a snapshot, rebuilt on the stack and heap;
 * false when it was made by another process. */
static bool snapshot_each(const void *snap, bool same_process,
                          void (*fn)(struct record *r, void *arg), void *arg)
{
	struct snap_head head;
	const unsigned char *p = snap;

	memcpy(&head, p, sizeof(head));
	if (same_process && head.pid != (long)getpid())
		return false;
	size_t at = sizeof(head);
	while (at + sizeof(struct snap_rec) <= head.len) {
		struct snap_rec sr;
		memcpy(&sr, p + at, sizeof(sr));
		at += sizeof(sr);
		struct record_transfer t = {
		    .handle = sr.handle,
		    .api = sr.api,
		    .result = sr.result,
		};
		char *method =
		    sr.method_len == SIZE_MAX ? NULL : strndup((const char *)p + at, sr.method_len);
		at += sr.method_len == SIZE_MAX ? 0 : sr.method_len;
		char *url =
		    sr.url_len == SIZE_MAX ? NULL : strndup((const char *)p + at, sr.url_len);
		at += sr.url_len == SIZE_MAX ? 0 : sr.url_len;
		t.method = method;
		t.url = url;
		struct record_header *hs = sr.nheaders ? calloc(sr.nheaders, sizeof(*hs)) : NULL;
		for (size_t i = 0; i < sr.nheaders; i++) {
			size_t lens[2];
			memcpy(lens, p + at, sizeof(lens));
			at += sizeof(lens);
			if (hs) {
				hs[i].name = (const char *)p + at;
				hs[i].name_len = lens[0];
				hs[i].value = (const char *)p + at + lens[0];
				hs[i].value_len = lens[1];
			}
			at += lens[0] + lens[1];
		}
		struct record r = {
		    .transfer = &t,
		    .status = sr.status,
		    .final = sr.final,
		    .request = sr.request,
		    .flags = sr.flags,
		    .headers_known = sr.headers_known,
		    .url_unknown = sr.url_unknown,
		    .nheaders = sr.nheaders,
		    .headers = hs,
		};
		/* Short of memory, the record is left out rather than cut. */
		if ((!sr.nheaders || hs) && (sr.method_len == SIZE_MAX || method) &&
		    (sr.url_len == SIZE_MAX || url))
			fn(&r, arg);
		free(hs);
		free(method);
		free(url);
	}
	return true;
}

static void log_at_exit(struct record *r, void *arg)
{
	(void)arg;
	r->flags |= RECORD_AT_EXIT;
	log_record(r);
}

void capture_snapshot_log(void *snap)
{
	if (snap)
		snapshot_each(snap, true, log_at_exit, NULL);
	free(snap);
}

struct replay {
	const struct config *cfg;
	CURL *h;
	int result;
	const struct net_ref *conn;
	bool final_recorded;
};

/* A snapshot's records as capture_chain would have made them then, with
 * the result known now: its flags follow the result, as in capture_chain. */
static void replay_one(struct record *r, void *arg)
{
	struct replay *rp = arg;
	struct record_transfer *t = (struct record_transfer *)r->transfer;

	t->result = rp->result;
	r->flags &= ~(unsigned)(RECORD_INCOMPLETE | RECORD_NO_CHALLENGE);
	if (rp->result != CURLE_OK)
		r->flags |= RECORD_INCOMPLETE;
	else if (r->headers_known && !r->nheaders)
		r->flags |= RECORD_NO_CHALLENGE;
	log_record(r);
	if (r->final) {
		remember(r, rp->h);
		if (rp->cfg->verdict)
			verdict_expect(*rp->conn, r);
		rp->final_recorded = true;
	}
}

void capture_snapshot_replay(const struct config *cfg, void *snap, CURL *h, int result,
                             const struct net_ref *conn)
{
	int saved = errno;
	struct replay rp = {cfg, h, result, conn, false};

	snapshot_each(snap, false, replay_one, &rp);
	if (!rp.final_recorded)
		table_drop(h);
	free(snap);
	errno = saved;
}

static void capture_chain_to(const struct config *cfg, const struct curl_lib *lib, CURL *h,
                             int result, enum record_api api, const struct net_ref *conn,
                             long status, struct snap_buf *defer);

void capture_chain(const struct config *cfg, const struct curl_lib *lib, CURL *h, int result,
                   enum record_api api, const struct net_ref *conn, long status)
{
	capture_chain_to(cfg, lib, h, result, api, conn, status, NULL);
}

void *capture_snapshot(const struct config *cfg, const struct curl_lib *lib, CURL *h)
{
	int saved = errno;
	long status = 0;
	struct snap_buf sb = {0};

	lib->real_curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (!config_status_skipped(cfg, status) || !lib->real_curl_easy_header ||
	    capture_has_request(lib, h, 1))
		capture_chain_to(cfg, lib, h, RECORD_RESULT_UNKNOWN, RECORD_API_MULTI, NULL, status,
		                 &sb);
	errno = saved;
	if (sb.failed || !sb.len) {
		free(sb.p);
		return NULL;
	}
	struct snap_head head;
	memcpy(&head, sb.p, sizeof(head));
	head.len = sb.len;
	memcpy(sb.p, &head, sizeof(head));
	return sb.p;
}

/* With defer, the records go into a snapshot instead of the log, and
 * neither the table nor verdicts hear of them. */
static void capture_chain_to(const struct config *cfg, const struct curl_lib *lib, CURL *h,
                             int result, enum record_api api, const struct net_ref *conn,
                             long status, struct snap_buf *defer)
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
		if (!defer)
			table_drop(h);
		return;
	}

	char *method = NULL, *url = NULL, *redacted = NULL, *url_heap = NULL;
	char url_small[512];
	lib->real_curl_easy_getinfo(h, CURLINFO_EFFECTIVE_METHOD, &method);
	lib->real_curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &url);
	/* Without userinfo, query or fragment, a URL is its own redaction. */
	if (url && !url[strcspn(url, "@?#")]) {
		redacted = url;
	} else if (url) {
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
			collect(lib, h, connect_flag ? CURLH_CONNECT : CURLH_HEADER, req,
			        r.final ? status : 0, &rh);
		r.nheaders = rh.n;
		r.headers = rh.h;
		r.flags = connect_flag | (rh.truncated ? RECORD_TRUNCATED : 0);
		r.status = r.final ? status : earlier_status(lib, h, req, &rh, &r.flags);
		if (result != CURLE_OK)
			r.flags |= RECORD_INCOMPLETE;
		else if (r.headers_known && !r.nheaders)
			r.flags |= RECORD_NO_CHALLENGE;

		if (!rh.failed && wanted(cfg, &r) && defer) {
			snap_record(defer, &r);
		} else if (!rh.failed && wanted(cfg, &r)) {
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
	if (!final_recorded && !defer)
		table_drop(h);
	free(url_heap);
}
