/* The demo's scenario (demo.sh), as a test: the upstream, a proxy under the
 * authtap launcher, a client.  Each fact the demo prints is asserted here:
 *
 *   lossy proxy: the client gets a 401 without WWW-Authenticate, while
 *   authtap's log shows the Bearer challenge that reached the proxy;
 *   fixed proxy: the client gets the challenge, its resource_metadata
 *   pointing at the proxy, whose metadata names the proxy as resource;
 *   and authtap's verdict on each: dropped, altered (resource_metadata
 *   rewritten), and converted for a gateway that answers 502.
 *
 * The client is libcurl in this process, which is never preloaded; the
 * control runs the proxies without authtap and expects the same answers. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "child.h"

#define PRM "/.well-known/oauth-protected-resource"
#define INITIALIZE "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{}}"

struct reply {
	long status;
	char *challenge; /* the first WWW-Authenticate, NULL when none */
	size_t challenges;
	char *expose; /* Access-Control-Expose-Headers */
	char *body;
	size_t body_len;
};

static struct child upstream, proxy;
static char dir[64];
static char log_path[128];

static const char *env(const char *name)
{
	const char *v = getenv(name);

	cr_assert(v && *v, "%s is not set: run this with meson test", name);
	return v;
}

static void setup(void)
{
	char *argv[] = {(char *)env("EXAMPLE_UPSTREAM"), "0", NULL};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	strcpy(dir, "/tmp/authtap-demo-XXXXXX");
	cr_assert_not_null(mkdtemp(dir));
	snprintf(log_path, sizeof(log_path), "%s/proxy.jsonl", dir);
	cr_assert_eq(child_start(&upstream, argv, 5000), 0, "upstream did not start");
	proxy.pid = -1;
	proxy.out = -1;
}

static void teardown(void)
{
	child_stop(&proxy);
	child_stop(&upstream);
	unlink(log_path);
	rmdir(dir);
	curl_global_cleanup();
}

TestSuite(demo, .init = setup, .fini = teardown, .timeout = 60);

/* authtap -o LOG -- PROXY --upstream URL 0, or the proxy alone. */
static void start_proxy(const char *exe_env, int traced)
{
	char *exe = (char *)env(exe_env);
	char *launcher = (char *)env("EXAMPLE_AUTHTAP");
	char *traced_argv[] = {launcher, "-o", log_path, "--", exe, "--upstream", upstream.url,
			       "0",	 NULL};
	char *plain_argv[] = {exe, "--upstream", upstream.url, "0", NULL};

	cr_assert_eq(child_start(&proxy, traced ? traced_argv : plain_argv, 5000), 0,
		     "%s did not start", exe);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	char *p = realloc(r->body, r->body_len + size * n + 1);

	if (!p)
		return 0;
	memcpy(p + r->body_len, data, size * n);
	r->body = p;
	r->body_len += size * n;
	p[r->body_len] = '\0';
	return size * n;
}

static char *header(CURL *easy, const char *name, size_t *amount)
{
	struct curl_header *h;

	if (curl_easy_header(easy, name, 0, CURLH_HEADER, -1, &h) != CURLHE_OK)
		return NULL;
	if (amount)
		*amount = h->amount;
	return strdup(h->value);
}

/* What an MCP client does first: POST /mcp, or GET the metadata. */
static void client(const char *method, const char *url, const char *token, struct reply *r)
{
	struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/json");
	char auth[128];
	CURL *easy;

	memset(r, 0, sizeof(*r));
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		headers = curl_slist_append(headers, auth);
	}
	easy = curl_easy_init();
	cr_assert_not_null(easy);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, r);
	if (strcmp(method, "POST") == 0)
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, INITIALIZE);
	cr_assert_eq(curl_easy_perform(easy), CURLE_OK, "%s %s failed", method, url);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
	r->challenge = header(easy, "WWW-Authenticate", &r->challenges);
	r->expose = header(easy, "Access-Control-Expose-Headers", NULL);
	curl_easy_cleanup(easy);
	curl_slist_free_all(headers);
}

static void reply_free(struct reply *r)
{
	free(r->challenge);
	free(r->expose);
	free(r->body);
}

/* The "response" records in authtap's log (other types are not this
 * test's business); the proxy writes one before it answers the client, but
 * give the file a moment all the same. */
static json_t *responses(size_t want)
{
	json_t *all = json_array();
	const char *type;
	char line[16384];
	int tries;
	FILE *f;

	for (tries = 0; tries < 50; tries++) {
		json_array_clear(all);
		f = fopen(log_path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			json_error_t err;
			json_t *rec = json_loads(line, 0, &err);

			cr_assert_not_null(rec, "bad log line: %s: %s", err.text, line);
			type = json_string_value(json_object_get(rec, "type"));
			if (type && strcmp(type, "response") == 0)
				json_array_append_new(all, rec);
			else
				json_decref(rec);
		}
		if (f)
			fclose(f);
		if (json_array_size(all) >= want)
			break;
		usleep(100000);
	}
	return all;
}

