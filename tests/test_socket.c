/* The socket source (GitHub issue 14): HTTP/1.x on sockets the program
 * connects, read from real programs that use no libcurl: Node's fetch
 * (undici) and Python's urllib, requests and httpx, each against the local
 * upstream, once without the preload as the control.  Each upstream
 * 401/403 is exactly one record with api "socket", its method and URL from
 * the request head, and its challenges parsed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tracing.h"

#define NODE "/usr/bin/node"
#define PYTHON "/usr/bin/python3"
#define SOCK_CLIENT TEST_PROGRAMS_SRC "/sock_client.py"
#define SOCK_FETCH TEST_PROGRAMS_SRC "/sock_fetch.mjs"
#define TLS_ASYNCIO TEST_PROGRAMS_SRC "/tls_asyncio.py"
#define GNUTLS_GET TEST_PROGRAMS_SRC "/gnutls_get.sh"
#define GNUTLS_CLI "/usr/bin/gnutls-cli"
#define SCOPE_VALUE "Bearer error=\"insufficient_scope\", scope=\"mcp:tools mcp:admin\""

static struct server srv;

static void setup(void)
{
	server_start(&srv);
}

static void teardown(void)
{
	server_stop(&srv);
}

TestSuite(socket, .init = setup, .fini = teardown, .timeout = 60);

/* The one record of url: the URLs are distinct, so a response recorded
 * twice shows here. */
static json_t *record_for(const struct traced *t, const char *url)
{
	json_t *found = NULL;
	size_t n = 0;

	for (size_t i = 0; i < t->n; i++)
		if (jstr(t->rec[i], "url") && strcmp(jstr(t->rec[i], "url"), url) == 0) {
			found = t->rec[i];
			n++;
		}
	cr_assert_eq(n, 1, "%zu records for %s, not exactly one", n, url);
	return found;
}

/* /401, /200, /403-scope, /401-many, /401-none and /407, in that order, on
 * one connection where the client keeps one alive: five records. */
static char *url_of(const struct frontend *tls, const char *path)
{
	return tls ? frontend_url(tls, path) : server_url(&srv, path);
}

static void expect_exchanges_on(const struct frontend *tls, const char *api,
                                const char *const argv_head[], size_t nhead, const char *what)
{
	char *u401 = url_of(tls, "/401"), *u200 = url_of(tls, "/200");
	char *u403 = url_of(tls, "/403-scope"), *many = url_of(tls, "/401-many");
	char *none = url_of(tls, "/401-none"), *u407 = url_of(tls, "/407");
	const char *argv[16];
	size_t a = 0;
	for (size_t i = 0; i < nhead; i++)
		argv[a++] = argv_head[i];
	if (tls) {
		argv[a++] = "--ca";
		argv[a++] = tls->cert;
	}
	argv[a++] = u401;
	argv[a++] = u200;
	argv[a++] = u403;
	argv[a++] = many;
	argv[a++] = none;
	argv[a++] = u407;
	argv[a] = NULL;

	struct traced t;
	trace_run(&t, argv, NULL);
	cr_expect_eq(t.with.code, 0, "%s: %s", what, t.with.err);
	/* Node's fetch fails a 407 that no proxy of its own asked for. */
	const char *out = strcmp(argv_head[0], NODE) == 0 ? "401\n200\n403\n401\n401\nfailed\n"
	                                                   : "401\n200\n403\n401\n401\n407\n";
	cr_expect_str_eq(t.with.out, out, "%s", what);
	expect_count(&t, 5, what);
	expect_record(record_for(&t, u401),
	              &(struct want){.api = api,
	                             .status = 401,
	                             .final = true,
	                             .flags = "",
	                             .url = u401,
	                             .nheaders = 1,
	                             .name = tls ? "Www-Authenticate" : "WWW-Authenticate",
	                             .value = bearer_401(&srv)},
	              what);
	expect_record(record_for(&t, u403),
	              &(struct want){.api = api,
	                             .status = 403,
	                             .final = true,
	                             .flags = "",
	                             .url = u403,
	                             .nheaders = 1,
	                             .value = SCOPE_VALUE},
	              what);
	expect_record(record_for(&t, many),
	              &(struct want){.api = api,
	                             .status = 401,
	                             .final = true,
	                             .flags = "",
	                             .url = many,
	                             .nheaders = 3,
	                             .value = "Negotiate"},
	              what);
	expect_record(
	    record_for(&t, none),
	    &(struct want){
	        .api = api, .status = 401, .final = true, .flags = "no_challenge", .url = none},
	    what);
	expect_record(record_for(&t, u407),
	              &(struct want){.api = api,
	                             .status = 407,
	                             .final = true,
	                             .flags = "",
	                             .url = u407,
	                             .nheaders = 1,
	                             .name = "Proxy-Authenticate",
	                             .value = "Basic realm=\"proxy\""},
	              what);
	json_t *ch = json_object_get(record_for(&t, u401), "challenges");
	cr_expect_str_eq(jstr(json_array_get(ch, 0), "scheme"), "Bearer", "%s", what);
	trace_free(&t);
}

