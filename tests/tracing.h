/* What the tests of the multi interface, of dlopen'd and of several libcurl
 * builds, of TLS and HTTP/2 and of real programs share, on top of
 * harness.h: a program run once without the preload (the control) and once
 * with it, exact expectations on one record, and a TLS and HTTP/2 front
 * (Debian's nghttpx with a throw-away certificate) for tests/httpd. */
#ifndef AUTHTAP_TEST_TRACING_H
#define AUTHTAP_TEST_TRACING_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "harness.h"

struct traced {
	struct run control, with;
	json_t **rec;
	size_t n;
	char *log;
};

/* Runs argv as it is (the control), then under LD_PRELOAD with
 * AUTHTAP_LOG set, both with env (may be NULL), and reads the log.  Expects
 * the same exit code and stdout from both, and no "authtap:" line from the
 * preload. */
void trace_run(struct traced *t, const char *const argv[], const char *const env[]);

/* The same through the launcher: build/shim/authtap -o LOG -- argv. */
void trace_launch(struct traced *t, const char *const argv[], const char *const env[]);
void trace_free(struct traced *t);

/* A record as it must be.  Unset pointers are not checked; flags is the
 * exact set, comma-separated ("" for none). */
#define WANT_NULL (-1000)
struct want {
	const char *api;
	int result; /* WANT_NULL for "result":null */
	long status;
	int request;
	bool final;
	const char *flags;
	const char *method; /* NULL means GET */
	const char *url;
	const char *handle;
	size_t nheaders;
	const char *name;  /* of the first header */
	const char *value; /* of the first header */
};

void expect_record(json_t *rec, const struct want *w, const char *what);

/* Asserts there are n records. */
void expect_count(const struct traced *t, size_t n, const char *what);

/* The records whose handle is h, in log order; *n gets their count. */
size_t records_of(const struct traced *t, const char *handle, json_t **out, size_t max);

/* The pointer printed as "handle LABEL 0x..." on the preload run's stderr
 * (tests/programs print one such line per handle); NULL when absent. */
char *handle_of(const struct traced *t, const char *label);

/* The WWW-Authenticate value of tests/httpd's /401. */
char *bearer_401(const struct server *s);

/* A TLS front on 127.0.0.1 for tests/httpd, offering h2 and http/1.1. */
struct frontend {
	pid_t pid;
	int port;
	char *dir;
	char *cert;
	char *key;
};

void frontend_start(struct frontend *f, const struct server *backend);
void frontend_stop(struct frontend *f);
char *frontend_url(const struct frontend *f, const char *path);

/* Asserts that the program a test needs is there: a test that cannot find
 * its program fails, it does not skip. */
void need_program(const char *path, const char *package);

/* A loopback TCP port free a moment ago, for a server that takes its port
 * as an argument; whether something listens on port now. */
int free_port(void);
bool port_open(int port);

#endif
