/* Log records: JSON lines or one-line text, and the sink they go to.
 * Every record is one write(2); errno is preserved across every call. */
#ifndef AUTHTAP_LOG_H
#define AUTHTAP_LOG_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "config.h"
#include "record.h"

struct log_meta {
	struct timespec ts; /* CLOCK_REALTIME */
	long pid, tid;
	/* When non-zero, header values and parameters are cut to this many
	 * bytes and the record is flagged truncated. */
	size_t value_cap;
};

struct verdict;
struct verdict_summary;

void log_format_json(struct buf *b, const struct record *r, const struct log_meta *m);
void log_format_text(struct buf *b, const struct record *r, const struct log_meta *m);
void log_format_verdict_json(struct buf *b, const struct verdict *v, const struct log_meta *m);
void log_format_verdict_text(struct buf *b, const struct verdict *v, const struct log_meta *m);
void log_format_summary_json(struct buf *b, const struct verdict_summary *s,
			     const struct log_meta *m);
void log_format_summary_text(struct buf *b, const struct verdict_summary *s,
			     const struct log_meta *m);

/* Opens the configured sink.  Problems are reported through warn, once. */
void log_open(const struct config *cfg);

/* True when records have somewhere to go. */
int log_enabled(void);

void log_record(const struct record *r);
void log_verdict(const struct verdict *v);
void log_summary(const struct verdict_summary *s);

/* One "authtap: " line on stderr that cannot raise SIGPIPE or block. */
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
