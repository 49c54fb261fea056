/* What the integration tests share: a local upstream, running a program with
 * or without the preload, and reading the JSON log it wrote. */
#ifndef AUTHTAP_TEST_HARNESS_H
#define AUTHTAP_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "test-paths.h"

struct server {
	pid_t pid;
	int stdin_fd;
	int port;
};

/* Starts tests/httpd on 127.0.0.1 and waits for its port. */
void server_start(struct server *s);
void server_stop(struct server *s);

/* "http://127.0.0.1:PORT" + path, in a static buffer per call site's use. */
char *server_url(const struct server *s, const char *path);

struct run {
	int code; /* exit status, or 128 + signal */
	char *out, *err;
	size_t out_len, err_len;
};

/* Runs argv with a clean environment (no LD_PRELOAD, no AUTHTAP_*) plus env
 * (NULL-terminated "NAME=value" list, may be NULL).  Stdout and stderr are
 * captured; the program gets /dev/null as stdin and at most 60 s. */
void run(struct run *r, const char *const argv[], const char *const env[]);
/* That environment: the test's own less LD_PRELOAD, AUTHTAP_* and NO_COLOR,
 * plus env. */
char **clean_env(const char *const env[]);
void run_free(struct run *r);

/* A new path for a log file in a fresh temporary directory. */
char *temp_path(const char *name);

/* Every line of a JSON-lines file, each parsed strictly (the test fails on
 * any line that is not a JSON object).  *n gets the count. */
json_t **log_read(const char *path, size_t *n);
void log_free(json_t **records, size_t n);

/* Shorthands for asserting on records. */
const char *jstr(json_t *obj, const char *key);
long long jint(json_t *obj, const char *key);
bool jhas_flag(json_t *record, const char *flag);

/* The number of lines of text that start with prefix. */
size_t count_lines(const char *text, const char *prefix);

/* Pairing under concurrency: a proxy that prints its port, and the curl
 * command (run without the preload) as its clients. */
struct proxy {
	pid_t pid;
	int port;
	char *log;
};

/* A child's environment: the preload, its log and extra (one NAME=VALUE,
 * or NULL), or none of them when log is NULL (the control); a sanitizer
 * build's options either way. */
char **preload_env(const char *log, const char *extra);

/* Starts argv (the proxy, which prints its port), under the preload with
 * extra in its environment when preload is set, with its log in p->log. */
void proxy_start(struct proxy *p, const char *const argv[], bool preload, const char *extra);
/* Waits for it to exit, which must be with status 0. */
void proxy_wait(struct proxy *p);

/* One round: nmcp POSTs to path401 and nok GETs of path200, all at once
 * (curl --parallel --parallel-immediate); every client must get what the
 * upstream said. */
void round_of(const struct proxy *p, const char *path401, const char *path200, int nmcp, int nok);

/* rounds rounds of one 401 and two 200s, then one of big_mcp and big_ok. */
struct load {
	int rounds, big_mcp, big_ok;
};

/* That load through the proxy argv (its argument "COUNT" replaced by the
 * number of requests it must serve) under the preload, after one round
 * without it as the control: every verdict is one of allowed (a
 * space-separated list), there is one per 401, and at least definite of
 * them are not "ambiguous". */
void under_concurrency(const char *const argv[], const char *path401, const char *path200,
                       const char *allowed, size_t definite, const struct load *load);

#endif
