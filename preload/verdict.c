#include "verdict.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "challenge.h"
#include "log.h"

#define VERDICT_MAX_HEADERS 16

/* An upstream response waiting for its downstream head, copied out of
 * libcurl's store (which the next transfer overwrites). */
struct expect {
	long status;
	const void *handle;
	char *method, *url;
	size_t n;
	char **name, **value;
	struct expect *next_dead;
	/* Set when the expectation lives in a connected socket's store (the
	 * socket source), which it gives back instead of being freed. */
	_Atomic bool *in_store;
};

/* An expectation made inside a hook, without malloc: in the store of the
 * connected socket whose response it is, one at a time. */
struct expect_store {
	struct expect e;
	char *name[VERDICT_MAX_HEADERS], *value[VERDICT_MAX_HEADERS];
	_Atomic bool in_use;
	size_t used;
	char text[];
};

_Static_assert(sizeof(struct expect_store) + 2048 <= NET_EXPECT_STORE, "the store is too small");

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
	if (e->in_store) {
		atomic_store_explicit(e->in_store, false, memory_order_release);
		return;
	}
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
	size_t n = r->nheaders < VERDICT_MAX_HEADERS ? r->nheaders : VERDICT_MAX_HEADERS;
	e->name = calloc(n + 1, sizeof(char *));
	e->value = calloc(n + 1, sizeof(char *));
	if (!e->name || !e->value) {
		expect_free(e);
		return NULL;
	}
	for (size_t i = 0; i < n; i++, e->n++) {
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

/* Where a verdict is built: in the connection's scratch, since it may be
 * built inside a signal handler, where malloc is out of reach.  Strings go
 * to the arena; what does not fit is cut. */
#define VERDICT_MAX_CHANGES 64
#define VERDICT_MAX_CHALLENGES 32

struct parsed {
	struct challenge ch[VERDICT_MAX_CHALLENGES];
	size_t n;
};

struct scratch {
	struct verdict_header hs[VERDICT_MAX_HEADERS];
	struct verdict_change changes[VERDICT_MAX_CHANGES];
	size_t nchanges;
	struct parsed u, d;
	struct verdict held; /* converted, its body being scanned (carry_begin) */
	size_t used;
	char arena[];
};

_Static_assert(sizeof(struct scratch) + 4096 <= NET_SCRATCH, "the scratch is too small");

static struct scratch *scratch_of(struct net_conn *c)
{
	struct scratch *s = (struct scratch *)(void *)c->scratch;
	s->nchanges = 0;
	s->used = 0;
	return s;
}

static size_t arena_cap(void)
{
	return NET_SCRATCH - sizeof(struct scratch);
}

/* A NUL-terminated copy of n bytes, cut to the room left. */
static const char *arena_dup(struct scratch *s, const char *p, size_t n)
{
	size_t room = arena_cap() - s->used;
	if (!room)
		return "";
	if (n > room - 1)
		n = room - 1;
	char *d = s->arena + s->used;
	memcpy(d, p, n);
	d[n] = '\0';
	s->used += n + 1;
	return d;
}

static const char *arena_view(struct scratch *s, struct challenge_view v)
{
	return arena_dup(s, v.p, v.len);
}

static const char *arena_param(struct scratch *s, const struct challenge_param *p)
{
	size_t room = arena_cap() - s->used;
	if (!room)
		return "";
	char *d = s->arena + s->used;
	size_t n = challenge_unquote(p, d, room);
	if (n > room - 1)
		n = room - 1;
	d[n] = '\0';
	s->used += n + 1;
	return d;
}

static void change_add(struct scratch *s, const char *scheme, const char *param, const char *up,
                       const char *down)
{
	if (s->nchanges < VERDICT_MAX_CHANGES)
		s->changes[s->nchanges++] = (struct verdict_change){scheme, param, up, down};
}

static void parse_all(const char *value, size_t len, struct parsed *out)
{
	struct challenge_cursor c;

	out->n = 0;
	challenge_start(&c, value, len);
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

static bool param_same(const struct challenge_param *p, const struct challenge_param *q)
{
	char a[256], b[256];
	size_t na = challenge_unquote(p, a, sizeof(a)), nb = challenge_unquote(q, b, sizeof(b));

	if (na != nb)
		return false;
	if (na < sizeof(a))
		return memcmp(a, b, na) == 0;
	/* Too long to unquote here: compared as sent. */
	return p->value.len == q->value.len && memcmp(p->value.p, q->value.p, p->value.len) == 0;
}

/* A control byte or DEL inside a quoted value stops the parser, so a
 * proxy's 'Bearer realm="pro\x01xy", scope="mcp:tools"' would lose its
 * scope.  For the comparison, the value is parsed in a copy whose such
 * bytes are 0x80 (obs-text: data inside quotes, an error outside, as
 * before), and every parameter's value is then read from the original
 * bytes at the same offsets.  Without room for the copy, the value is
 * parsed as it is. */
static const char *lenient_copy(struct scratch *s, const char *v, size_t len)
{
	size_t i = 0;

	while (i < len && !((unsigned char)v[i] < 0x20 && v[i] != '\t') && v[i] != 0x7f)
		i++;
	if (i == len || len > arena_cap() - s->used)
		return v;
	char *d = s->arena + s->used;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];
		d[i] = (char)((c < 0x20 && c != '\t') || c == 0x7f ? 0x80 : c);
	}
	s->used += len;
	return d;
}

