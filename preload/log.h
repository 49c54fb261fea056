/* The log: where records go (logfile.c).  Every record is one write(2);
 * errno is preserved across every call.  Formatting is format.h. */
#ifndef AUTHTAP_LOG_H
#define AUTHTAP_LOG_H

#include "config.h"
#include "format.h"
#include "record.h"

struct verdict;
struct verdict_summary;

/* Opens the configured sink.  Problems are reported through warn, once. */
void log_open(const struct config *cfg);

/* True when records have somewhere to go. */
int log_enabled(void);

void log_record(const struct record *r);
void log_verdict(const struct verdict *v);
void log_summary(const struct verdict_summary *s);

/* At exit (logfile.c calls it from its own destructor, last): the records
 * lost since the last report are reported (in the
 * log, else in one warning), then, with AUTHTAP_SUMMARY=1, one exit line
 * on stderr from a process that logged anything. */
void log_finish(void);

/* Records this process lost so far (could not write whole). */
unsigned long log_lost_count(void);

/* One "authtap: " line on stderr that cannot raise SIGPIPE or block, written
 * only while fd 2 is still the stderr the program started with; control
 * bytes in msg are escaped. */
void log_warn(const char *msg);

/* The program is closing (or replacing) descriptors first..last: the
 * libc hooks say so before and after the real call, and the log checks
 * that its descriptor is still its file before the next record. */
void log_fds_closing(unsigned first, unsigned last);

/* pthread_atfork handlers: the sink's lock is never inherited held, and a
 * "%p" log gets reopened for the child. */
void log_atfork_prepare(void);
void log_atfork_parent(void);
void log_atfork_child(void);

#endif
