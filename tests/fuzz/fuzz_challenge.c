/* Fuzz target: the challenge parser (preload/challenge.c).  The input is
 * one header value, as libcurl would hand it over:
 *
 *   Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"
 *
 * It is walked challenge by challenge and param by param, and every
 * promise of challenge.h is checked: each view lies inside the input and
 * before malformed_at, challenges and params come in order without
 * overlapping, a value that is not malformed is read whole (no byte left
 * out but OWS and commas), every scheme and name is a token, a quoted
 * value sits between its quotes, challenge_unquote follows snprintf, and
 * the walk ends (each call consumes input); challenge_next_params walks
 * the same and hands over the same params.  The input arrives in a buffer of exactly its
 * size, so any read past it is a sanitizer report. */
#include <stdbool.h>
#include <string.h>

#include "challenge.h"
#include "fuzz.h"

const char *fuzz_input_name;

static bool is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool is_t68char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("-._~+/", c));
}

/* v lies inside [s, s + end). */
static void check_inside(const char *s, size_t end, struct challenge_view v)
{
	FUZZ_CHECK(v.p != NULL);
	FUZZ_CHECK(v.p >= s && v.p <= s + end);
	FUZZ_CHECK(v.len <= end - (size_t)(v.p - s));
}

static void check_token(struct challenge_view v)
{
	FUZZ_CHECK(v.len > 0);
	for (size_t i = 0; i < v.len; i++)
		FUZZ_CHECK(is_tchar((unsigned char)v.p[i]));
}

/* challenge_view_is against a NUL-terminated copy, in the other case. */
static void check_view_is(struct challenge_view v)
{
	char *copy = malloc(v.len + 2);

	FUZZ_CHECK(copy);
	for (size_t i = 0; i < v.len; i++) {
		char c = v.p[i];
		copy[i] = (c >= 'a' && c <= 'z')   ? (char)(c - 32)
		          : (c >= 'A' && c <= 'Z') ? (char)(c + 32)
		                                   : c;
	}
	copy[v.len] = '\0';
	FUZZ_CHECK(challenge_view_is(v, copy));
	copy[v.len] = 'x';
	copy[v.len + 1] = '\0';
	FUZZ_CHECK(!challenge_view_is(v, copy));
	free(copy);
}

/* challenge_unquote: snprintf's contract, checked with buffers of exact
 * sizes so that a write past them is a sanitizer report. */
static void check_unquote(const struct challenge_param *p)
{
	size_t n = challenge_unquote(p, NULL, 0);
	FUZZ_CHECK(n <= p->value.len);
	if (!p->quoted)
		FUZZ_CHECK(n == p->value.len);

	char *full = malloc(n + 1);
	FUZZ_CHECK(full);
	FUZZ_CHECK(challenge_unquote(p, full, n + 1) == n);
	FUZZ_CHECK(full[n] == '\0');
	if (!p->quoted)
		FUZZ_CHECK(memcmp(full, p->value.p, n) == 0);

	for (size_t size = 1; size <= 3 && size <= n; size++) {
		char *small = malloc(size);
		FUZZ_CHECK(small);
		FUZZ_CHECK(challenge_unquote(p, small, size) == n);
		FUZZ_CHECK(small[size - 1] == '\0');
		FUZZ_CHECK(memcmp(small, full, size - 1) == 0);
		free(small);
	}
	free(full);
}

/* Walks ch's params; returns how many there were. */
/* Marks [p, p + len) of s as taken by something the parser returned. */
static void cover(bool *covered, const char *s, const char *p, size_t len)
{
	memset(covered + (p - s), 1, len);
}

static size_t check_params(const char *s, size_t len, const struct challenge *ch, size_t limit,
                           bool *covered)
{
	struct challenge_param p;
	size_t pos = 0, last_end = ch->params_at, n = 0;

	while (challenge_param_next(ch, &pos, &p)) {
		FUZZ_CHECK(++n <= len);
		FUZZ_CHECK(pos <= ch->params_end);
		check_inside(s, limit, p.name);
		check_inside(s, limit, p.value);
		check_token(p.name);
		check_view_is(p.name);
		FUZZ_CHECK((size_t)(p.name.p - s) >= last_end);
		FUZZ_CHECK(p.value.p >= p.name.p + p.name.len);
		if (p.quoted) {
			FUZZ_CHECK(p.value.p > s && p.value.p[-1] == '"');
			FUZZ_CHECK((size_t)(p.value.p - s) + p.value.len < len);
			FUZZ_CHECK(p.value.p[p.value.len] == '"');
		} else {
			check_token(p.value);
		}
		last_end = (size_t)(p.value.p - s) + p.value.len;
		FUZZ_CHECK(last_end <= pos);
		cover(covered, s, p.name.p, last_end + p.quoted - (size_t)(p.name.p - s));
		check_unquote(&p);
	}
	FUZZ_CHECK(p.name.p == NULL && p.value.p == NULL);
	/* At the end it stays at the end. */
	FUZZ_CHECK(!challenge_param_next(ch, &pos, &p));
	return n;
}

/* A hand-made challenge over any range of the input must still keep
 * challenge_param_next inside it (challenge.c says its checks stay for
 * that). */
