#include "tracing.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#define NGHTTPX "/usr/sbin/nghttpx"
#define OPENSSL "/usr/bin/openssl"
#define ENV_MAX 32

void need_program(const char *path, const char *package)
{
	cr_assert(access(path, X_OK) == 0, "%s is missing: install the Debian package %s", path,
		  package);
}

static void trace_common(struct traced *t, const char *const argv[], const char *const env[],
			 bool launcher)
{
	const char *with_argv[64];
	const char *with_env[ENV_MAX];
	char *log_env = NULL, *preload_env = NULL;
	size_t k = 0, e = 0;

	memset(t, 0, sizeof(*t));
	t->log = temp_path("log.json");
	if (launcher) {
		with_argv[k++] = TEST_LAUNCHER;
		with_argv[k++] = "-o";
		with_argv[k++] = t->log;
		with_argv[k++] = "--";
	} else {
		cr_assert(asprintf(&log_env, "AUTHTAP_LOG=%s", t->log) > 0);
		cr_assert(asprintf(&preload_env, "LD_PRELOAD=%s", TEST_PRELOAD) > 0);
		with_env[e++] = preload_env;
		with_env[e++] = log_env;
	}
	for (size_t i = 0; argv[i]; i++) {
		cr_assert(k < sizeof(with_argv) / sizeof(with_argv[0]) - 1);
		with_argv[k++] = argv[i];
	}
	with_argv[k] = NULL;
	for (size_t i = 0; env && env[i]; i++) {
		cr_assert(e < ENV_MAX - 1);
		with_env[e++] = env[i];
	}
	with_env[e] = NULL;

	run(&t->control, argv, env);
	run(&t->with, with_argv, with_env);
	cr_expect_eq(t->with.code, t->control.code, "%s: exit code %d under the preload, %d without",
		     argv[0], t->with.code, t->control.code);
	cr_expect_str_eq(t->with.out, t->control.out,
			 "%s saw something else under the preload; stderr:\n%s", argv[0],
			 t->with.err);
	cr_expect(!strstr(t->with.err, "authtap:"), "the preload printed: %s", t->with.err);
	t->rec = log_read(t->log, &t->n);
	free(log_env);
	free(preload_env);
}

void trace_run(struct traced *t, const char *const argv[], const char *const env[])
{
	trace_common(t, argv, env, false);
}

void trace_launch(struct traced *t, const char *const argv[], const char *const env[])
{
	trace_common(t, argv, env, true);
}

void trace_free(struct traced *t)
{
	log_free(t->rec, t->n);
	run_free(&t->control);
	run_free(&t->with);
	free(t->log);
	memset(t, 0, sizeof(*t));
}

void expect_count(const struct traced *t, size_t n, const char *what)
{
	if (t->n == n)
		return;
	char *all = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&all, &len);
	for (size_t i = 0; i < t->n; i++) {
		char *s = json_dumps(t->rec[i], JSON_COMPACT);
		fprintf(f, "%s\n", s);
		free(s);
	}
	fclose(f);
	cr_assert_fail("%s: %zu records, not %zu:\n%s\nprogram stdout:\n%s\nstderr:\n%s", what,
		       t->n, n, all, t->with.out, t->with.err);
}

/* The flags of a record, in any order, against a comma-separated set. */
static bool same_flags(json_t *rec, const char *want)
{
	json_t *flags = json_object_get(rec, "flags");
	size_t want_n = 0;

	if (!json_is_array(flags))
		return false;
	for (const char *p = want; *p;) {
		const char *comma = strchr(p, ',');
		size_t len = comma ? (size_t)(comma - p) : strlen(p);
		bool found = false;
		size_t i;
		json_t *v;

		json_array_foreach(flags, i, v)
		{
			const char *s = json_string_value(v);
			if (s && strlen(s) == len && strncmp(s, p, len) == 0)
				found = true;
		}
		if (!found)
			return false;
		want_n++;
		p = comma ? comma + 1 : p + len;
	}
	return json_array_size(flags) == want_n;
}

void expect_record(json_t *rec, const struct want *w, const char *what)
{
	char *dump = json_dumps(rec, JSON_COMPACT);

	cr_expect_str_eq(jstr(rec, "type"), "response", "%s: %s", what, dump);
	if (w->api)
		cr_expect_str_eq(jstr(rec, "api"), w->api, "%s: api: %s", what, dump);
	json_t *result = json_object_get(rec, "result");
	if (w->result == WANT_NULL)
		cr_expect(json_is_null(result), "%s: result should be null: %s", what, dump);
	else
		cr_expect(json_is_integer(result) && json_integer_value(result) == w->result,
			  "%s: result should be %d: %s", what, w->result, dump);
	cr_expect(json_is_integer(json_object_get(rec, "status")) &&
			  jint(rec, "status") == w->status,
		  "%s: status should be %ld: %s", what, w->status, dump);
	cr_expect(json_is_integer(json_object_get(rec, "request")) &&
			  jint(rec, "request") == w->request,
		  "%s: request should be %d: %s", what, w->request, dump);
	cr_expect(json_is_boolean(json_object_get(rec, "final")) &&
			  json_is_true(json_object_get(rec, "final")) == w->final,
		  "%s: final should be %s: %s", what, w->final ? "true" : "false", dump);
	cr_expect(same_flags(rec, w->flags ? w->flags : ""), "%s: flags should be [%s]: %s", what,
		  w->flags ? w->flags : "", dump);
	cr_expect_str_eq(jstr(rec, "method"), w->method ? w->method : "GET", "%s: method: %s", what,
			 dump);
	if (w->url)
		cr_expect_str_eq(jstr(rec, "url"), w->url, "%s: url: %s", what, dump);
	if (w->handle)
		cr_expect_str_eq(jstr(rec, "handle"), w->handle, "%s: handle: %s", what, dump);
	json_t *headers = json_object_get(rec, "headers");
	cr_expect(json_is_array(headers) && json_array_size(headers) == w->nheaders,
		  "%s: %zu headers expected: %s", what, w->nheaders, dump);
	json_t *first = json_array_get(headers, 0);
	if (w->name)
		cr_expect_str_eq(jstr(first, "name"), w->name, "%s: header name: %s", what, dump);
	if (w->value)
		cr_expect_str_eq(jstr(first, "value"), w->value, "%s: header value: %s", what, dump);
	free(dump);
}