static const char *str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "(none)";
}

static bool has_string(json_t *array, const char *want)
{
	size_t i;
	json_t *v;

	json_array_foreach(array, i, v)
		if (json_is_string(v) && strcmp(json_string_value(v), want) == 0)
			return true;
	return false;
}

/* authtap saw the upstream's challenge arrive at the proxy. */
static void expect_upstream_challenge_logged(void)
{
	json_t *all = responses(1);
	json_t *rec, *ch, *params, *hdr;
	char want[256];

	cr_assert_eq(json_array_size(all), 1, "want one response record in %s", log_path);
	rec = json_array_get(all, 0);
	cr_expect_eq(json_integer_value(json_object_get(rec, "v")), 1);
	cr_expect_str_eq(str(rec, "type"), "response");
	cr_expect_str_eq(str(rec, "api"), "easy");
	cr_expect_str_eq(str(rec, "method"), "POST");
	snprintf(want, sizeof(want), "%s/mcp", upstream.url);
	cr_expect_str_eq(str(rec, "url"), want);
	cr_expect_eq(json_integer_value(json_object_get(rec, "status")), 401);
	cr_expect(json_is_true(json_object_get(rec, "final")));
	cr_expect(!has_string(json_object_get(rec, "flags"), "no_challenge"));

	hdr = json_array_get(json_object_get(rec, "headers"), 0);
	cr_expect(strcasecmp(str(hdr, "name"), "WWW-Authenticate") == 0);

	ch = json_array_get(json_object_get(rec, "challenges"), 0);
	cr_assert_not_null(ch, "no challenge parsed");
	cr_expect_str_eq(str(ch, "scheme"), "Bearer");
	params = json_object_get(ch, "params");
	snprintf(want, sizeof(want), "%s" PRM, upstream.url);
	cr_expect_str_eq(str(params, "resource_metadata"), want);
	cr_expect_str_eq(str(params, "scope"), "mcp:tools");
	json_decref(all);
}

/* The first record of the given type, waiting for it a little: the proxy
 * writes its verdict when it writes the response head, which the client
 * may read first. */
static json_t *record_of_type(const char *want)
{
	char line[16384];

	for (int tries = 0; tries < 50; tries++) {
		FILE *f = fopen(log_path, "r");
		while (f && fgets(line, sizeof(line), f)) {
			json_t *rec = json_loads(line, 0, NULL);
			const char *type = json_string_value(json_object_get(rec, "type"));
			if (type && strcmp(type, want) == 0) {
				fclose(f);
				return rec;
			}
			json_decref(rec);
		}
		if (f)
			fclose(f);
		usleep(100000);
	}
	cr_assert_fail("no %s record in %s", want, log_path);
	return NULL;
}

/* authtap's verdict on what the proxy passed on to its client. */
static json_t *expect_verdict(const char *verdict, long downstream)
{
	json_t *v = record_of_type("verdict");
	char want[256];

	cr_expect_str_eq(str(v, "verdict"), verdict);
	cr_expect_eq(json_integer_value(json_object_get(v, "upstream_status")), 401);
	cr_expect_eq(json_integer_value(json_object_get(v, "downstream_status")), downstream);
	snprintf(want, sizeof(want), "%s/mcp", upstream.url);
	cr_expect_str_eq(str(v, "url"), want);
	return v;
}

/* At exit, the proxy's summary counts the one challenge. */
static void expect_summary(const char *field)
{
	child_stop(&proxy);
	json_t *s = record_of_type("summary");
	cr_expect_eq(json_integer_value(json_object_get(s, "challenges")), 1);
	cr_expect_eq(json_integer_value(json_object_get(s, field)), 1, "%s", field);
	json_decref(s);
}

/* The client sees the challenge, pointing at the proxy. */
static void expect_challenge_via_proxy(const struct reply *r, const char *error)
{
	char want[256];

	cr_assert_not_null(r->challenge, "the client got no WWW-Authenticate");
	cr_expect_eq(r->challenges, 1);
	cr_expect(strncmp(r->challenge, "Bearer ", 7) == 0, "%s", r->challenge);
	snprintf(want, sizeof(want), "resource_metadata=\"%s" PRM "\"", proxy.url);
	cr_expect(strstr(r->challenge, want), "%s lacks %s", r->challenge, want);
	cr_expect(strstr(r->challenge, "scope=\"mcp:tools\""), "%s", r->challenge);
	if (error) {
		snprintf(want, sizeof(want), "error=\"%s\"", error);
		cr_expect(strstr(r->challenge, want), "%s lacks %s", r->challenge, want);
	}
	cr_expect(r->expose && strcasecmp(r->expose, "WWW-Authenticate") == 0,
		  "Access-Control-Expose-Headers: %s", r->expose ? r->expose : "(none)");
}

