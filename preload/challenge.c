/* RFC 9110 §11.6.1 challenge parsing over (pointer, length); the contract
 * and the ambiguity rules are in challenge.h.
 *
 * The scanners below work like curl's curlx_str_* helpers: a cursor that
 * only moves forward, a non-zero return on error.  On error the cursor is
 * left on the byte where scanning stopped, which is what malformed_at
 * reports; callers that only look ahead keep their own copy. */
#include "challenge.h"

#include <stdint.h>
#include <string.h>

enum challenge_err {
	CHALLENGE_OK,
	CHALLENGE_ENONAME,  /* no token where a name was needed */
	CHALLENGE_ENOEQ,    /* a token, but no "=" after it */
	CHALLENGE_EVALUE,   /* "=" without a token or a whole quoted-string */
	CHALLENGE_ETOKEN68, /* not a token68 that ends the element */
	CHALLENGE_ESCHEME,  /* no scheme, or one glued to what follows */
};

struct challenge_scan {
	const char *s;
	size_t pos;
	size_t end;
};

/* What each byte may be, as bits of one table, so that every scanner is a
 * load and a test per byte. */
enum challenge_class_bit {
	CHALLENGE_TCHAR = 1 << 0, /* RFC 9110 §5.6.2 tchar */
	CHALLENGE_T68 = 1 << 1,   /* token68 without its "=" padding */
	CHALLENGE_QD = 1 << 2,    /* qdtext: HTAB, SP, VCHAR but DQUOTE and "\", obs-text */
	CHALLENGE_QP = 1 << 3,    /* after "\" in a quoted-pair: HTAB, SP, VCHAR, obs-text */
	CHALLENGE_OWS = 1 << 4,   /* SP, HTAB */
	CHALLENGE_SEP = 1 << 5,   /* SP, HTAB, "," between list elements */
};

#define CHALLENGE_ALNUM(c)                                                                         \
	(((c) >= 'a' && (c) <= 'z') || ((c) >= 'A' && (c) <= 'Z') || ((c) >= '0' && (c) <= '9'))
#define CHALLENGE_IS_TCHAR(c)                                                                      \
	(CHALLENGE_ALNUM(c) || (c) == '!' || (c) == '#' || (c) == '$' || (c) == '%' ||             \
	 (c) == '&' || (c) == '\'' || (c) == '*' || (c) == '+' || (c) == '-' || (c) == '.' ||      \
	 (c) == '^' || (c) == '_' || (c) == '`' || (c) == '|' || (c) == '~')
#define CHALLENGE_IS_T68(c)                                                                        \
	(CHALLENGE_ALNUM(c) || (c) == '-' || (c) == '.' || (c) == '_' || (c) == '~' ||             \
	 (c) == '+' || (c) == '/')
/* Control bytes, NUL included, and DEL end a quoted value as malformed. */
#define CHALLENGE_IS_QP(c) ((c) == '\t' || ((c) >= 0x20 && (c) != 0x7f))
#define CHALLENGE_IS_OWS(c) ((c) == ' ' || (c) == '\t')
#define CHALLENGE_CLASS(c)                                                                         \
	((CHALLENGE_IS_TCHAR(c) ? CHALLENGE_TCHAR : 0) |                                           \
	 (CHALLENGE_IS_T68(c) ? CHALLENGE_T68 : 0) |                                               \
	 (CHALLENGE_IS_QP(c) && (c) != '"' && (c) != '\\' ? CHALLENGE_QD : 0) |                    \
	 (CHALLENGE_IS_QP(c) ? CHALLENGE_QP : 0) | (CHALLENGE_IS_OWS(c) ? CHALLENGE_OWS : 0) |     \
	 (CHALLENGE_IS_OWS(c) || (c) == ',' ? CHALLENGE_SEP : 0))
#define CHALLENGE_ROW4(c)                                                                          \
	CHALLENGE_CLASS(c), CHALLENGE_CLASS((c) + 1), CHALLENGE_CLASS((c) + 2),                    \
	    CHALLENGE_CLASS((c) + 3)
#define CHALLENGE_ROW16(c)                                                                         \
	CHALLENGE_ROW4(c), CHALLENGE_ROW4((c) + 4), CHALLENGE_ROW4((c) + 8),                       \
	    CHALLENGE_ROW4((c) + 12)
#define CHALLENGE_ROW64(c)                                                                         \
	CHALLENGE_ROW16(c), CHALLENGE_ROW16((c) + 16), CHALLENGE_ROW16((c) + 32),                  \
	    CHALLENGE_ROW16((c) + 48)

