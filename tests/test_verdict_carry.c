/* Verdicts where real proxies put the challenge (GitHub issue 13, items 2,
 * 4, 5): php-fpm behind a FastCGI client (its response is FastCGI records
 * carrying a CGI head), a streaming MCP-style proxy that sends its 200
 * event-stream head before it calls the upstream and then carries the
 * upstream's challenge in an SSE event, and a proxy that serves HTTPS
 * (Python's ssl: OpenSSL's libssl.so.3).  Each proxy is an unmodified
 * program run under the preload against tests/httpd's /401, and once
 * without it as the control: its client gets the same answer. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "tracing.h"

#define PYTHON "/usr/bin/python3"
#define CURL "/usr/bin/curl"
#define OPENSSL "/usr/bin/openssl"
#define PHP_FPM "/usr/sbin/php-fpm8.2"
#define CGI_FCGI "/usr/bin/cgi-fcgi"
#define STREAM_PROXY TEST_SOURCE_ROOT "/tests/verdict/stream_proxy.py"
#define FPM_SCRIPT TEST_SOURCE_ROOT "/tests/verdict/fpm_proxy.php"

static struct server upstream;

static void setup(void)
{
	server_start(&upstream);
}

static void teardown(void)
{
	server_stop(&upstream);
}

TestSuite(verdict_carry, .init = setup, .fini = teardown, .timeout = 120);

/* What one run gave: the client's output and, under the preload, the
 * proxy's log. */
struct outcome {
	char *client;
	char *text; /* the log's path, when it is text */
	json_t **recs;
	size_t n;
};

static void expect_exit_ok(pid_t pid, const char *what)
{
	int status;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed: %d", what, status);
}

/* tests/verdict/stream_proxy.py in mode, over TLS when cert is set, under
 * the preload when log is set; its client is the curl command. */
static struct outcome through_python(const char *mode, const char *cert, const char *key,
                                     bool preload, const char *extra)
{
	char *up = server_url(&upstream, "/401");
	struct proxy p;

	need_program(PYTHON, "python3");
	need_program(CURL, "curl");
	proxy_start(&p, (const char *[]){PYTHON, STREAM_PROXY, mode, up, cert, key, NULL}, preload,
	            extra);
	char *log = preload ? p.log : NULL;
	char *url;
	cr_assert(asprintf(&url, "%s://127.0.0.1:%d/mcp", cert ? "https" : "http", p.port) > 0);
	struct run r;
	const char *argv[9] = {CURL, "-sS", "-i", "--noproxy", "*"};
	size_t a = 5;
	if (cert) {
		argv[a++] = "--cacert";
		argv[a++] = cert;
	}
	argv[a] = url;
	run(&r, argv, NULL);
	cr_expect_eq(r.code, 0, "curl: %s", r.err);
	proxy_wait(&p);

	struct outcome o = {.client = r.out};
	r.out = NULL;
	run_free(&r);
	if (log && extra)
		o.text = log;
	else if (log)
		o.recs = log_read(log, &o.n);
	return o;
}

/* The client's answer without the Date header, which differs between
 * runs. */
static char *without_date(const char *s)
{
	char *d = strdup(s), *p;
	cr_assert(d);
	while ((p = strstr(d, "Date: "))) {
		char *nl = strchr(p, '\n');
		memmove(p, nl ? nl + 1 : p + strlen(p), strlen(nl ? nl + 1 : p + strlen(p)) + 1);
	}
	return d;
}

static json_t *one_of_type(const struct outcome *o, const char *type)
{
	json_t *found = NULL;
	size_t k = 0;
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(jstr(o->recs[i], "type"), type) == 0) {
			found = o->recs[i];
			k++;
		}
	cr_assert_eq(k, 1, "%zu records of type %s, not one (%zu records; client: %s)", k, type,
	             o->n, o->client);
	return found;
}

