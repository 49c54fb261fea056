#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool buf_reserve(struct buf *b, size_t more)
{
	if (b->failed)
		return false;
	if (b->len + more < b->len) {
		b->failed = true;
		return false;
	}
	if (b->len + more <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 512;
	while (cap < b->len + more) {
		if (cap > (size_t)-1 / 2) {
			b->failed = true;
			return false;
		}
		cap *= 2;
	}
	char *p = realloc(b->p, cap);
	if (!p) {
		b->failed = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void buf_put(struct buf *b, const void *data, size_t len)
{
	if (!len || !buf_reserve(b, len))
		return;
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

void buf_puts(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

void buf_putc(struct buf *b, char c)
{
	if (!buf_reserve(b, 1))
		return;
	b->p[b->len++] = c;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[128];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if ((size_t)n < sizeof(small)) {
		buf_put(b, small, (size_t)n);
		return;
	}
	if (!buf_reserve(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_putint(struct buf *b, long long v, int width)
{
	char tmp[24];
	int n = 0;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u && n < (int)sizeof(tmp));
	while (n < width && n < (int)sizeof(tmp))
		tmp[n++] = '0';
	if (v < 0)
		buf_putc(b, '-');
	while (n)
		buf_putc(b, tmp[--n]);
}

void buf_puthex(struct buf *b, unsigned long long v)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	int n = 0;

	do {
		tmp[n++] = hex[v & 15];
		v >>= 4;
	} while (v);
	while (n)
		buf_putc(b, tmp[--n]);
}

bool buf_failed(const struct buf *b)
{
	return b->failed;
}

void buf_free(struct buf *b)
{
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = false;
}
