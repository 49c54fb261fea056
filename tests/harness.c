#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

extern char **environ;

void server_start(struct server *s)
{
	int in[2], out[2];

	cr_assert(pipe(in) == 0 && pipe(out) == 0);
	s->pid = fork();
	cr_assert(s->pid >= 0);
	if (s->pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		close(in[1]);
		close(out[0]);
		unsetenv("LD_PRELOAD");
		execl(TEST_HTTPD, TEST_HTTPD, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	s->stdin_fd = in[1];

	char line[32] = {0};
	size_t n = 0;
	struct pollfd p = {.fd = out[0], .events = POLLIN};
	while (n < sizeof(line) - 1 && !memchr(line, '\n', n)) {
		cr_assert(poll(&p, 1, 10000) == 1, "httpd did not say its port");
		ssize_t k = read(out[0], line + n, sizeof(line) - 1 - n);
		cr_assert(k > 0, "httpd exited before saying its port");
		n += (size_t)k;
	}
	close(out[0]);
	s->port = atoi(line);
	cr_assert(s->port > 0 && s->port < 65536, "bad port line: %s", line);
}

void server_stop(struct server *s)
{
	if (s->pid <= 0)
		return;
	close(s->stdin_fd);
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
	s->pid = 0;
}

char *server_url(const struct server *s, const char *path)
{
	char *url;
	cr_assert(asprintf(&url, "http://127.0.0.1:%d%s", s->port, path) > 0);
	return url;
}

static bool keep_var(const char *kv)
{
	return strncmp(kv, "LD_PRELOAD=", 11) != 0 && strncmp(kv, "AUTHTAP_", 8) != 0 &&
	       strncmp(kv, "NO_COLOR=", 9) != 0;
}

char **clean_env(const char *const env[])
{
	size_t n = 0, m = 0;
	while (environ[n])
		n++;
	while (env && env[m])
		m++;
	char **e = calloc(n + m + 1, sizeof(*e));
	size_t k = 0;
	for (size_t i = 0; e && i < n; i++)
		if (keep_var(environ[i]))
			e[k++] = environ[i];
	for (size_t i = 0; e && i < m; i++)
		e[k++] = (char *)env[i];
	return e;
}

/* Reads both pipes to their end without letting either fill up. */
static void drain(struct run *r, int out, int err)
{
	struct {
		int fd;
		char **p;
		size_t *len;
	} st[2] = {{out, &r->out, &r->out_len}, {err, &r->err, &r->err_len}};
	size_t cap[2] = {0, 0};
	int open_count = 2;

	while (open_count) {
		struct pollfd p[2];
		int n = 0;
		int which[2];
		for (int i = 0; i < 2; i++)
			if (st[i].fd >= 0) {
				p[n].fd = st[i].fd;
				p[n].events = POLLIN;
				which[n++] = i;
			}
		int rc = poll(p, (nfds_t)n, 60000);
		cr_assert(rc > 0, "program produced no output for 60 s");
		for (int k = 0; k < n; k++) {
			if (!(p[k].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			int i = which[k];
			if (*st[i].len + 4096 + 1 > cap[i]) {
				cap[i] = (cap[i] + 4096) * 2;
				*st[i].p = realloc(*st[i].p, cap[i]);
				cr_assert(*st[i].p);
			}
			ssize_t got = read(st[i].fd, *st[i].p + *st[i].len, 4096);
			if (got <= 0) {
				close(st[i].fd);
				st[i].fd = -1;
				open_count--;
				continue;
			}
			*st[i].len += (size_t)got;
			(*st[i].p)[*st[i].len] = '\0';
		}
	}
	for (int i = 0; i < 2; i++) {
		if (!*st[i].p)
			*st[i].p = calloc(1, 1);
		(*st[i].p)[*st[i].len] = '\0';
	}
}

void run(struct run *r, const char *const argv[], const char *const env[])
{
	int out[2], err[2];

	memset(r, 0, sizeof(*r));
	cr_assert(pipe(out) == 0 && pipe(err) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		char **e = clean_env(env);
		int null = open("/dev/null", O_RDONLY);
		dup2(null, 0);
		dup2(out[1], 1);
		dup2(err[1], 2);
		close(out[0]);
		close(err[0]);
		alarm(60);
		execve(argv[0], (char *const *)argv, e);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	drain(r, out[0], err[0]);
	int status;
	cr_assert(waitpid(pid, &status, 0) == pid);
	r->code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void run_free(struct run *r)
{
	free(r->out);
	free(r->err);
	memset(r, 0, sizeof(*r));
}

char *temp_path(const char *name)
{
	char dir[] = "/tmp/authtap-test-XXXXXX";
	cr_assert(mkdtemp(dir));
	char *path;
	cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	return path;
}

json_t **log_read(const char *path, size_t *n)
{
	json_t **recs = NULL;
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	*n = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	while ((len = getline(&line, &cap, f)) > 0) {
		cr_assert(line[len - 1] == '\n', "a record that does not end its line: %s", line);
		json_error_t e;
		json_t *j = json_loadb(line, (size_t)len, JSON_REJECT_DUPLICATES, &e);
		cr_assert(j, "not JSON (%s): %s", e.text, line);
		cr_assert(json_is_object(j), "not an object: %s", line);
		recs = realloc(recs, (*n + 1) * sizeof(*recs));
		recs[(*n)++] = j;
	}
	free(line);
	fclose(f);
	return recs;
}

void log_free(json_t **records, size_t n)
{
	for (size_t i = 0; i < n; i++)
		json_decref(records[i]);
	free(records);
}

const char *jstr(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

long long jint(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	cr_assert(json_is_integer(v), "%s is not an integer", key);
	return json_integer_value(v);
}

bool jhas_flag(json_t *record, const char *flag)
{
	json_t *flags = json_object_get(record, "flags");
	size_t i;
	json_t *v;

	json_array_foreach(flags, i, v) if (strcmp(json_string_value(v), flag) == 0) return true;
	return false;
}

size_t count_lines(const char *text, const char *prefix)
{
	size_t n = 0, plen = strlen(prefix);

	for (const char *p = text; p && *p;) {
		if (strncmp(p, prefix, plen) == 0)
			n++;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

#define CURL "/usr/bin/curl"

/* Starts argv (the proxy, which prints its port), under the preload when
 * preload is set. */
char **preload_env(const char *log, const char *extra)
{
	char **env = calloc(8, sizeof(char *));
	size_t e = 0;
	const char *keep[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS"};

	cr_assert(env);
	if (log) {
		cr_assert(asprintf(&env[e++], "LD_PRELOAD=%s", TEST_PRELOAD) > 0);
		cr_assert(asprintf(&env[e++], "AUTHTAP_LOG=%s", log) > 0);
	}
	for (size_t i = 0; i < 2; i++)
		if (getenv(keep[i]))
			cr_assert(asprintf(&env[e++], "%s=%s", keep[i], getenv(keep[i])) > 0);
	if (log && extra)
		env[e++] = strdup(extra);
	return env;
}

void proxy_start(struct proxy *p, const char *const argv[], bool preload, const char *extra)
{
	int out[2];

	p->log = temp_path("pairing.json");
	cr_assert(pipe(out) == 0);
	p->pid = fork();
	cr_assert(p->pid >= 0);
	if (p->pid == 0) {
		dup2(out[1], 1);
		close(out[0]);
		alarm(120);
		execve(argv[0], (char *const *)argv, preload_env(preload ? p->log : NULL, extra));
		_exit(127);
	}
	close(out[1]);
	char port[16] = {0};
	cr_assert(read(out[0], port, sizeof(port) - 1) > 0, "the proxy did not start");
	close(out[0]);
	p->port = atoi(port);
}

void proxy_wait(struct proxy *p)
{
	int status;
	cr_assert_eq(waitpid(p->pid, &status, 0), p->pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the proxy failed: %d", status);
}

/* One round: nmcp POSTs to path401 and nok GETs of path200, all at once;
 * every client must get what the upstream said. */
void round_of(const struct proxy *p, const char *path401, const char *path200, int nmcp, int nok)
{
	size_t n = 6 + (size_t)(nmcp + nok) * 9 + 1, k = 0;
	const char **argv = calloc(n, sizeof(char *));
	char *url401, *url200;

	cr_assert(asprintf(&url401, "http://127.0.0.1:%d%s", p->port, path401) > 0);
	cr_assert(asprintf(&url200, "http://127.0.0.1:%d%s", p->port, path200) > 0);
	argv[k++] = CURL;
	argv[k++] = "-s";
	argv[k++] = "--parallel";
	argv[k++] = "--parallel-immediate";
	argv[k++] = "--parallel-max";
	argv[k++] = "300";
	for (int i = 0; i < nmcp + nok; i++) {
		if (i)
			argv[k++] = "--next";
		argv[k++] = "-o";
		argv[k++] = "/dev/null";
		argv[k++] = "-w";
		argv[k++] = i < nmcp ? "%{http_code} mcp\\n" : "%{http_code} ok\\n";
		if (i < nmcp) {
			argv[k++] = "-d";
			argv[k++] = "x";
		}
		argv[k++] = i < nmcp ? url401 : url200;
	}
	struct run r;
	run(&r, argv, NULL);
	cr_assert_eq(r.code, 0, "curl: %s", r.err);
	cr_expect_eq(count_lines(r.out, "401 mcp"), (size_t)nmcp, "%s", r.out);
	cr_expect_eq(count_lines(r.out, "200 ok"), (size_t)nok, "%s", r.out);
	run_free(&r);
	free(argv);
	free(url401);
	free(url200);
}

void under_concurrency(const char *const argv[], const char *path401, const char *path200,
                       const char *allowed, size_t definite, const struct load *load)
{
	struct proxy p;
	int total = load->rounds * 3 + load->big_mcp + load->big_ok,
	    mcp = load->rounds + load->big_mcp;

	/* The control: the same proxy, the same load, no preload. */
	char count[16];
	snprintf(count, sizeof(count), "%d", 3);
	const char *ctl[8];
	size_t i = 0;
	for (; argv[i]; i++)
		ctl[i] = strcmp(argv[i], "COUNT") == 0 ? count : argv[i];
	ctl[i] = NULL;
	proxy_start(&p, ctl, false, NULL);
	round_of(&p, path401, path200, 1, 2);
	proxy_wait(&p);
	cr_expect(access(p.log, F_OK) != 0, "no log without the preload");

	snprintf(count, sizeof(count), "%d", total);
	proxy_start(&p, ctl, true, NULL);
	for (int r = 0; r < load->rounds; r++)
		round_of(&p, path401, path200, 1, 2);
	round_of(&p, path401, path200, load->big_mcp, load->big_ok);
	proxy_wait(&p);

	size_t n, verdicts = 0, sure = 0;
	json_t **recs = log_read(p.log, &n);
	for (size_t k = 0; k < n; k++) {
		if (strcmp(jstr(recs[k], "type"), "verdict") != 0)
			continue;
		verdicts++;
		const char *v = jstr(recs[k], "verdict");
		char *dump = json_dumps(recs[k], 0);
		cr_expect(strstr(allowed, v) != NULL, "verdict %s, want one of %s: %s", v, allowed,
		          dump);
		cr_expect_str_eq(jstr(recs[k], "method"), "POST");
		cr_expect_eq(jint(recs[k], "upstream_status"), 401);
		if (strcmp(v, "ambiguous") == 0)
			cr_expect_geq(jint(recs[k], "candidates"), 2, "%s", dump);
		else
			sure++;
		free(dump);
	}
	cr_expect_eq(verdicts, (size_t)mcp, "one verdict per 401");
	cr_expect_geq(sure, definite, "%zu of %zu verdicts were definite", sure, verdicts);
	log_free(recs, n);
}