/* The proxy's one verdict on the upstream's 401, and its summary. */
static json_t *the_verdict(const struct outcome *o, const char *want, long downstream)
{
	json_t *rec = one_of_type(o, "response");
	cr_expect_eq(jint(rec, "status"), 401);
	json_t *v = one_of_type(o, "verdict");
	char *text = json_dumps(v, 0);
	cr_expect_str_eq(jstr(v, "verdict"), want, "%s", text);
	cr_expect_eq(jint(v, "upstream_status"), 401, "%s", text);
	cr_expect_eq(jint(v, "downstream_status"), downstream, "%s", text);
	free(text);
	return v;
}

static void expect_summary(const struct outcome *o, const char *field)
{
	json_t *s = one_of_type(o, "summary");
	cr_expect_eq(jint(s, field), 1, "%s", field);
	cr_expect_eq(jint(s, "challenges"), 1);
}

/* A response begun before the transfer ended that carries nothing of the
 * challenge: nothing says it answers the transfer (issue 13, item 3). */
static void already_answered(const struct outcome *o)
{
	json_t *v = the_verdict(o, "unpaired", 200);
	cr_expect_str_eq(jstr(v, "why"), "client already answered", "%s", json_dumps(v, 0));
	cr_expect(!json_object_get(v, "carried"), "%s", json_dumps(v, 0));
	expect_summary(o, "unpaired");
}

static bool carried(json_t *v)
{
	json_t *c = json_object_get(v, "carried");
	return c && json_is_string(c) && strcmp(json_string_value(c), "body") == 0;
}

/* The proxy under the preload and without it: the client gets the same
 * answer; the preload's run is returned. */
static struct outcome python_proxy(const char *mode, const char *cert, const char *key)
{
	struct outcome control = through_python(mode, cert, key, false, NULL);
	struct outcome o = through_python(mode, cert, key, true, NULL);
	cr_expect_str_eq(without_date(o.client), without_date(control.client),
	                 "the client's answer changed under the preload");
	return o;
}

/* A streaming proxy answers 200 with an event stream before it calls the
 * upstream, then carries the upstream's challenge in a JSON-RPC error in
 * an SSE data line: converted, with the challenge carried in the body. */
Test(verdict_carry, streaming_proxy_carries_the_challenge_in_an_sse_event)
{
	struct outcome o = python_proxy("stream", NULL, NULL);
	cr_expect(strstr(o.client, "wwwAuthenticate"), "%s", o.client);
	json_t *v = the_verdict(&o, "converted", 200);
	cr_expect(carried(v), "not carried: %s", json_dumps(v, 0));
	expect_summary(&o, "converted");
}

/* The same stream carrying no challenge: its head went out before the
 * transfer ended and nothing in it answers the transfer. */
Test(verdict_carry, streaming_proxy_that_carries_nothing)
{
	struct outcome o = python_proxy("silent", NULL, NULL);
	already_answered(&o);
}

/* The program exits while the scan waits for more of the body: the
 * verdict is written at exit. */
Test(verdict_carry, a_scan_still_waiting_at_exit_gives_its_verdict)
{
	struct outcome o = python_proxy("exit", NULL, NULL);
	already_answered(&o);
}

/* The challenge after the first 16 KiB of the body is not looked for:
 * nothing seen says the stream answers the transfer. */
Test(verdict_carry, a_challenge_past_the_scanned_bytes_is_not_seen)
{
	struct outcome o = python_proxy("late", NULL, NULL);
	cr_expect(strstr(o.client, "wwwAuthenticate"), "%s", o.client);
	already_answered(&o);
}

/* In text, the verdict says so on its first line. */
Test(verdict_carry, the_text_log_says_the_challenge_was_carried)
{
	struct outcome o = through_python("stream", NULL, NULL, true, "AUTHTAP_FORMAT=text");
	FILE *f = fopen(o.text, "r");
	char line[4096];
	size_t n = 0;
	cr_assert(f, "no log %s", o.text);
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "authtap[", 8) == 0 && strstr(line, "] verdict converted: ")) {
			n++;
			cr_expect(strstr(line, " -> client 200 (challenge carried in the body); "),
			          "%s", line);
		}
	fclose(f);
	cr_expect_eq(n, 1, "want one verdict line");
}

