/* Formatting of records: JSON lines or text for people.  Pure: these
 * functions only append to a buffer; they do no I/O and keep no state but
 * a per-thread memo (format_response.c).  The sink is logfile.c. */
#ifndef AUTHTAP_FORMAT_H
#define AUTHTAP_FORMAT_H

#include <stddef.h>
#include <time.h>

#include "buf.h"
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

void format_response_json(struct buf *b, const struct record *r, const struct log_meta *m);
void format_response_text(struct buf *b, const struct record *r, const struct log_meta *m);
void format_verdict_json(struct buf *b, const struct verdict *v, const struct log_meta *m);
void format_verdict_text(struct buf *b, const struct verdict *v, const struct log_meta *m);
void format_summary_json(struct buf *b, const struct verdict_summary *s, const struct log_meta *m);
void format_summary_text(struct buf *b, const struct verdict_summary *s, const struct log_meta *m);

/* "2026-11-26T12:34:56.789Z", quoted, UTC. */
void format_json_ts(struct buf *b, const struct timespec *ts);

#endif
