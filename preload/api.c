/* The exported query entry points, reached through shim/authtap.h.  Every
 * answer is copied out under the table lock, so a concurrent
 * curl_easy_cleanup can never leave the caller holding freed memory. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "challenge.h"
#include "preload.h"
#include "table.h"

AUTHTAP_EXPORT int authtap_v1_active(void);
AUTHTAP_EXPORT long authtap_v1_status(const void *h);
AUTHTAP_EXPORT size_t authtap_v1_count(const void *h);
AUTHTAP_EXPORT int authtap_v1_value(const void *h, size_t i, char *buf, size_t size);
AUTHTAP_EXPORT int authtap_v1_name(const void *h, size_t i, char *buf, size_t size);
AUTHTAP_EXPORT size_t authtap_v1_challenges(const void *h);
AUTHTAP_EXPORT int authtap_v1_scheme(const void *h, size_t i, char *buf, size_t size);
AUTHTAP_EXPORT int authtap_v1_param(const void *h, const char *scheme, const char *name,
				    char *buf, size_t size);
AUTHTAP_EXPORT const void *authtap_v1_last(void);
AUTHTAP_EXPORT void authtap_v1_forget(const void *h);

/* snprintf's contract: the full length, at most size - 1 bytes and a NUL. */
static int copy_out(const char *s, size_t len, char *buf, size_t size)
{
	if (size && buf) {
		size_t n = len < size - 1 ? len : size - 1;
		memcpy(buf, s, n);
		buf[n] = '\0';
	}
	return len > INT32_MAX ? INT32_MAX : (int)len;
}

int authtap_v1_active(void)
{
	return !preload_config()->disabled;
}

static int get_status(const struct table_view *v, void *arg)
{
	*(long *)arg = v->status;
	return 0;
}

long authtap_v1_status(const void *h)
{
	long status = 0;
	table_read(h, get_status, &status);
	return status;
}

static int get_count(const struct table_view *v, void *arg)
{
	*(size_t *)arg = v->nheaders;
	return 0;
}

size_t authtap_v1_count(const void *h)
{
	size_t n = 0;
	table_read(h, get_count, &n);
	return n;
}

struct field_query {
	size_t index;
	bool name;
	char *buf;
	size_t size;
};

static int get_field(const struct table_view *v, void *arg)
{
	struct field_query *q = arg;

	if (q->index >= v->nheaders)
		return -1;
	const struct table_header *th = &v->headers[q->index];
	if (q->name)
		return copy_out(v->bytes + th->name_off, th->name_len, q->buf, q->size);
	return copy_out(v->bytes + th->value_off, th->value_len, q->buf, q->size);
}

int authtap_v1_value(const void *h, size_t i, char *buf, size_t size)
{
	int saved = errno;
	struct field_query q = {i, false, buf, size};
	int rc = table_read(h, get_field, &q);
	errno = saved;
	return rc;
}

int authtap_v1_name(const void *h, size_t i, char *buf, size_t size)
{
	int saved = errno;
	struct field_query q = {i, true, buf, size};
	int rc = table_read(h, get_field, &q);
	errno = saved;
	return rc;
}

/* Calls fn on each challenge of the entry, in header order, until it
 * returns non-zero. */
static int each_challenge(const struct table_view *v,
			  int (*fn)(const struct challenge *ch, void *arg), void *arg)
{
	for (size_t i = 0; i < v->nheaders; i++) {
		const struct table_header *th = &v->headers[i];
		struct challenge_cursor c;
		struct challenge ch;

		challenge_start(&c, v->bytes + th->value_off, th->value_len);
		while (challenge_next(&c, &ch)) {
			int rc = fn(&ch, arg);
			if (rc)
				return rc;
		}
	}
	return 0;
}

static int count_one(const struct challenge *ch, void *arg)
{
	(void)ch;
	(*(size_t *)arg)++;
	return 0;
}

static int get_challenges(const struct table_view *v, void *arg)
{
	return each_challenge(v, count_one, arg);
}

size_t authtap_v1_challenges(const void *h)
{
	size_t n = 0;
	table_read(h, get_challenges, &n);
	return n;
}

struct scheme_query {
	size_t index;
	char *buf;
	size_t size;
	int len;
};

static int scheme_at(const struct challenge *ch, void *arg)
{
	struct scheme_query *q = arg;

	if (q->index--)
		return 0;
	q->len = copy_out(ch->scheme.p, ch->scheme.len, q->buf, q->size);
	return 1;
}

static int get_scheme(const struct table_view *v, void *arg)
{
	return each_challenge(v, scheme_at, arg) ? ((struct scheme_query *)arg)->len : -1;
}

int authtap_v1_scheme(const void *h, size_t i, char *buf, size_t size)
{
	int saved = errno;
	struct scheme_query q = {i, buf, size, -1};
	int rc = table_read(h, get_scheme, &q);
	errno = saved;
	return rc;
}

struct param_query {
	const char *scheme, *name;
	char *buf;
	size_t size;
	int len;
};

static int param_in(const struct challenge *ch, void *arg)
{
	struct param_query *q = arg;
	struct challenge_param p;
	size_t pos = 0;

	if (q->scheme && !challenge_view_is(ch->scheme, q->scheme))
		return 0;
	while (challenge_param_next(ch, &pos, &p)) {
		if (!challenge_view_is(p.name, q->name))
			continue;
		size_t len = challenge_unquote(&p, q->buf, q->buf ? q->size : 0);
		q->len = len > INT32_MAX ? INT32_MAX : (int)len;
		return 1;
	}
	return 0;
}

static int get_param(const struct table_view *v, void *arg)
{
	return each_challenge(v, param_in, arg) ? ((struct param_query *)arg)->len : -1;
}

int authtap_v1_param(const void *h, const char *scheme, const char *name, char *buf, size_t size)
{
	int saved = errno;
	struct param_query q = {scheme, name, buf, size, -1};
	int rc = name ? table_read(h, get_param, &q) : -1;
	errno = saved;
	return rc;
}

const void *authtap_v1_last(void)
{
	return table_last();
}

void authtap_v1_forget(const void *h)
{
	table_drop(h);
}