/* The parameter p, read in the copy at, with its value in orig. */
static struct challenge_param original(struct challenge_param p, const char *at, const char *orig)
{
	p.value.p = orig + (p.value.p - at);
	return p;
}

/* Parameter by parameter, so that a reverse proxy rewriting
 * resource_metadata reads as exactly that. */
static void diff_challenges(struct scratch *s, const char *up, size_t up_len, const char *down,
                            size_t down_len)
{
	struct parsed *u = &s->u, *d = &s->d;
	bool used[VERDICT_MAX_CHALLENGES] = {0};
	const char *up_at = lenient_copy(s, up, up_len);
	const char *down_at = lenient_copy(s, down, down_len);

	parse_all(up_at, up_len, u);
	parse_all(down_at, down_len, d);
	for (size_t i = 0; i < u->n; i++) {
		const struct challenge *uc = &u->ch[i], *dc = NULL;
		for (size_t k = 0; k < d->n && !dc; k++) {
			if (!used[k] && uc->scheme.len == d->ch[k].scheme.len &&
			    strncasecmp(uc->scheme.p, d->ch[k].scheme.p, uc->scheme.len) == 0) {
				used[k] = true;
				dc = &d->ch[k];
			}
		}
		const char *scheme = arena_view(s, uc->scheme);
		if (!dc) {
			change_add(s, scheme, NULL, scheme, NULL);
			continue;
		}
		if (uc->token68.p || dc->token68.p) {
			if (!uc->token68.p || !dc->token68.p ||
			    uc->token68.len != dc->token68.len ||
			    memcmp(uc->token68.p, dc->token68.p, uc->token68.len) != 0)
				change_add(s, scheme, "token68",
				           uc->token68.p ? arena_view(s, uc->token68) : NULL,
				           dc->token68.p ? arena_view(s, dc->token68) : NULL);
			continue;
		}
		struct challenge_param p, q;
		size_t pos = 0;
		while (challenge_param_next(uc, &pos, &p)) {
			bool found = find_param(dc, p.name, &q);
			p = original(p, up_at, up);
			if (found)
				q = original(q, down_at, down);
			if (found && param_same(&p, &q))
				continue;
			change_add(s, scheme, arena_view(s, p.name), arena_param(s, &p),
			           found ? arena_param(s, &q) : NULL);
		}
		pos = 0;
		while (challenge_param_next(dc, &pos, &q)) {
			if (!find_param(uc, q.name, &p)) {
				q = original(q, down_at, down);
				change_add(s, scheme, arena_view(s, q.name), NULL,
				           arena_param(s, &q));
			}
		}
	}
	for (size_t k = 0; k < d->n; k++)
		if (!used[k]) {
			const char *scheme = arena_view(s, d->ch[k].scheme);
			change_add(s, scheme, NULL, NULL, scheme);
		}
}

static void count(enum verdict_kind k)
{
	atomic_fetch_add(&verdict_counts[k], 1);
}

/* Expectations done with, freed where malloc is safe (verdict_expect,
 * verdict_unpair_waiting, verdict_finish): pushing is lock-free. */
static struct expect *_Atomic verdict_dead;

static void expect_retire(struct expect *e)
{
	if (!e)
		return;
	if (e->in_store) {
		expect_free(e);
		return;
	}
	e->next_dead = atomic_load_explicit(&verdict_dead, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&verdict_dead, &e->next_dead, e,
	                                              memory_order_release, memory_order_relaxed))
		;
}

static void expect_reap(void)
{
	struct expect *e = atomic_exchange_explicit(&verdict_dead, NULL, memory_order_acquire);
	while (e) {
		struct expect *next = e->next_dead;
		expect_free(e);
		e = next;
	}
}

static void emit_unpaired(struct net_conn *c, struct expect *e, const char *why)
{
	struct scratch *s = scratch_of(c);
	struct verdict v = {
	    .kind = VERDICT_UNPAIRED,
	    .unpaired_why = why,
	    .handle = e->handle,
	    .method = e->method,
	    .url = e->url,
	    .upstream_status = e->status,
	};
	for (size_t i = 0; i < e->n; i++)
		s->hs[i] = (struct verdict_header){e->name[i],       e->value[i], NULL,
		                                   VERDICT_UNPAIRED, 0,           NULL};
	v.nheaders = e->n;
	v.headers = s->hs;
	log_verdict(&v);
	count(VERDICT_UNPAIRED);
}