static void check_hand_made(const char *s, size_t len)
{
	struct challenge ch = {0};
	struct challenge_param p;
	size_t at = len ? (unsigned char)s[0] % (len + 1) : 0;
	size_t pos = 0, n = 0;

	ch.s = s;
	ch.params_at = at;
	ch.params_end = len;
	while (challenge_param_next(&ch, &pos, &p)) {
		FUZZ_CHECK(++n <= len);
		check_inside(s + at, len - at, p.name);
		check_inside(s + at, len - at, p.value);
	}
}

static bool same_view(struct challenge_view a, struct challenge_view b)
{
	return a.p == b.p && a.len == b.len;
}

/* challenge_next_params must walk exactly as challenge_next does, and hand
 * over the params challenge_param_next would return, up to max of them
 * (taken from the input, so that every cut is tried). */
static void check_next_params(const char *s, size_t len)
{
	struct challenge_cursor a, b;
	struct challenge ca, cb;
	struct challenge_param got[8], p;
	size_t max = len ? (unsigned char)s[len - 1] % 9 : 0, n;

	challenge_start(&a, s, len);
	challenge_start(&b, s, len);
	for (size_t k = 0; k <= len + 1; k++) {
		int ra = challenge_next(&a, &ca);
		int rb = challenge_next_params(&b, &cb, got, max, &n);
		FUZZ_CHECK(ra == rb);
		FUZZ_CHECK(a.pos == b.pos && a.malformed == b.malformed);
		FUZZ_CHECK(!a.malformed || a.malformed_at == b.malformed_at);
		FUZZ_CHECK(same_view(ca.scheme, cb.scheme) && same_view(ca.token68, cb.token68));
		FUZZ_CHECK(ca.params_at == cb.params_at && ca.params_end == cb.params_end);
		size_t pos = 0, i = 0;
		while (challenge_param_next(&ca, &pos, &p)) {
			if (i < max && i < n)
				FUZZ_CHECK(same_view(p.name, got[i].name) &&
				           same_view(p.value, got[i].value) && p.quoted == got[i].quoted);
			i++;
		}
		FUZZ_CHECK(i == n);
		if (!ra)
			return;
	}
	FUZZ_CHECK(!"the walk did not end");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct challenge_cursor c;
	struct challenge ch;
	size_t n = 0, last_end = 0;
	bool *covered = calloc(size + 1, sizeof(*covered));

	FUZZ_CHECK(covered);
	challenge_start(&c, s, size);
	FUZZ_CHECK(!c.malformed);
	while (challenge_next(&c, &ch)) {
		/* Every challenge consumes at least its scheme. */
		FUZZ_CHECK(++n <= size);
		check_inside(s, size, ch.scheme);
		cover(covered, s, ch.scheme.p, ch.scheme.len);
		check_token(ch.scheme);
		check_view_is(ch.scheme);
		FUZZ_CHECK((size_t)(ch.scheme.p - s) >= last_end);
		FUZZ_CHECK(ch.s == s);
		FUZZ_CHECK(ch.params_at >= (size_t)(ch.scheme.p - s) + ch.scheme.len);
		FUZZ_CHECK(ch.params_at <= ch.params_end && ch.params_end <= size);
		/* All that was returned lies before malformed_at. */
		size_t limit = c.malformed ? c.malformed_at : size;
		FUZZ_CHECK(limit <= size);
		FUZZ_CHECK(ch.params_end <= limit);
		last_end = (size_t)(ch.scheme.p - s) + ch.scheme.len;
		FUZZ_CHECK(last_end <= limit);
		if (ch.token68.p) {
			check_inside(s, limit, ch.token68);
			FUZZ_CHECK(ch.token68.p >= ch.scheme.p + ch.scheme.len);
			size_t k = 0;
			while (k < ch.token68.len && is_t68char((unsigned char)ch.token68.p[k]))
				k++;
			FUZZ_CHECK(k > 0);
			while (k < ch.token68.len && ch.token68.p[k] == '=')
				k++;
			FUZZ_CHECK(k == ch.token68.len);
			cover(covered, s, ch.token68.p, ch.token68.len);
			last_end = (size_t)(ch.token68.p - s) + ch.token68.len;
			FUZZ_CHECK(check_params(s, size, &ch, limit, covered) == 0);
		} else {
			check_params(s, size, &ch, limit, covered);
		}
		if (ch.params_end > last_end)
			last_end = ch.params_end;
		FUZZ_CHECK(c.pos <= size);
	}
	FUZZ_CHECK(ch.scheme.p == NULL && ch.token68.p == NULL && ch.s == NULL);
	FUZZ_CHECK(!c.malformed || (c.malformed_at <= size && last_end <= c.malformed_at));
	/* A value that is not malformed was read whole: every byte is in
	 * something returned, or is a list separator (OWS, comma). */
	for (size_t i = 0; i < size && !c.malformed; i++)
		FUZZ_CHECK(covered[i] || s[i] == ' ' || s[i] == '\t' || s[i] == ',');
	free(covered);
	/* Once over, it stays over. */
	FUZZ_CHECK(!challenge_next(&c, &ch));
	FUZZ_CHECK(!challenge_next(&c, &ch));

	check_hand_made(s, size);
	check_next_params(s, size);
	return 0;
}