/* A throw-away certificate for 127.0.0.1. */
static void make_certificate(char **cert, char **key)
{
	struct run r;

	need_program(OPENSSL, "openssl");
	*key = temp_path("key.pem");
	cr_assert(asprintf(cert, "%.*s/cert.pem", (int)(strrchr(*key, '/') - *key), *key) > 0);
	run(&r,
	    (const char *[]){OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
	                     "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", *key, "-out",
	                     *cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
	                     "subjectAltName=IP:127.0.0.1", NULL},
	    NULL);
	cr_assert_eq(r.code, 0, "openssl req failed: %s", r.err);
	run_free(&r);
}

static struct outcome https_proxy(const char *mode)
{
	char *cert, *key;
	make_certificate(&cert, &key);
	return python_proxy(mode, cert, key);
}

/* A proxy that serves HTTPS through OpenSSL: its response is read from
 * SSL_write's clear text, the socket's ciphertext ignored. */
Test(verdict_carry, https_proxy_forwards_the_challenge)
{
	struct outcome o = https_proxy("forward");
	json_t *v = the_verdict(&o, "forwarded", 401);
	json_t *ch = json_array_get(json_object_get(v, "challenges"), 0);
	cr_expect_str_eq(jstr(ch, "result"), "forwarded");
	expect_summary(&o, "forwarded");
}

Test(verdict_carry, https_proxy_drops_the_challenge)
{
	struct outcome o = https_proxy("drop");
	json_t *v = the_verdict(&o, "dropped", 401);
	json_t *ch = json_array_get(json_object_get(v, "challenges"), 0);
	cr_expect(json_is_null(json_object_get(ch, "downstream")));
	expect_summary(&o, "dropped");
}

Test(verdict_carry, https_streaming_proxy_carries_the_challenge)
{
	struct outcome o = https_proxy("stream");
	json_t *v = the_verdict(&o, "converted", 200);
	cr_expect(carried(v), "not carried: %s", json_dumps(v, 0));
}

struct fpm {
	pid_t pid;
	int port;
};

/* php-fpm with a pool of one worker on 127.0.0.1, under the preload when
 * log is set.  The port was free a moment ago; another process may take
 * it first, so a php-fpm that dies at once is started again. */
