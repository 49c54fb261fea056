/* What the robustness tests (GitHub issue 6) share beyond harness.h: running
 * a program with and without the preload and comparing, and reading back
 * what authtap wrote, byte for byte. */
#ifndef AUTHTAP_TEST_ROBUST_H
#define AUTHTAP_TEST_ROBUST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "harness.h"

/* asprintf that cannot fail the caller. */
char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));

/* "LD_PRELOAD=<the preload>". */
const char *preload_var(void);

/* Runs argv without the preload (control) and with env (which should carry
 * the preload), and expects the same exit code and stdout.  with is left
 * for the caller to inspect. */
void run_both(struct run *with, const char *const argv[], const char *const env[],
              const char *what);

/* The same, with control_env for the control run. */
void run_pair(struct run *with, const char *const argv[], const char *const control_env[],
              const char *const env[], const char *what);

/* A whole file; NULL when it does not exist. */
char *slurp(const char *path, size_t *len);

/* The lines of buf that are records ('{' first); every other line must be
 * an "authtap:" warning, counted in *warnings.  Each record is parsed
 * strictly, as log_read does. */
json_t **records_in(const char *buf, size_t len, size_t *n, size_t *warnings);

/* The bytes a JSON string of a record stands for: with latin1, each code
 * point (U+0000..U+00FF) is one byte; otherwise the UTF-8 as it is. */
char *json_bytes(json_t *str, bool latin1, size_t *len);

/* No control byte but the line ends, no DEL, valid UTF-8 throughout. */
bool text_clean(const char *p, size_t len, size_t *bad_at);

/* "%02x" of every byte, for /hostile?hex=. */
char *hex_of(const unsigned char *p, size_t n);

#endif