/* A converted verdict waits while the first bytes of the body written to
 * the client are scanned for what the upstream sent: its challenge header
 * values and their resource_metadata URLs (a streaming proxy carries them
 * in a JSON-RPC error).  False when there is nothing to look for. */
static bool carry_begin(struct net_conn *c, struct scratch *s, struct expect *e,
                        const struct head *h, const struct verdict *v)
{
	struct head_field f;
	size_t pos = 0;
	bool sse = false;

	while (head_next_field(h, &pos, &f))
		if (f.name_len == 12 && strncasecmp(f.name, "Content-Type", 12) == 0)
			sse = carry_is_event_stream(f.value, f.value_len);
	carry_init(&c->carry, sse ? CARRY_SSE : CARRY_PLAIN, 0);
	bool any = false;
	for (size_t i = 0; i < e->n; i++) {
		any |= carry_add(&c->carry, CARRY_CHALLENGE, e->value[i], strlen(e->value[i])) >= 0;
		parse_all(e->value[i], strlen(e->value[i]), &s->u);
		for (size_t k = 0; k < s->u.n; k++) {
			struct challenge_param p;
			if (!find_param(&s->u.ch[k],
			                (struct challenge_view){"resource_metadata", 17}, &p))
				continue;
			const char *url = arena_param(s, &p);
			any |= carry_add(&c->carry, CARRY_URL, url, strlen(url)) >= 0;
		}
	}
	if (!any)
		return false;
	s->held = *v;
	c->carrying = e;
	return true;
}

/* The scan is over (found, the bound reached, the body or the connection
 * ended, or something else needs the scratch): the verdict goes out. */
static void held_settle(struct net_conn *c)
{
	struct expect *e = c->carrying;
	if (!e)
		return;
	c->carrying = NULL;
	struct scratch *s = (struct scratch *)(void *)c->scratch;
	s->held.carried = c->carry.found != 0;
	log_verdict(&s->held);
	count(VERDICT_CONVERTED);
	expect_retire(e);
}

void verdict_body(struct net_conn *c, const char *data, size_t len)
{
	if (!c->carrying)
		return;
	if (!len)
		carry_end(&c->carry);
	else
		carry_feed(&c->carry, data, len);
	if (!len || c->carry.found || carry_done(&c->carry))
		held_settle(c);
}

/* The head h of the response the host wrote, held against e, what it was
 * expected to answer.  Runs in the write hook, perhaps in a signal handler:
 * nothing here allocates or locks. */