static const unsigned char challenge_class[256] = {
    CHALLENGE_ROW64(0x00),
    CHALLENGE_ROW64(0x40),
    CHALLENGE_ROW64(0x80),
    CHALLENGE_ROW64(0xc0),
};

static bool challenge_is(unsigned char ch, unsigned bits)
{
	return (challenge_class[ch] & bits) != 0;
}

static unsigned char challenge_lower(unsigned char ch)
{
	return (ch >= 'A' && ch <= 'Z') ? (unsigned char)(ch - 'A' + 'a') : ch;
}

static bool challenge_eos(const struct challenge_scan *sc)
{
	return sc->pos >= sc->end;
}

static bool challenge_at(const struct challenge_scan *sc, char ch)
{
	return sc->pos < sc->end && sc->s[sc->pos] == ch;
}

/* Moves the cursor past every byte of class bits. */
static void challenge_span(struct challenge_scan *sc, unsigned bits)
{
	const unsigned char *s = (const unsigned char *)sc->s;
	size_t pos = sc->pos, end = sc->end;

	while (pos < end && challenge_is(s[pos], bits))
		pos++;
	sc->pos = pos;
}

static void challenge_skip_ows(struct challenge_scan *sc)
{
	challenge_span(sc, CHALLENGE_OWS);
}

/* Empty list elements, "Basic realm=x ,, , charset=UTF-8", are allowed
 * wherever a list element may start (RFC 9110 §5.6.1.2). */
static void challenge_skip_seps(struct challenge_scan *sc)
{
	challenge_span(sc, CHALLENGE_SEP);
}

static int challenge_token(struct challenge_scan *sc, struct challenge_view *out)
{
	size_t start = sc->pos;

	challenge_span(sc, CHALLENGE_TCHAR);
	if (sc->pos == start)
		return CHALLENGE_ENONAME;
	out->p = sc->s + start;
	out->len = sc->pos - start;
	return CHALLENGE_OK;
}

#define CHALLENGE_ONES 0x0101010101010101ull
#define CHALLENGE_HIGHS 0x8080808080808080ull

/* Whether any of the eight bytes at s may end a run of qdtext: a byte
 * below 0x20 (HTAB too, which the byte loop then takes), DQUOTE, "\" or
 * DEL.  Each test can misfire only above a byte that really matches. */
static bool challenge_word_stops(const unsigned char *s)
{
	uint64_t w;

	memcpy(&w, s, sizeof(w));
	uint64_t ctl = w - CHALLENGE_ONES * 0x20;
	uint64_t quote = (w ^ (CHALLENGE_ONES * '"')) - CHALLENGE_ONES;
	uint64_t bs = (w ^ (CHALLENGE_ONES * '\\')) - CHALLENGE_ONES;
	uint64_t del = (w ^ (CHALLENGE_ONES * 0x7f)) - CHALLENGE_ONES;

	return ((ctl | quote | bs | del) & ~w & CHALLENGE_HIGHS) != 0;
}

/* The cursor sits on the opening DQUOTE.  *out gets the bytes between the
 * quotes with their escapes; an unterminated string stops at the end.
 * qdtext is skipped eight bytes at a time until a word holds a byte that
 * may stop it. */
static int challenge_quoted(struct challenge_scan *sc, struct challenge_view *out)
{
	const unsigned char *s = (const unsigned char *)sc->s;
	size_t start = sc->pos + 1, pos = start, end = sc->end;

	for (;;) {
		while (end - pos >= 8 && !challenge_word_stops(s + pos))
			pos += 8;
		while (pos < end && challenge_is(s[pos], CHALLENGE_QD))
			pos++;
		if (pos >= end)
			break;
		if (s[pos] == '"') {
			out->p = sc->s + start;
			out->len = pos - start;
			sc->pos = pos + 1;
			return CHALLENGE_OK;
		}
		if (s[pos] != '\\')
			break;
		pos++;
		if (pos >= end || !challenge_is(s[pos], CHALLENGE_QP))
			break;
		pos++;
	}
	sc->pos = pos;
	return CHALLENGE_EVALUE;
}

/* auth-param = token BWS "=" BWS ( token / quoted-string ).  ENONAME and
 * ENOEQ tell a caller looking past a comma that a new challenge starts. */
