/* A growable byte buffer for building one log record.  An allocation failure
 * is sticky: later appends do nothing and buf_failed() says so.
 *
 * A zeroed struct buf starts empty and allocates on the first append;
 * buf_init() lends it storage first (the record writers use a stack array,
 * so that a normal record costs no malloc at all).  The appends that run
 * for every byte of a record are inline: one capacity check, then a store
 * or a memcpy, with the growing out of line. */
#ifndef AUTHTAP_BUF_H
#define AUTHTAP_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct buf {
	char *p;
	size_t len, cap;
	bool failed;
	bool lent; /* p is the caller's storage: never realloc'ed or freed */
};

/* Starts b on storage of size bytes that outlives it; b moves to the heap
 * when a record outgrows it. */
void buf_init(struct buf *b, char *storage, size_t size);

/* Out of line: makes room for more bytes after len, or marks b failed. */
bool buf_grow(struct buf *b, size_t more);

/* Room for more bytes at the end: a pointer to write them to, then
 * buf_commit(); NULL when b has failed.  On failure cap is set to len, so
 * that the inline checks below send every later append to buf_grow(),
 * which refuses it. */
static inline char *buf_room(struct buf *b, size_t more)
{
	if (__builtin_expect(b->cap - b->len > more, 1))
		return b->p + b->len;
	return buf_grow(b, more) ? b->p + b->len : NULL;
}

static inline void buf_commit(struct buf *b, size_t n)
{
	b->len += n;
}

/* data may be NULL when len is 0, as memcpy's may not. */
static inline void buf_put(struct buf *b, const void *data, size_t len)
{
	if (!len)
		return;
	if (__builtin_expect(b->cap - b->len > len, 1) || buf_grow(b, len)) {
		memcpy(b->p + b->len, data, len);
		b->len += len;
	}
}

/* Inline so that a literal's strlen is a constant. */
static inline void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static inline void buf_putc(struct buf *b, char c)
{
	if (__builtin_expect(b->len < b->cap, 1) || buf_grow(b, 1))
		b->p[b->len++] = c;
}

/* "00" "01" ... "99", for writers that put fixed-width fields. */
extern const char buf_dec2[200];

void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal, zero-padded to width digits; vsnprintf's cost shows on the
 * record path. */
void buf_putint(struct buf *b, long long v, int width);
void buf_puthex(struct buf *b, unsigned long long v);

/* Marks b failed (a scratch allocation of a writer failed). */
void buf_fail(struct buf *b);

static inline bool buf_failed(const struct buf *b)
{
	return b->failed;
}

void buf_free(struct buf *b);

#endif