static void judge(struct net_conn *c, struct expect *e, const struct head *h)
{
	c->answer_paired = true;
	struct scratch *s = scratch_of(c);
	struct verdict_header *hs = s->hs;
	size_t forwarded = 0, dropped = 0;

	for (size_t i = 0; i < e->n; i++) {
		struct head_field f, first = {0};
		size_t pos = 0;
		bool exact = false, any = false;
		size_t name_len = strlen(e->name[i]), value_len = strlen(e->value[i]);
		hs[i] = (struct verdict_header){.name = e->name[i], .upstream = e->value[i]};
		/* The downstream line of the same name that matches exactly,
		 * else the first of that name. */
		while (head_next_field(h, &pos, &f)) {
			if (f.name_len != name_len ||
			    strncasecmp(f.name, e->name[i], name_len) != 0)
				continue;
			if (f.value_len == value_len &&
			    memcmp(f.value, e->value[i], value_len) == 0) {
				exact = true;
				break;
			}
			if (!any) {
				first = f;
				any = true;
			}
		}
		if (exact) {
			hs[i].downstream = e->value[i];
			hs[i].result = VERDICT_FORWARDED;
			forwarded++;
		} else if (!any) {
			hs[i].result = VERDICT_DROPPED;
			dropped++;
		} else {
			hs[i].downstream = arena_dup(s, first.value, first.value_len);
			hs[i].result = VERDICT_ALTERED;
			size_t at = s->nchanges;
			diff_challenges(s, e->value[i], value_len, first.value, first.value_len);
			hs[i].changes = s->changes + at;
			hs[i].nchanges = s->nchanges - at;
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
	if (v.kind == VERDICT_CONVERTED && carry_begin(c, s, e, h, &v))
		return;
	log_verdict(&v);
	count(v.kind);
	expect_retire(e);
}

void verdict_head(struct net_conn *c, const struct head *h)
{
	held_settle(c);
	struct expect *e = c->expect;
	if (!e)
		return;
	c->expect = NULL;
	judge(c, e, h);
}

/* e waits for the next head written to c, unless c's host is writing a
 * response already (a streaming proxy sends its head before it calls the
 * upstream): then that head answers it. */
static void expect_on(struct net_conn *c, struct expect *e)
{
	struct head h;

	if (net_answering(c, &h))
		judge(c, e, &h);
	else
		c->expect = e;
}

/* The connection ends: in the close hook, perhaps in a signal handler. */
void verdict_conn_gone(struct net_conn *c)
{
	if (c->carrying) {
		/* A body that runs until the connection closes ends here. */
		carry_end(&c->carry);
		held_settle(c);
	}
	if (c->expect) {
		emit_unpaired(c, c->expect, "the client connection closed before a response");
		expect_retire(c->expect);
		c->expect = NULL;
	}
}

static void unpair_on_new_transfer(struct net_conn *c, void *arg)
{
	(void)arg;
	held_settle(c);
	if (c->expect) {
		emit_unpaired(c, c->expect, "another transfer started for the same client");
		expect_retire(c->expect);
		c->expect = NULL;
	}
}

void verdict_unpair_waiting(struct net_ref conn)
{
	net_with_conn(conn, unpair_on_new_transfer, NULL);
	expect_reap();
}

struct handover {
	struct expect *e;
	bool taken;
};

static void set_expect(struct net_conn *c, void *arg)
{
	struct handover *h = arg;

	unpair_on_new_transfer(c, NULL);
	expect_on(c, h->e);
	h->taken = true;
}

void verdict_expect(struct net_ref conn, const struct record *r)
{
	if (!conn.id)
		return;
	int saved = errno;
	expect_reap();
	struct handover h = {expect_new(r), false};
	if (h.e)
		net_with_conn(conn, set_expect, &h);
	/* The connection was gone already: nobody can answer it now. */
	if (h.e && !h.taken) {
		/* Scratch of its own: here, unlike in the hooks, malloc is
		 * safe. */
		struct net_conn *spare = calloc(1, sizeof(*spare));
		if (spare)
			emit_unpaired(spare, h.e, "the client connection closed before a response");
		free(spare);
		expect_free(h.e);
	}
	expect_reap();
	errno = saved;
}

static void unpair_at_exit(struct net_conn *c, void *arg)
{
	(void)arg;
	held_settle(c);
	if (c->expect) {
		emit_unpaired(c, c->expect, "the program exited before a response");
		expect_retire(c->expect);
		c->expect = NULL;
	}
}

void verdict_finish(void)
{
	if (!net_accepted())
		return;
	net_each_conn(unpair_at_exit, NULL);
	expect_reap();
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

/* A NUL-terminated copy in the store, cut to the room left. */
static char *store_dup(struct expect_store *st, const char *p, size_t n)
{
	size_t room = NET_EXPECT_STORE - sizeof(*st) - st->used;
	if (!room)
		return NULL;
	if (n > room - 1)
		n = room - 1;
	char *d = st->text + st->used;
	memcpy(d, p, n);
	d[n] = '\0';
	st->used += n + 1;
	return d;
}

void verdict_expect_from_socket(struct net_conn *self, struct net_ref conn, const struct record *r)
{
	struct expect_store *st = (struct expect_store *)(void *)self->expect_store;

	if (!conn.id || atomic_load_explicit(&st->in_use, memory_order_acquire))
		return;
	atomic_store_explicit(&st->in_use, true, memory_order_relaxed);
	st->used = 0;
	struct expect *e = &st->e;
	*e = (struct expect){
	    .status = r->status,
	    .handle = r->transfer->handle,
	    .name = st->name,
	    .value = st->value,
	    .in_store = &st->in_use,
	};
	e->method = r->transfer->method
	                ? store_dup(st, r->transfer->method, strlen(r->transfer->method))
	                : NULL;
	e->url =
	    r->transfer->url ? store_dup(st, r->transfer->url, strlen(r->transfer->url)) : NULL;
	size_t n = r->nheaders < VERDICT_MAX_HEADERS ? r->nheaders : VERDICT_MAX_HEADERS;
	for (; e->n < n; e->n++) {
		st->name[e->n] = store_dup(st, r->headers[e->n].name, r->headers[e->n].name_len);
		st->value[e->n] = store_dup(st, r->headers[e->n].value, r->headers[e->n].value_len);
		if (!st->name[e->n] || !st->value[e->n])
			break;
	}

	struct net_conn *c;
	switch (net_take_nested(conn, &c)) {
	case NET_TAKEN:
		unpair_on_new_transfer(c, NULL);
		expect_on(c, e);
		net_give_nested(c);
		break;
	case NET_NOT_FOLLOWED:
		emit_unpaired(self, e, "the client connection closed before a response");
		expect_free(e);
		break;
	case NET_IN_USE:
		expect_free(e);
		break;
	}
}