size_t records_of(const struct traced *t, const char *handle, json_t **out, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < t->n; i++)
		if (handle && strcmp(jstr(t->rec[i], "handle"), handle) == 0 && k < max)
			out[k++] = t->rec[i];
	return k;
}

char *handle_of(const struct traced *t, const char *label)
{
	char *prefix;
	cr_assert(asprintf(&prefix, "handle %s 0x", label) > 0);
	size_t plen = strlen(prefix);

	for (const char *p = t->with.err; p && *p;) {
		if (strncmp(p, prefix, plen) == 0) {
			const char *v = p + plen - 2;
			size_t n = strcspn(v, "\n");
			free(prefix);
			return strndup(v, n);
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	free(prefix);
	return NULL;
}

char *bearer_401(const struct server *s)
{
	char *v;
	cr_assert(asprintf(&v,
			   "Bearer realm=\"mcp\", resource_metadata=\"http://127.0.0.1:%d"
			   "/.well-known/oauth-protected-resource\", scope=\"mcp:tools\"",
			   s->port) > 0);
	return v;
}

int free_port(void)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	close(fd);
	return ntohs(sa.sin_port);
}

bool port_open(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void make_certificate(struct frontend *f)
{
	struct run r;

	need_program(OPENSSL, "openssl");
	f->key = temp_path("key.pem");
	f->dir = strndup(f->key, strrchr(f->key, '/') - f->key);
	cr_assert(asprintf(&f->cert, "%s/cert.pem", f->dir) > 0);
	run(&r,
	    (const char *[]){OPENSSL, "req", "-x509", "-newkey", "ec", "-pkeyopt",
			     "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", f->key, "-out",
			     f->cert, "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
			     "subjectAltName=IP:127.0.0.1", NULL},
	    NULL);
	cr_assert_eq(r.code, 0, "openssl req failed: %s", r.err);
	run_free(&r);
}

/* Starts nghttpx on a port that was free a moment ago; another process may
 * take it first, so a front that dies at once is tried again. */
void frontend_start(struct frontend *f, const struct server *backend)
{
	memset(f, 0, sizeof(*f));
	need_program(NGHTTPX, "nghttpx");
	make_certificate(f);

	char *log;
	cr_assert(asprintf(&log, "%s/nghttpx.log", f->dir) > 0);
	for (int attempt = 0; attempt < 5; attempt++) {
		char *front, *back;
		f->port = free_port();
		cr_assert(asprintf(&front, "--frontend=127.0.0.1,%d", f->port) > 0);
		cr_assert(asprintf(&back, "--backend=127.0.0.1,%d", backend->port) > 0);
		f->pid = fork();
		cr_assert(f->pid >= 0);
		if (f->pid == 0) {
			int null = open("/dev/null", O_RDONLY);
			int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
			dup2(null, 0);
			dup2(out, 1);
			dup2(out, 2);
			unsetenv("LD_PRELOAD");
			alarm(300);
			execl(NGHTTPX, NGHTTPX, "--conf=/dev/null", "--single-process", "--workers=1",
			      "--no-ocsp", "--log-level=WARN", front, back, f->key, f->cert,
			      (char *)NULL);
			_exit(127);
		}
		free(front);
		free(back);
		for (int i = 0; i < 500; i++) {
			int status;
			if (port_open(f->port)) {
				free(log);
				return;
			}
			if (waitpid(f->pid, &status, WNOHANG) == f->pid) {
				f->pid = 0;
				break;
			}
			struct timespec ts = {0, 10 * 1000 * 1000};
			nanosleep(&ts, NULL);
		}
		if (f->pid > 0) {
			kill(f->pid, SIGKILL);
			waitpid(f->pid, NULL, 0);
			f->pid = 0;
		}
	}
	char buf[2048] = {0};
	FILE *lf = fopen(log, "r");
	if (lf) {
		fread(buf, 1, sizeof(buf) - 1, lf);
		fclose(lf);
	}
	cr_assert_fail("nghttpx did not start: %s", buf);
}

void frontend_stop(struct frontend *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
	}
	f->pid = 0;
}

char *frontend_url(const struct frontend *f, const char *path)
{
	char *url;
	cr_assert(asprintf(&url, "https://127.0.0.1:%d%s", f->port, path) > 0);
	return url;
}
