/* Formatting of records: JSON lines or text for people.  Pure: these
 * functions only append to a buffer; they do no I/O and keep no state but
 * a per-thread memo (format_response.c).  The sink is logfile.c. */
#ifndef AUTHTAP_FORMAT_H
#define AUTHTAP_FORMAT_H

#include <stdbool.h>
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
	/* Parts were left out to fit: the record says truncated. */
	bool truncated;
	/* The sink is a terminal: no byte that a terminal acts on, no bidi
	 * or invisible format character, in text or JSON. */
	bool tty;
	/* Text: colour (a terminal, and NO_COLOR unset). */
	bool color;
	/* Text: the raw header lines too (AUTHTAP_RAW=1). */
	bool raw;
};

/* What a process logged, for its exit line; log NULL: stderr. */
struct format_exit {
	unsigned long records, lost;
	const char *log;
};

struct verdict;
struct verdict_summary;

void format_response_json(struct buf *b, const struct record *r, const struct log_meta *m);
void format_response_text(struct buf *b, const struct record *r, const struct log_meta *m);
void format_verdict_json(struct buf *b, const struct verdict *v, const struct log_meta *m);
void format_verdict_text(struct buf *b, const struct verdict *v, const struct log_meta *m);
void format_summary_json(struct buf *b, const struct verdict_summary *s, const struct log_meta *m);
void format_summary_text(struct buf *b, const struct verdict_summary *s, const struct log_meta *m);

/* {"type":"lost","count":N,"lost":T}: N records could not be written
 * whole since the last report, T since the process started (text:
 * "... N records lost ... (lost=T)"). */
void format_lost_json(struct buf *b, unsigned long count, unsigned long total,
                      const struct log_meta *m);
void format_lost_text(struct buf *b, unsigned long count, unsigned long total,
                      const struct log_meta *m);
/* {"type":"exit",...}: what the process logged, where, and what was lost. */
void format_exit_json(struct buf *b, const struct format_exit *e, const struct log_meta *m);
void format_exit_text(struct buf *b, const struct format_exit *e, const struct log_meta *m);

/* "2026-11-26T12:34:56.789Z", quoted, UTC. */
void format_json_ts(struct buf *b, const struct timespec *ts);

#endif
