#include "verdict.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "challenge.h"
#include "log.h"

/* An upstream response waiting for its downstream head, copied out of
 * libcurl's store (which the next transfer overwrites). */
struct expect {
	long status;
	const void *handle;
	char *method, *url;
	size_t n;
	char **name, **value;
};

static atomic_ulong verdict_counts[5];

const char *verdict_name(enum verdict_kind k)
{
	static const char *const names[] = {"forwarded", "dropped", "altered", "converted",
					    "unpaired"};
	return names[k];
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

static void expect_free(struct expect *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < e->n; i++) {
		free(e->name[i]);
		free(e->value[i]);
	}
	free(e->name);
	free(e->value);
	free(e->method);
	free(e->url);
	free(e);
}

static struct expect *expect_new(const struct record *r)
{
	struct expect *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->status = r->status;
	e->handle = r->transfer->handle;
	e->method = r->transfer->method ? strdup(r->transfer->method) : NULL;
	e->url = r->transfer->url ? strdup(r->transfer->url) : NULL;
	e->name = calloc(r->nheaders + 1, sizeof(char *));
	e->value = calloc(r->nheaders + 1, sizeof(char *));
	if (!e->name || !e->value) {
		expect_free(e);
		return NULL;
	}
	for (size_t i = 0; i < r->nheaders; i++, e->n++) {
		e->name[i] = dup_n(r->headers[i].name, r->headers[i].name_len);
		e->value[i] = dup_n(r->headers[i].value, r->headers[i].value_len);
		if (!e->name[i] || !e->value[i]) {
			e->n++;
			expect_free(e);
			return NULL;
		}
	}
	return e;
}

/* Growing arrays of changes, freed with everything they point to. */
struct changes {
	struct verdict_change *c;
	size_t n, cap;
	char **owned;
	size_t nowned, capowned;
};

static const char *own(struct changes *cs, char *s)
{
	if (!s)
		return NULL;
	if (cs->nowned == cs->capowned) {
		size_t cap = cs->capowned ? cs->capowned * 2 : 16;
		char **p = realloc(cs->owned, cap * sizeof(*p));
		if (!p) {
			free(s);
			return NULL;
		}
		cs->owned = p;
		cs->capowned = cap;
	}
	return cs->owned[cs->nowned++] = s;
}

static void change_add(struct changes *cs, const char *scheme, const char *param, const char *up,
		       const char *down)
{
	if (cs->n == cs->cap) {
		size_t cap = cs->cap ? cs->cap * 2 : 8;
		struct verdict_change *p = realloc(cs->c, cap * sizeof(*p));
		if (!p)
			return;
		cs->c = p;
		cs->cap = cap;
	}
	cs->c[cs->n++] = (struct verdict_change){scheme, param, up, down};
}

static char *param_value(const struct challenge_param *p)
{
	size_t n = challenge_unquote(p, NULL, 0);
	char *s = malloc(n + 1);
	if (s)
		challenge_unquote(p, s, n + 1);
	return s;
}

static char *view_dup(struct challenge_view v)
{
	return dup_n(v.p, v.len);
}

#define VERDICT_MAX_CHALLENGES 32

struct parsed {
	struct challenge ch[VERDICT_MAX_CHALLENGES];
	size_t n;
};

static void parse_all(const char *value, struct parsed *out)
{
	struct challenge_cursor c;

	out->n = 0;
	challenge_start(&c, value, strlen(value));
	while (out->n < VERDICT_MAX_CHALLENGES && challenge_next(&c, &out->ch[out->n]))
		out->n++;
}

static bool find_param(const struct challenge *ch, struct challenge_view name,
		       struct challenge_param *out)
{
	size_t pos = 0;
	while (challenge_param_next(ch, &pos, out))
		if (out->name.len == name.len && strncasecmp(out->name.p, name.p, name.len) == 0)
			return true;
	return false;
}

/* Parameter by parameter, so that a reverse proxy rewriting
 * resource_metadata reads as exactly that. */
