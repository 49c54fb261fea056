/* Whether a response body carries an upstream's challenge: a bounded,
 * incremental scan of the first bytes of the body a proxy writes to its
 * client, for given values (a WWW-Authenticate value, a resource_metadata
 * URL), as they are or JSON-string-escaped, in a plain body or in the
 * data lines of an event stream.  No allocation: the state is the
 * caller's struct, about 15 KiB, so allocate it: never put it on a host
 * thread's stack, which may be small. */
#ifndef AUTHTAP_CARRY_H
#define AUTHTAP_CARRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CARRY_LIMIT_DEFAULT (16u * 1024)
#define CARRY_MAX_NEEDLES 4
#define CARRY_RING 1024 /* a power of two */
#define CARRY_NEEDLE_MAX (CARRY_RING - 1)
#define CARRY_LEVELS 3 /* as written, unescaped once, twice */

enum carry_kind {
	CARRY_CHALLENGE, /* a challenge header value: Bearer resource_metadata="..." */
	CARRY_URL,       /* a URL: https://mcp.example/.well-known/oauth-protected-resource */
};

enum carry_framing {
	CARRY_PLAIN, /* the body is one text (JSON, HTML, anything) */
	CARRY_SSE,   /* text/event-stream: only the values of data lines are read */
};

struct carry_needle {
	enum carry_kind kind;
	uint16_t len;
	unsigned char s[CARRY_NEEDLE_MAX];
	uint16_t fail[CARRY_NEEDLE_MAX];
};

/* The bytes at one level of unescaping, and the JSON unescaper that makes
 * them from the level below. */
struct carry_level {
	unsigned char esc; /* 0, 1 after a backslash, 2 to 5 in \uXXXX */
	uint32_t hex;      /* the \u digits so far */
	uint32_t high;     /* a high surrogate waiting for its low half */
	uint64_t pos, seg_start;
	unsigned char ring[CARRY_RING]; /* the last bytes, for the byte before a match */
	uint16_t at[CARRY_MAX_NEEDLES];
	unsigned char pending[CARRY_MAX_NEEDLES]; /* matched, the byte after unseen */
};

struct carry {
	enum carry_framing framing;
	size_t limit, seen;
	unsigned nneedles, found;
	bool full, ended, in_seg;
	unsigned char sse;      /* where in an event-stream line */
	unsigned char sse_name; /* bytes of "data" matched in a field name */
	bool after_cr;
	struct carry_needle needle[CARRY_MAX_NEEDLES];
	struct carry_level level[CARRY_LEVELS];
};

/* Starts a scan of the first limit bytes of a body (0: the default). */
void carry_init(struct carry *c, enum carry_framing framing, size_t limit);

/* Adds a value to look for; returns its index (bit 1 << index of the
 * answers), or -1 when it cannot be looked for: empty, longer than
 * CARRY_NEEDLE_MAX, holding CR or LF, or too many.  Call before feeding. */
int carry_add(struct carry *c, enum carry_kind kind, const char *value, size_t len);

/* Feeds the next bytes of the body, with any chunked coding removed;
 * returns the values found so far, one bit each.  Bytes past the limit
 * are not read. */
unsigned carry_feed(struct carry *c, const char *data, size_t len);

/* The body ended (by its framing or the stream's end) before the limit:
 * a value that reached its last byte is found; returns what was found. */
unsigned carry_end(struct carry *c);

/* Nothing more to learn: every value found, the limit reached or the end
 * seen. */
bool carry_done(const struct carry *c);

/* Whether a Content-Type value is text/event-stream. */
bool carry_is_event_stream(const char *value, size_t len);

#endif