static void fpm_start(struct fpm *f, const char *log)
{
	char *conf = temp_path("fpm.conf");
	char *dir = strndup(conf, (size_t)(strrchr(conf, '/') - conf));

	need_program(PHP_FPM, "php-fpm");
	for (int attempt = 0; attempt < 5; attempt++) {
		f->port = free_port();
		FILE *c = fopen(conf, "w");
		cr_assert(c);
		fprintf(c,
		        "[global]\npid = %s/fpm.pid\nerror_log = %s/fpm.log\ndaemonize = no\n"
		        "[www]\nlisten = 127.0.0.1:%d\npm = static\npm.max_children = 1\n"
		        "clear_env = no\n",
		        dir, dir, f->port);
		if (geteuid() == 0)
			fputs("user = root\ngroup = root\n", c);
		fclose(c);
		f->pid = fork();
		cr_assert(f->pid >= 0);
		if (f->pid == 0) {
			alarm(120);
			execle(PHP_FPM, PHP_FPM, "-F", "-R", "-y", conf, (char *)NULL,
			       preload_env(log, NULL));
			_exit(127);
		}
		for (int i = 0; i < 1000; i++) {
			int status;
			if (port_open(f->port))
				return;
			if (waitpid(f->pid, &status, WNOHANG) == f->pid)
				break;
			usleep(10000);
		}
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	cr_assert_fail("php-fpm did not start (see %s/fpm.log)", dir);
}

/* A graceful stop: the worker finishes its request, then the master
 * exits. */
static void fpm_stop(struct fpm *f)
{
	kill(f->pid, SIGQUIT);
	expect_exit_ok(f->pid, "php-fpm");
}

/* One request through cgi-fcgi, the FastCGI client of libfcgi-bin: the
 * script answers by mode.  Returns the CGI response it printed. */
static char *fpm_request(const struct fpm *f, const char *mode)
{
	char *connect, *env[8];
	struct run r;

	need_program(CGI_FCGI, "libfcgi-bin");
	cr_assert(asprintf(&connect, "127.0.0.1:%d", f->port) > 0);
	cr_assert(asprintf(&env[0], "MODE=%s", mode) > 0);
	cr_assert(asprintf(&env[1], "UPSTREAM=%s", server_url(&upstream, "/401")) > 0);
	env[2] = "SCRIPT_FILENAME=" FPM_SCRIPT;
	env[3] = "SCRIPT_NAME=/fpm_proxy.php";
	env[4] = "REQUEST_METHOD=GET";
	env[5] = "SERVER_PROTOCOL=HTTP/1.1";
	env[6] = "QUERY_STRING=";
	env[7] = NULL;
	run(&r, (const char *[]){CGI_FCGI, "-bind", "-connect", connect, NULL},
	    (const char *const *)env);
	cr_expect_eq(r.code, 0, "cgi-fcgi: %s", r.err);
	char *out = r.out;
	r.out = NULL;
	run_free(&r);
	return out;
}

static struct outcome through_fpm(const char *mode, bool preload)
{
	char *log = preload ? temp_path("fpm.json") : NULL;
	struct fpm f;

	fpm_start(&f, log);
	struct outcome o = {.client = fpm_request(&f, mode)};
	fpm_stop(&f);
	if (log)
		o.recs = log_read(log, &o.n);
	return o;
}

static struct outcome fpm_proxy(const char *mode)
{
	struct outcome control = through_fpm(mode, false);
	struct outcome o = through_fpm(mode, true);
	cr_expect_str_eq(o.client, control.client, "the client's answer changed under the preload");
	return o;
}

/* php-fpm's answer is FastCGI records: FCGI_STDOUT holds a CGI head
 * ("Status: 401 Unauthorized", the headers), which is the response. */
Test(verdict_carry, php_fpm_forwards_the_challenge)
{
	struct outcome o = fpm_proxy("forward");
	cr_expect(strstr(o.client, "Status: 401"), "%s", o.client);
	json_t *v = the_verdict(&o, "forwarded", 401);
	json_t *ch = json_array_get(json_object_get(v, "challenges"), 0);
	cr_expect_str_eq(jstr(ch, "downstream"), jstr(ch, "upstream"));
}

Test(verdict_carry, php_fpm_drops_the_challenge)
{
	struct outcome o = fpm_proxy("drop");
	the_verdict(&o, "dropped", 401);
}

Test(verdict_carry, php_fpm_converts_to_a_502)
{
	struct outcome o = fpm_proxy("convert");
	json_t *v = the_verdict(&o, "converted", 502);
	cr_expect(!json_object_get(v, "carried"), "%s", json_dumps(v, 0));
}

/* A 200 whose JSON body carries the challenge, its slashes escaped by
 * json_encode. */
Test(verdict_carry, php_fpm_carries_the_challenge_in_a_json_body)
{
	struct outcome o = fpm_proxy("carry");
	cr_expect(strstr(o.client, "\\/.well-known"), "%s", o.client);
	json_t *v = the_verdict(&o, "converted", 200);
	cr_expect(carried(v), "not carried: %s", json_dumps(v, 0));
}

/* php-fpm streaming: the script flushes its event-stream head before it
 * calls the upstream with php-curl, then carries the challenge in an SSE
 * event; the transfer ends while the response is being written, and is
 * held against it. */
Test(verdict_carry, php_fpm_streaming_carries_the_challenge_in_an_sse_event)
{
	struct outcome o = fpm_proxy("stream");
	cr_expect(strstr(o.client, "data: {"), "%s", o.client);
	json_t *v = the_verdict(&o, "converted", 200);
	cr_expect(carried(v), "not carried: %s", json_dumps(v, 0));
}