static void diff_challenges(struct changes *cs, const char *up, const char *down)
{
	struct parsed u, d;
	bool used[VERDICT_MAX_CHALLENGES] = {0};

	parse_all(up, &u);
	parse_all(down, &d);
	for (size_t i = 0; i < u.n; i++) {
		const struct challenge *uc = &u.ch[i], *dc = NULL;
		for (size_t k = 0; k < d.n && !dc; k++) {
			if (!used[k] && uc->scheme.len == d.ch[k].scheme.len &&
			    strncasecmp(uc->scheme.p, d.ch[k].scheme.p, uc->scheme.len) == 0) {
				used[k] = true;
				dc = &d.ch[k];
			}
		}
		const char *scheme = own(cs, view_dup(uc->scheme));
		if (!dc) {
			change_add(cs, scheme, NULL, scheme, NULL);
			continue;
		}
		if (uc->token68.p || dc->token68.p) {
			char *ut = uc->token68.p ? view_dup(uc->token68) : NULL;
			char *dt = dc->token68.p ? view_dup(dc->token68) : NULL;
			if (!ut || !dt || strcmp(ut, dt) != 0)
				change_add(cs, scheme, "token68", own(cs, ut), own(cs, dt));
			else {
				free(ut);
				free(dt);
			}
			continue;
		}
		struct challenge_param p, q;
		size_t pos = 0;
		while (challenge_param_next(uc, &pos, &p)) {
			char *uv = param_value(&p), *dv = NULL;
			if (find_param(dc, p.name, &q))
				dv = param_value(&q);
			if (uv && dv && strcmp(uv, dv) == 0) {
				free(uv);
				free(dv);
				continue;
			}
			change_add(cs, scheme, own(cs, view_dup(p.name)), own(cs, uv), own(cs, dv));
		}
		pos = 0;
		while (challenge_param_next(dc, &pos, &q)) {
			if (!find_param(uc, q.name, &p))
				change_add(cs, scheme, own(cs, view_dup(q.name)), NULL,
					   own(cs, param_value(&q)));
		}
	}
	for (size_t k = 0; k < d.n; k++)
		if (!used[k]) {
			const char *scheme = own(cs, view_dup(d.ch[k].scheme));
			change_add(cs, scheme, NULL, NULL, scheme);
		}
}

static void count(enum verdict_kind k)
{
	atomic_fetch_add(&verdict_counts[k], 1);
}

static void emit_unpaired(struct expect *e, const char *why)
{
	struct verdict v = {
		.kind = VERDICT_UNPAIRED,
		.unpaired_why = why,
		.handle = e->handle,
		.method = e->method,
		.url = e->url,
		.upstream_status = e->status,
	};
	struct verdict_header *hs = calloc(e->n + 1, sizeof(*hs));
	for (size_t i = 0; hs && i < e->n; i++)
		hs[i] = (struct verdict_header){e->name[i],       e->value[i], NULL,
						VERDICT_UNPAIRED, 0,           NULL};
	v.nheaders = hs ? e->n : 0;
	v.headers = hs;
	log_verdict(&v);
	count(VERDICT_UNPAIRED);
	free(hs);
}

