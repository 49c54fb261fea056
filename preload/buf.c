#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* "00" "01" ... "99": integers are written two digits per division. */
const char buf_dec2[200] = "0001020304050607080910111213141516171819"
                           "2021222324252627282930313233343536373839"
                           "4041424344454647484950515253545556575859"
                           "6061626364656667686970717273747576777879"
                           "8081828384858687888990919293949596979899";

void buf_init(struct buf *b, char *storage, size_t size)
{
	b->p = storage;
	b->len = 0;
	b->cap = size;
	b->failed = false;
	b->lent = true;
}

void buf_fail(struct buf *b)
{
	b->failed = true;
	b->cap = b->len;
}

/* Doubling from 512 (or from the lent size); lent storage is copied out,
 * never realloc'ed. */
bool buf_grow(struct buf *b, size_t more)
{
	if (b->failed)
		return false;
	if (b->len + more < b->len) {
		buf_fail(b);
		return false;
	}
	if (b->p && b->len + more <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 512;
	while (cap < b->len + more) {
		if (cap > (size_t)-1 / 2) {
			buf_fail(b);
			return false;
		}
		cap *= 2;
	}
	char *p;
	if (b->lent) {
		p = malloc(cap);
		if (p && b->len)
			memcpy(p, b->p, b->len);
	} else {
		p = realloc(b->p, cap);
	}
	if (!p) {
		buf_fail(b);
		return false;
	}
	b->p = p;
	b->cap = cap;
	b->lent = false;
	return true;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[128];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0) {
		buf_fail(b);
		return;
	}
	if ((size_t)n < sizeof(small)) {
		buf_put(b, small, (size_t)n);
		return;
	}
	if (!buf_grow(b, (size_t)n + 1))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Right to left, two digits per step, straight into the buffer once the
 * number of digits is known; at most 24 digits of padding, as there always
 * were. */
void buf_putint(struct buf *b, long long v, int width)
{
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
	int digits = 1;

	for (unsigned long long p10 = 10; digits < 20 && u >= p10; p10 *= 10)
		digits++;
	int n = digits < width ? (width < 24 ? width : 24) : digits;
	char *o = buf_room(b, (size_t)n + 1);
	if (!o)
		return;
	if (v < 0)
		*o++ = '-';
	char *q = o + n;
	while (u >= 100) {
		unsigned r = (unsigned)(u % 100);
		u /= 100;
		q -= 2;
		memcpy(q, buf_dec2 + 2 * r, 2);
	}
	if (u >= 10) {
		q -= 2;
		memcpy(q, buf_dec2 + 2 * u, 2);
	} else {
		*--q = (char)('0' + u);
	}
	while (q > o)
		*--q = '0';
	buf_commit(b, (size_t)n + (v < 0));
}

void buf_puthex(struct buf *b, unsigned long long v)
{
	static const char hex[] = "0123456789abcdef";
	char tmp[16];
	char *end = tmp + sizeof(tmp), *q = end;

	do {
		*--q = hex[v & 15];
		v >>= 4;
	} while (v);
	buf_put(b, q, (size_t)(end - q));
}

void buf_free(struct buf *b)
{
	if (!b->lent)
		free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
	b->failed = false;
	b->lent = false;
}
