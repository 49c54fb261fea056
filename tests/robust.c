#include "robust.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	int n = vasprintf(&s, f, ap);
	va_end(ap);
	cr_assert(n >= 0);
	return s;
}

const char *preload_var(void)
{
	static char *var;

	if (!var)
		var = fmt("LD_PRELOAD=%s", TEST_PRELOAD);
	return var;
}

void run_both(struct run *with, const char *const argv[], const char *const env[], const char *what)
{
	run_pair(with, argv, NULL, env, what);
}

void run_pair(struct run *with, const char *const argv[], const char *const control_env[],
              const char *const env[], const char *what)
{
	struct run control;

	run(&control, argv, control_env);
	run(with, argv, env);
	cr_expect_eq(with->code, control.code, "%s: exit code %d under the preload, %d without",
	             what, with->code, control.code);
	cr_expect_str_eq(with->out, control.out,
	                 "%s: the program saw something else under the "
	                 "preload",
	                 what);
	run_free(&control);
}

char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = realloc(buf, cap + 1);
			cr_assert(buf);
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

json_t **records_in(const char *buf, size_t len, size_t *n, size_t *warnings)
{
	json_t **recs = NULL;
	const char *p = buf, *end = buf + len;

	*n = 0;
	*warnings = 0;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		cr_assert(nl, "a line that does not end: %.200s", p);
		size_t l = (size_t)(nl + 1 - p);
		if (*p == '{') {
			json_error_t e;
			json_t *j = json_loadb(p, l, JSON_REJECT_DUPLICATES, &e);
			cr_assert(j, "not JSON (%s): %.300s", e.text, p);
			cr_assert(json_is_object(j));
			recs = realloc(recs, (*n + 1) * sizeof(*recs));
			recs[(*n)++] = j;
		} else {
			cr_assert(strncmp(p, "authtap: ", 9) == 0,
			          "neither a record nor a warning: "
			          "%.*s",
			          (int)l, p);
			(*warnings)++;
		}
		p = nl + 1;
	}
	return recs;
}

char *json_bytes(json_t *str, bool latin1, size_t *len)
{
	cr_assert(json_is_string(str), "not a string");
	const unsigned char *s = (const unsigned char *)json_string_value(str);
	size_t n = json_string_length(str);
	char *out = malloc(n + 1);
	size_t k = 0;

	cr_assert(out);
	if (!latin1) {
		memcpy(out, s, n);
		k = n;
	} else {
		for (size_t i = 0; i < n;) {
			if (s[i] < 0x80) {
				out[k++] = (char)s[i++];
				continue;
			}
			/* U+0080..U+00FF are two bytes, C2 or C3 first. */
			cr_assert(i + 1 < n && (s[i] == 0xc2 || s[i] == 0xc3),
			          "a code point past U+00FF in a latin1 string at %zu", i);
			out[k++] = (char)(((s[i] & 0x03) << 6) | (s[i + 1] & 0x3f));
			i += 2;
		}
	}
	out[k] = '\0';
	*len = k;
	return out;
}

bool text_clean(const char *p, size_t len, size_t *bad_at)
{
	const unsigned char *s = (const unsigned char *)p;

	for (size_t i = 0; i < len;) {
		unsigned c = s[i];
		size_t n = 0;
		unsigned cp = 0, min = 0;

		if (c == '\n') {
			i++;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			goto bad;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			n = 1, cp = c & 0x1f, min = 0x80;
		else if (c >= 0xe0 && c <= 0xef)
			n = 2, cp = c & 0x0f, min = 0x800;
		else if (c >= 0xf0 && c <= 0xf4)
			n = 3, cp = c & 0x07, min = 0x10000;
		else
			goto bad;
		if (len - i - 1 < n)
			goto bad;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		/* C1 controls are terminal controls too. */
		if (cp >= 0x80 && cp < 0xa0)
			goto bad;
		i += n + 1;
		continue;
	bad:
		if (bad_at)
			*bad_at = i;
		return false;
	}
	return true;
}

char *hex_of(const unsigned char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *out = malloc(2 * n + 1);

	cr_assert(out);
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
	return out;
}