static void expect_exchanges(const char *const argv_head[], size_t nhead, const char *what)
{
	expect_exchanges_on(NULL, "socket", argv_head, nhead, what);
}

/* Over TLS, through OpenSSL's libssl.so.3, which Python loads with its
 * RTLD_LOCAL _ssl module: the same records, api "openssl".  The front
 * (nghttpx) writes header names in its own case. */
static void over_tls(const char *lib)
{
	struct frontend tls;
	frontend_start(&tls, &srv);
	expect_exchanges_on(&tls, "openssl", (const char *[]){PYTHON, SOCK_CLIENT, lib}, 3, lib);
	frontend_stop(&tls);
}

Test(socket, python_urllib_https)
{
	over_tls("urllib");
}

Test(socket, python_requests_https)
{
	over_tls("requests");
}

Test(socket, python_httpx_https)
{
	over_tls("httpx");
}

Test(socket, node_fetch)
{
	need_node();
	expect_exchanges((const char *[]){NODE, SOCK_FETCH}, 2, "node fetch");
}

Test(socket, python_urllib)
{
	expect_exchanges((const char *[]){PYTHON, SOCK_CLIENT, "urllib"}, 3, "urllib");
}

Test(socket, python_requests)
{
	expect_exchanges((const char *[]){PYTHON, SOCK_CLIENT, "requests"}, 3, "requests");
}

Test(socket, python_httpx)
{
	expect_exchanges((const char *[]){PYTHON, SOCK_CLIENT, "httpx"}, 3, "httpx");
}

/* The Node reverse proxy in MODE under the preload, with verdicts on, asked
 * by the client for one URL; returns its log once it exited. */
static json_t **through_node_proxy(const char *mode, size_t *n)
{
	char *up = server_url(&srv, "/401");
	struct proxy p;

	need_node();
	const char *argv[] = {NODE, TEST_PROGRAMS_SRC "/sock_proxy.mjs", mode, up, "1", NULL};
	proxy_start(&p, argv, true, NULL);
	char *url = NULL;
	cr_assert(asprintf(&url, "http://127.0.0.1:%d/mcp", p.port) > 0);
	struct run r;
	run(&r, (const char *[]){TEST_CLIENT, "--quiet", url, NULL}, NULL);
	run_free(&r);
	proxy_wait(&p);
	return log_read(p.log, n);
}

static json_t *one_of_type(json_t **recs, size_t n, const char *type)
{
	json_t *found = NULL;
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (strcmp(jstr(recs[i], "type"), type) == 0) {
			found = recs[i];
			k++;
		}
	cr_assert_eq(k, 1, "%zu records of type %s, not one", k, type);
	return found;
}

static void node_proxy(const char *mode, const char *want)
{
	size_t n;
	json_t **recs = through_node_proxy(mode, &n);
	json_t *rec = one_of_type(recs, n, "response");
	cr_expect_str_eq(jstr(rec, "api"), "socket");
	cr_expect_eq(jint(rec, "status"), 401);
	json_t *v = one_of_type(recs, n, "verdict");
	cr_expect_str_eq(jstr(v, "verdict"), want);
	cr_expect_eq(jint(v, "upstream_status"), 401);
	cr_expect_eq(jint(v, "downstream_status"), 401);
	json_t *ch = json_array_get(json_object_get(v, "challenges"), 0);
	cr_expect_str_eq(jstr(ch, "result"), want);
	json_t *s = one_of_type(recs, n, "summary");
	cr_expect_eq(jint(s, want), 1);
	log_free(recs, n);
}

Test(socket, node_proxy_that_drops_the_challenge)
{
	node_proxy("drop", "dropped");
}

Test(socket, node_proxy_that_forwards_the_challenge)
{
	node_proxy("forward", "forwarded");
}

/* Python's asyncio runs TLS on ssl.SSLObject over memory BIOs: OpenSSL's
 * SSL_get_fd is -1, so the session is followed by its pointer.  Each URL
 * on a connection of its own, ALPN http/1.1: the 401 is one record, api
 * "openssl", its URL from the request head; the 200 none. */