/* RFC 9728 §3.3: resource must equal the URL the client used. */
static void expect_metadata_names(const char *base)
{
	struct reply r;
	char url[256];
	json_t *doc;

	snprintf(url, sizeof(url), "%s" PRM, base);
	client("GET", url, NULL, &r);
	cr_assert_eq(r.status, 200, "GET %s: %ld", url, r.status);
	doc = json_loads(r.body, 0, NULL);
	cr_assert(json_is_object(doc), "not JSON: %s", r.body);
	cr_expect_str_eq(str(doc, "resource"), base);
	cr_expect_gt(json_array_size(json_object_get(doc, "authorization_servers")), 0);
	cr_expect(has_string(json_object_get(doc, "scopes_supported"), "mcp:tools"));
	json_decref(doc);
	reply_free(&r);
}

Test(demo, lossy_proxy_drops_the_challenge)
{
	struct reply r;
	char url[256];

	start_proxy("EXAMPLE_LOSSY_PROXY", 1);
	snprintf(url, sizeof(url), "%s/mcp", proxy.url);
	client("POST", url, NULL, &r);
	cr_expect_eq(r.status, 401);
	cr_expect_null(r.challenge, "the lossy proxy relayed %s", r.challenge);
	reply_free(&r);

	expect_upstream_challenge_logged();
	json_t *v = expect_verdict("dropped", 401);
	json_t *ch = json_array_get(json_object_get(v, "challenges"), 0);
	cr_expect_str_eq(str(ch, "result"), "dropped");
	cr_expect(json_is_null(json_object_get(ch, "downstream")));
	json_decref(v);
	expect_summary("dropped");
}

Test(demo, gateway_converts_the_401)
{
	struct reply r;
	char url[256];

	start_proxy("EXAMPLE_GATEWAY_PROXY", 1);
	snprintf(url, sizeof(url), "%s/mcp", proxy.url);
	client("POST", url, NULL, &r);
	cr_expect_eq(r.status, 502);
	cr_expect_null(r.challenge);
	reply_free(&r);

	expect_upstream_challenge_logged();
	json_decref(expect_verdict("converted", 502));
	expect_summary("converted");
}

Test(demo, fixed_proxy_relays_the_challenge)
{
	struct reply r;
	char url[256];

	start_proxy("EXAMPLE_FIXED_PROXY", 1);
	snprintf(url, sizeof(url), "%s/mcp", proxy.url);
	client("POST", url, NULL, &r);
	cr_expect_eq(r.status, 401);
	expect_challenge_via_proxy(&r, NULL);
	reply_free(&r);

	expect_upstream_challenge_logged();
	/* Rewritten on purpose (RFC 9728): altered, one parameter. */
	json_t *v = expect_verdict("altered", 401);
	json_t *ch = json_array_get(json_object_get(v, "challenges"), 0);
	cr_expect_str_eq(str(ch, "result"), "altered");
	json_t *changes = json_object_get(ch, "changes");
	cr_assert_eq(json_array_size(changes), 1, "%s", json_dumps(ch, 0));
	json_t *c = json_array_get(changes, 0);
	cr_expect_str_eq(str(c, "scheme"), "Bearer");
	cr_expect_str_eq(str(c, "param"), "resource_metadata");
	snprintf(url, sizeof(url), "%s" PRM, upstream.url);
	cr_expect_str_eq(str(c, "upstream"), url);
	snprintf(url, sizeof(url), "%s" PRM, proxy.url);
	cr_expect_str_eq(str(c, "downstream"), url);
	json_decref(v);
	expect_metadata_names(proxy.url);
	/* A byte-exact copy would have sent the client here instead. */
	expect_metadata_names(upstream.url);
}

Test(demo, fixed_proxy_with_tokens)
{
	struct reply r;
	char url[256];

	start_proxy("EXAMPLE_FIXED_PROXY", 1);
	snprintf(url, sizeof(url), "%s/mcp", proxy.url);

	client("POST", url, "demo-token-noscope", &r);
	cr_expect_eq(r.status, 403);
	expect_challenge_via_proxy(&r, "insufficient_scope");
	reply_free(&r);

	client("POST", url, "demo-token", &r);
	cr_expect_eq(r.status, 200);
	cr_expect_null(r.challenge);
	cr_expect(r.body && strstr(r.body, "\"result\""), "body: %s", r.body);
	reply_free(&r);
}

/* Without authtap the proxies answer the client the same way, and no log
 * appears: the preload only watches. */
Test(demo, control_without_authtap)
{
	struct reply r;
	char url[256];

	start_proxy("EXAMPLE_LOSSY_PROXY", 0);
	snprintf(url, sizeof(url), "%s/mcp", proxy.url);
	client("POST", url, NULL, &r);
	cr_expect_eq(r.status, 401);
	cr_expect_null(r.challenge);
	reply_free(&r);
	child_stop(&proxy);

	start_proxy("EXAMPLE_FIXED_PROXY", 0);
	snprintf(url, sizeof(url), "%s/mcp", proxy.url);
	client("POST", url, NULL, &r);
	cr_expect_eq(r.status, 401);
	expect_challenge_via_proxy(&r, NULL);
	reply_free(&r);

	cr_expect(access(log_path, F_OK) != 0, "%s appeared without authtap", log_path);
}