void verdict_head(struct net_conn *c, const struct head *h)
{
	struct expect *e = c->expect;
	if (!e)
		return;
	c->expect = NULL;

	struct verdict_header *hs = calloc(e->n + 1, sizeof(*hs));
	struct changes *cs = calloc(e->n + 1, sizeof(*cs));
	char **down = calloc(e->n + 1, sizeof(char *));
	size_t forwarded = 0, dropped = 0;

	if (!hs || !cs || !down)
		goto out;
	for (size_t i = 0; i < e->n; i++) {
		struct head_field f;
		size_t pos = 0;
		const char *same = NULL;
		hs[i].name = e->name[i];
		hs[i].upstream = e->value[i];
		/* The downstream line of the same name that matches exactly,
		 * else the first of that name. */
		while (head_next_field(h, &pos, &f)) {
			if (f.name_len != strlen(e->name[i]) ||
			    strncasecmp(f.name, e->name[i], f.name_len) != 0)
				continue;
			if (f.value_len == strlen(e->value[i]) &&
			    memcmp(f.value, e->value[i], f.value_len) == 0) {
				same = NULL;
				free(down[i]);
				down[i] = dup_n(f.value, f.value_len);
				hs[i].result = VERDICT_FORWARDED;
				break;
			}
			if (!down[i]) {
				down[i] = dup_n(f.value, f.value_len);
				same = down[i];
			}
		}
		hs[i].downstream = down[i];
		if (!down[i]) {
			hs[i].result = VERDICT_DROPPED;
			dropped++;
		} else if (same) {
			hs[i].result = VERDICT_ALTERED;
			diff_challenges(&cs[i], e->value[i], same);
			hs[i].changes = cs[i].c;
			hs[i].nchanges = cs[i].n;
		} else {
			forwarded++;
		}
	}

	struct verdict v = {
		.handle = e->handle,
		.method = e->method,
		.url = e->url,
		.upstream_status = e->status,
		.downstream_status = h->status,
		.nheaders = e->n,
		.headers = hs,
	};
	if (h->status != e->status)
		v.kind = VERDICT_CONVERTED;
	else if (forwarded == e->n)
		v.kind = VERDICT_FORWARDED;
	else if (dropped == e->n)
		v.kind = VERDICT_DROPPED;
	else
		v.kind = VERDICT_ALTERED;
	log_verdict(&v);
	count(v.kind);
out:
	for (size_t i = 0; cs && down && i < e->n; i++) {
		for (size_t k = 0; k < cs[i].nowned; k++)
			free(cs[i].owned[k]);
		free(cs[i].owned);
		free(cs[i].c);
		free(down[i]);
	}
	free(cs);
	free(down);
	free(hs);
	expect_free(e);
}

void verdict_conn_gone(struct net_conn *c)
{
	if (c->expect) {
		emit_unpaired(c->expect, "the client connection closed before a response");
		expect_free(c->expect);
		c->expect = NULL;
	}
}

static void unpair_on_new_transfer(struct net_conn *c, void *arg)
{
	(void)arg;
	if (c->expect) {
		emit_unpaired(c->expect, "another transfer started for the same client");
		expect_free(c->expect);
		c->expect = NULL;
	}
}

void verdict_unpair_waiting(struct net_ref conn)
{
	net_with_conn(conn, unpair_on_new_transfer, NULL);
}

struct handover {
	struct expect *e;
	bool taken;
};

static void set_expect(struct net_conn *c, void *arg)
{
	struct handover *h = arg;

	unpair_on_new_transfer(c, NULL);
	c->expect = h->e;
	h->taken = true;
}

void verdict_expect(struct net_ref conn, const struct record *r)
{
	if (!conn.id)
		return;
	int saved = errno;
	struct handover h = {expect_new(r), false};
	if (h.e)
		net_with_conn(conn, set_expect, &h);
	/* The connection was gone already: nobody can answer it now. */
	if (h.e && !h.taken) {
		emit_unpaired(h.e, "the client connection closed before a response");
		expect_free(h.e);
	}
	errno = saved;
}

static void unpair_at_exit(struct net_conn *c, void *arg)
{
	(void)arg;
	if (c->expect) {
		emit_unpaired(c->expect, "the program exited before a response");
		expect_free(c->expect);
		c->expect = NULL;
	}
}

void verdict_finish(void)
{
	if (!net_accepted())
		return;
	net_each_conn(unpair_at_exit, NULL);
	struct verdict_summary s = {
		.forwarded = atomic_load(&verdict_counts[VERDICT_FORWARDED]),
		.dropped = atomic_load(&verdict_counts[VERDICT_DROPPED]),
		.altered = atomic_load(&verdict_counts[VERDICT_ALTERED]),
		.converted = atomic_load(&verdict_counts[VERDICT_CONVERTED]),
		.unpaired = atomic_load(&verdict_counts[VERDICT_UNPAIRED]),
	};
	s.challenges = s.forwarded + s.dropped + s.altered + s.converted + s.unpaired;
	if (s.challenges)
		log_summary(&s);
}