Test(socket, python_asyncio_memory_bio)
{
	struct frontend tls;
	frontend_start(&tls, &srv);
	char *u401 = frontend_url(&tls, "/401"), *u200 = frontend_url(&tls, "/200");
	struct traced t;
	trace_run(&t, (const char *[]){PYTHON, TLS_ASYNCIO, "--ca", tls.cert, u401, u200, NULL},
	          NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_str_eq(t.with.out, "401\n200\n");
	expect_count(&t, 1, "asyncio");
	expect_record(record_for(&t, u401),
	              &(struct want){.api = "openssl",
	                             .status = 401,
	                             .final = true,
	                             .flags = "",
	                             .url = u401,
	                             .nheaders = 1,
	                             .name = "Www-Authenticate",
	                             .value = bearer_401(&srv)},
	              "asyncio");
	json_t *ch = json_object_get(record_for(&t, u401), "challenges");
	cr_expect_str_eq(jstr(json_array_get(ch, 0), "scheme"), "Bearer");
	trace_free(&t);
	frontend_stop(&tls);
}

/* A session's slot is let go at SSL_free: more sessions one after the
 * other than there are slots (64) are each followed, and a session whose
 * slot was given up on (HTTP/2) leaves nothing behind for the next one,
 * which may get its address. */
Test(socket, python_asyncio_sessions_are_released)
{
	struct frontend tls;
	frontend_start(&tls, &srv);
	char *h2 = NULL;
	cr_assert(asprintf(&h2, "h2+%s", frontend_url(&tls, "/")) > 0);
	struct traced t;
	trace_run(&t,
	          (const char *[]){PYTHON, TLS_ASYNCIO, "--ca", tls.cert, "--repeat", "40", h2,
	                           frontend_url(&tls, "/401"), NULL},
	          NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	expect_count(&t, 80, "80 sessions");
	for (size_t i = 0; i < t.n; i++)
		cr_expect_eq(jint(t.rec[i], "status"), i % 2 ? 401 : 0, "record %zu", i);
	free(h2);
	trace_free(&t);
	frontend_stop(&tls);
}

/* ALPN chose h2: the connection is not read, and is one record flagged
 * http2, with the name the client sent (SNI) as its URL, and the port when
 * there is a socket underneath; the client's preface and the server's
 * frames make no other record. */
static void h2_is_one_flagged_record(const char *mode, bool with_port)
{
	struct frontend tls;
	frontend_start(&tls, &srv);
	bool self = strcmp(mode, "--h2-self") == 0;
	struct traced t;
	trace_run(&t,
	          (const char *[]){PYTHON, TLS_ASYNCIO, "--ca", tls.cert, mode,
	                           self ? tls.key : frontend_url(&tls, "/401"), NULL},
	          NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_str_eq(t.with.out, "h2\n");
	expect_count(&t, 1, mode);
	json_t *rec = t.rec[0];
	char *dump = json_dumps(rec, JSON_COMPACT), *url;
	if (with_port)
		cr_assert(asprintf(&url, "https://localhost:%d", tls.port) > 0);
	else
		url = strdup("https://localhost");
	cr_expect_str_eq(jstr(rec, "api"), "openssl", "%s", dump);
	cr_expect_eq(jint(rec, "status"), 0, "%s", dump);
	cr_expect_str_eq(jstr(rec, "url"), url, "%s", dump);
	cr_expect(json_is_null(json_object_get(rec, "method")), "%s", dump);
	cr_expect(json_is_null(json_object_get(rec, "headers")), "%s", dump);
	json_t *flags = json_object_get(rec, "flags");
	cr_expect(json_array_size(flags) == 1 &&
	              strcmp(json_string_value(json_array_get(flags, 0)), "http2") == 0,
	          "%s", dump);
	free(url);
	free(dump);
	trace_free(&t);
	frontend_stop(&tls);
}

Test(socket, python_asyncio_h2_is_one_flagged_record)
{
	h2_is_one_flagged_record("--h2", false);
}

Test(socket, python_ssl_socket_h2_is_one_flagged_record)
{
	h2_is_one_flagged_record("--h2-socket", true);
}

/* The same against an asyncio TLS server in the same process: the
 * server's end of a session (SSL_is_server) is not followed, so its
 * SETTINGS frame makes no second record. */
Test(socket, python_asyncio_h2_server_in_process_is_not_followed)
{
	h2_is_one_flagged_record("--h2-self", false);
}

/* GnuTLS's own client, gnutls-cli, writing a GET read from its stdin: one
 * record, api "gnutls". */
Test(socket, gnutls_cli)
{
	need_program(GNUTLS_CLI, "gnutls-bin");
	struct frontend tls;
	frontend_start(&tls, &srv);
	char *u401 = frontend_url(&tls, "/401");
	struct traced t;
	trace_run(&t, (const char *[]){GNUTLS_GET, tls.cert, u401, NULL}, NULL);
	cr_expect_eq(t.with.code, 0, "%s", t.with.err);
	cr_expect_str_eq(t.with.out, "401\n");
	expect_count(&t, 1, "gnutls-cli");
	expect_record(record_for(&t, u401),
	              &(struct want){.api = "gnutls",
	                             .status = 401,
	                             .final = true,
	                             .flags = "",
	                             .url = u401,
	                             .nheaders = 1,
	                             .value = bearer_401(&srv)},
	              "gnutls-cli");
	trace_free(&t);
	frontend_stop(&tls);
}
