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
