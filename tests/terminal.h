/* Running a program on a terminal of its own, as a person would. */
#ifndef AUTHTAP_TEST_TERMINAL_H
#define AUTHTAP_TEST_TERMINAL_H

#include "harness.h"

/* As run(), but stdin, stdout and stderr are one new pseudo-terminal (the
 * program's controlling terminal, in a session of its own): r->out gets
 * everything it printed, with "\r\n" turned back into "\n"; r->err is
 * empty. */
void run_pty(struct run *r, const char *const argv[], const char *const env[]);

#endif