static int challenge_param(struct challenge_scan *sc, struct challenge_param *out)
{
	if (challenge_token(sc, &out->name))
		return CHALLENGE_ENONAME;
	challenge_skip_ows(sc);
	if (!challenge_at(sc, '='))
		return CHALLENGE_ENOEQ;
	sc->pos++;
	challenge_skip_ows(sc);
	if (challenge_at(sc, '"')) {
		out->quoted = true;
		return challenge_quoted(sc, &out->value);
	}
	out->quoted = false;
	if (challenge_token(sc, &out->value))
		return CHALLENGE_EVALUE;
	return CHALLENGE_OK;
}

/* A token68 counts only when OWS and then a comma or the end follow it:
 * "Negotiate abc==" and "Basic abc= ," are token68, "realm=x" is not.  On
 * success the cursor is left on that comma or the end. */
static int challenge_token68(struct challenge_scan *sc, struct challenge_view *out)
{
	size_t start = sc->pos, stop;

	challenge_span(sc, CHALLENGE_T68);
	if (sc->pos == start)
		return CHALLENGE_ETOKEN68;
	while (challenge_at(sc, '='))
		sc->pos++;
	stop = sc->pos;
	challenge_skip_ows(sc);
	if (!challenge_eos(sc) && !challenge_at(sc, ','))
		return CHALLENGE_ETOKEN68;
	out->p = sc->s + start;
	out->len = stop - start;
	return CHALLENGE_OK;
}

static void challenge_stop(struct challenge_cursor *c, size_t at)
{
	c->malformed = true;
	c->malformed_at = at;
	c->pos = at;
}

/* Where the walk puts the auth-params it reads, for
 * challenge_next_params(): the first max of them, and how many in all. */
struct challenge_keep {
	struct challenge_param *params;
	size_t max, n;
};

/* The param about to be read goes to the caller's array while it has room,
 * else to spare; keep->n counts it once it has parsed. */
static struct challenge_param *challenge_slot(struct challenge_keep *keep,
                                              struct challenge_param *spare)
{
	return keep->n < keep->max ? &keep->params[keep->n] : spare;
}

/* The element right after "scheme 1*SP" is a token68 or the first
 * auth-param.  Returns true when more auth-params may follow.  When neither
 * reading fits, the error is put where the reading that got further
 * stopped: for "Negotiate abc/def ghi" that is "ghi", not "/". */
static bool challenge_first(struct challenge_cursor *c, struct challenge_scan *sc,
                            struct challenge *out, struct challenge_keep *keep)
{
	struct challenge_scan t68 = *sc;
	struct challenge_param spare;
	size_t at = sc->pos;

	if (!challenge_token68(&t68, &out->token68)) {
		out->params_at = out->params_end = t68.pos;
		c->pos = t68.pos;
		return false;
	}
	if (challenge_param(sc, challenge_slot(keep, &spare))) {
		challenge_stop(c, sc->pos > t68.pos ? sc->pos : t68.pos);
		return false;
	}
	keep->n++;
	out->params_at = at;
	out->params_end = sc->pos;
	return true;
}

/* After a comma, "token BWS =" continues the current challenge; anything
 * else is the next challenge, which starts where the look-ahead began:
 *
 *   Newauth realm="apps", type=1, Basic realm="simple"
 *                         ^param  ^new challenge
 *
 * The look-ahead is the param's own scan, so no byte is read more than a
 * few times and a value of 20,000 params stays linear. */
static void challenge_params(struct challenge_cursor *c, struct challenge_scan *sc,
                             struct challenge *out, struct challenge_keep *keep)
{
	struct challenge_param spare;
	size_t next;
	int rc;

	for (;;) {
		challenge_skip_ows(sc);
		if (challenge_eos(sc))
			break;
		if (!challenge_at(sc, ',')) {
			challenge_stop(c, sc->pos);
			return;
		}
		challenge_skip_seps(sc);
		if (challenge_eos(sc))
			break;
		next = sc->pos;
		rc = challenge_param(sc, challenge_slot(keep, &spare));
		if (rc == CHALLENGE_ENONAME || rc == CHALLENGE_ENOEQ) {
			sc->pos = next;
			break;
		}
		if (rc) {
			challenge_stop(c, sc->pos);
			return;
		}
		keep->n++;
		out->params_end = sc->pos;
	}
	c->pos = sc->pos;
}

/* A scheme must end in SP/HTAB, a comma or the end of the value; "Basic"
 * glued to anything else ("Basic\"x\"", "Bas\0ic") is no challenge at all. */
