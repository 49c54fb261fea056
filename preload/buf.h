/* A growable byte buffer for building one log record.  An allocation failure
 * is sticky: later appends do nothing and buf_failed() says so. */
#ifndef AUTHTAP_BUF_H
#define AUTHTAP_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *p;
	size_t len, cap;
	bool failed;
};

void buf_put(struct buf *b, const void *data, size_t len);
void buf_puts(struct buf *b, const char *s);
void buf_putc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Decimal, zero-padded to width digits; vsnprintf's cost shows on the
 * record path. */
void buf_putint(struct buf *b, long long v, int width);
void buf_puthex(struct buf *b, unsigned long long v);
bool buf_failed(const struct buf *b);
void buf_free(struct buf *b);

#endif
