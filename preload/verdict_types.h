/* What a verdict says, as plain types: the formatters (format_verdict.c)
 * and the sink (logfile.c) need these and nothing of how verdicts are made
 * (verdict.h, which knows the connections of net.h). */
#ifndef AUTHTAP_VERDICT_TYPES_H
#define AUTHTAP_VERDICT_TYPES_H

#include <stdbool.h>
#include <stddef.h>

enum verdict_kind {
	VERDICT_FORWARDED, /* same status, every challenge byte-exact */
	VERDICT_DROPPED,   /* same status, the challenges missing */
	VERDICT_ALTERED,   /* same status, challenges present but changed */
	VERDICT_CONVERTED, /* another status */
	VERDICT_UNPAIRED,  /* no response head followed */
	VERDICT_AMBIGUOUS, /* several client connections remain possible */
};

/* One change inside a challenge.  param NULL: the whole challenge of that
 * scheme is missing on one side.  A NULL value: absent on that side. */
struct verdict_change {
	const char *scheme;
	const char *param;
	const char *upstream, *downstream;
};

/* What became of one upstream challenge header. */
struct verdict_header {
	const char *name;
	const char *upstream;
	const char *downstream; /* NULL when dropped */
	enum verdict_kind result;
	size_t nchanges;
	const struct verdict_change *changes;
};

struct verdict {
	enum verdict_kind kind;
	const char *unpaired_why;
	/* Unpaired: the status of the head the client already had (0: none).
	 * Ambiguous: how many client connections remain possible. */
	long answered_status;
	unsigned long candidates;
	const void *handle;
	const char *method, *url;
	long upstream_status, downstream_status;
	/* converted: the upstream's challenge (or its resource_metadata) was
	 * found in the first bytes of the body written to the client. */
	bool carried;
	size_t nheaders;
	const struct verdict_header *headers;
};

/* Counted per upstream response that was recorded and had a client
 * connection to answer. */
struct verdict_summary {
	unsigned long challenges, forwarded, dropped, altered, converted, unpaired, ambiguous;
};

const char *verdict_name(enum verdict_kind k);

#endif