static int challenge_scheme(struct challenge_scan *sc, struct challenge_view *out)
{
	if (challenge_token(sc, out))
		return CHALLENGE_ESCHEME;
	if (!challenge_eos(sc) && !challenge_is((unsigned char)sc->s[sc->pos], CHALLENGE_SEP))
		return CHALLENGE_ESCHEME;
	return CHALLENGE_OK;
}

void challenge_start(struct challenge_cursor *c, const char *s, size_t len)
{
	c->s = s;
	c->len = s ? len : 0;
	c->pos = 0;
	c->malformed = false;
	c->malformed_at = 0;
}

static int challenge_walk(struct challenge_cursor *c, struct challenge *out,
                          struct challenge_keep *keep)
{
	struct challenge_scan sc;

	memset(out, 0, sizeof(*out));
	if (c->malformed || !c->s)
		return 0;
	sc.s = c->s;
	sc.pos = c->pos;
	sc.end = c->len;
	challenge_skip_seps(&sc);
	c->pos = sc.pos;
	if (challenge_eos(&sc))
		return 0;
	if (challenge_scheme(&sc, &out->scheme)) {
		memset(out, 0, sizeof(*out));
		challenge_stop(c, sc.pos);
		return 0;
	}
	out->s = c->s;
	out->params_at = out->params_end = sc.pos;
	challenge_skip_ows(&sc);
	if (!challenge_eos(&sc) && !challenge_at(&sc, ',') && !challenge_first(c, &sc, out, keep))
		return 1;
	challenge_params(c, &sc, out, keep);
	return 1;
}

int challenge_next(struct challenge_cursor *c, struct challenge *out)
{
	struct challenge_keep none = {NULL, 0, 0};

	return challenge_walk(c, out, &none);
}

int challenge_next_params(struct challenge_cursor *c, struct challenge *out,
                          struct challenge_param *params, size_t max, size_t *n)
{
	struct challenge_keep keep = {params, max, 0};
	int rc = challenge_walk(c, out, &keep);

	*n = rc ? keep.n : 0;
	return rc;
}

/* Re-reads the range challenge_next() already checked; the checks stay so
 * that a hand-made struct challenge cannot lead outside [params_at,
 * params_end). */
int challenge_param_next(const struct challenge *ch, size_t *pos, struct challenge_param *out)
{
	struct challenge_scan sc;

	memset(out, 0, sizeof(*out));
	if (!ch->s || *pos >= ch->params_end)
		return 0;
	sc.s = ch->s;
	sc.pos = *pos < ch->params_at ? ch->params_at : *pos;
	sc.end = ch->params_end;
	challenge_skip_seps(&sc);
	if (challenge_eos(&sc) || challenge_param(&sc, out)) {
		memset(out, 0, sizeof(*out));
		*pos = ch->params_end;
		return 0;
	}
	*pos = sc.pos;
	return 1;
}

/* Copies what of src fits below room at dst + n. */
static void challenge_copy(char *dst, size_t room, size_t n, const char *src, size_t len)
{
	if (n < room)
		memcpy(dst + n, src, len < room - n ? len : room - n);
}

/* "Login to \"apps\"" becomes Login to "apps".  A lone trailing "\" cannot
 * come from challenge_next() and is kept as it is.  What lies between
 * backslashes is copied in runs. */
size_t challenge_unquote(const struct challenge_param *p, char *dst, size_t size)
{
	const char *v = p->value.p;
	size_t len = p->value.len, room = size ? size - 1 : 0;
	size_t i = 0, n = 0;

	while (i < len) {
		const char *bs = p->quoted ? memchr(v + i, '\\', len - i) : NULL;
		size_t run = bs ? (size_t)(bs - (v + i)) : len - i;

		challenge_copy(dst, room, n, v + i, run);
		n += run;
		i += run;
		if (!bs)
			break;
		if (i + 1 < len)
			i++; /* the backslash goes, the byte after it stays */
		challenge_copy(dst, room, n, v + i, 1);
		n++;
		i++;
	}
	if (size)
		dst[n < size ? n : size - 1] = '\0';
	return n;
}

/* Locale-free on purpose: schemes and names are ASCII tokens, and bytes
 * >= 0x80 must never fold. */
bool challenge_view_is(struct challenge_view v, const char *s)
{
	size_t i;

	if (!s || (!v.p && v.len))
		return false;
	for (i = 0; i < v.len; i++) {
		if (!s[i] ||
		    challenge_lower((unsigned char)v.p[i]) != challenge_lower((unsigned char)s[i]))
			return false;
	}
	return s[i] == '\0';
}
