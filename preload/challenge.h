/* RFC 9110 §11.6.1 challenge parsing over (pointer, length).
 *
 *   WWW-Authenticate: Newauth realm="apps", type=1,
 *                     title="Login to \"apps\"", Basic realm="simple"
 *
 * A cursor walks one header value challenge by challenge; a second cursor
 * walks one challenge's auth-params.  Nothing is allocated and nothing is
 * copied: every result is a view into the caller's bytes, which must outlive
 * the cursor.  Quoted values are returned with their backslash escapes still
 * in; challenge_unquote() undoes them.  Every function runs in time linear in
 * the value and never reads outside [s, s + len). */
#ifndef AUTHTAP_CHALLENGE_H
#define AUTHTAP_CHALLENGE_H

#include <stdbool.h>
#include <stddef.h>

struct challenge_view {
	const char *p;
	size_t len;
};

struct challenge_param {
	struct challenge_view name;  /* as sent; compare case-insensitively */
	struct challenge_view value; /* token, or the inside of a quoted-string */
	bool quoted;                 /* value may hold backslash escapes */
};

struct challenge {
	struct challenge_view scheme;  /* as sent */
	struct challenge_view token68; /* p == NULL when there is none */
	/* Where the challenge's auth-params lie, for challenge_param_next(). */
	size_t params_at, params_end;
	const char *s;
};

struct challenge_cursor {
	const char *s;
	size_t len;
	size_t pos;
	bool malformed;      /* parsing stopped before the end of the value */
	size_t malformed_at; /* byte offset where it stopped */
};

void challenge_start(struct challenge_cursor *c, const char *s, size_t len);

/* Fills *out with the next challenge and returns 1; returns 0 at the end of
 * the value.  On malformed input, the challenge that was being read is still
 * returned with the auth-params that parsed, and the next call returns 0
 * with c->malformed set.  (c->malformed may already be set when that last
 * challenge is returned; every later call returns 0.)  On 0, *out is zeroed.
 *
 * c->malformed_at is the offset of the first byte no reading of the grammar
 * can take, or len when the value ends too early (an unterminated quoted
 * string, "realm=" at the end of a list of params); all that was returned
 * lies before it.  Control bytes (NUL included) and DEL are errors even
 * inside quotes; bytes >= 0x80 inside quotes are data (obs-text).
 *
 * Where the grammar is ambiguous:
 *  - after a comma, "token BWS =" is an auth-param of the current challenge,
 *    anything else starts a new one.  So in 'Basic realm="x", Basic="y"' the
 *    second Basic is a param named "Basic" (a scheme must be followed by
 *    SP, a comma or the end, so it cannot be a challenge), and in
 *    'Negotiate, realm="x"' realm is Negotiate's param;
 *  - the element right after "scheme 1*SP" is a token68 only when OWS and
 *    then a comma or the end follow it: "Negotiate abc==" and "Basic abc= ,"
 *    are token68 ("abc==", "abc="), "realm=x" is a param.  A lone
 *    "Bearer realm=" is therefore token68 "realm=", not a missing value;
 *  - a challenge with a token68 takes no params: in "Negotiate abc, realm=x"
 *    "realm" is read as the next scheme, and the "=" after it is malformed;
 *  - a scheme glued to something that is not SP/HTAB, a comma or the end
 *    ("Basic\"x\"") is not returned at all;
 *  - a param whose value is complete counts even if junk follows it:
 *    'Basic realm="x" charset=y' returns realm, malformed_at is at "charset".
 *
 * Over a whole walk each byte is looked at a bounded number of times, so a
 * value parses in time linear in len, however many params it holds. */
int challenge_next(struct challenge_cursor *c, struct challenge *out);

/* challenge_next(), which reads the challenge's auth-params anyway, handing
 * them over so that they need not be read twice: *n is how many there are
 * (0 for a token68 and at the end) and params[0 .. min(*n, max)) are what
 * challenge_param_next() would return for them, in order.  When *n > max,
 * walk them with challenge_param_next(). */
int challenge_next_params(struct challenge_cursor *c, struct challenge *out,
                          struct challenge_param *params, size_t max, size_t *n);

/* Walks ch's auth-params: *pos starts at 0; returns 1 with *out filled, 0
 * when there are no more.  *pos is an offset into ch->s; params are returned
 * in the order sent, duplicates included.  A token68 challenge has none. */
int challenge_param_next(const struct challenge *ch, size_t *pos, struct challenge_param *out);

/* Writes p's value with quoting undone to dst, snprintf-style: at most
 * size - 1 bytes and a NUL when size > 0; returns the full unquoted length. */
size_t challenge_unquote(const struct challenge_param *p, char *dst, size_t size);

/* True when v equals the NUL-terminated s, ASCII case-insensitively. */
bool challenge_view_is(struct challenge_view v, const char *s);

#endif
