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

static atomic_ulong verdict_counts[6];

const char *verdict_name(enum verdict_kind k)
{
	static const char *const names[] = {"forwarded", "dropped",  "altered",
	                                    "converted", "unpaired", "ambiguous"};
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
	size_t used;
	struct verdict held; /* converted, its body being scanned (carry_begin) */
	bool held_answering; /* ... of a response begun before the transfer ended */
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

/* No verdict but "unpaired" (why), or "ambiguous" among candidates
 * connections: the upstream's side alone.  answered: the status of the
 * head the client already had. */
static void emit_without_head(struct net_conn *c, struct expect *e, enum verdict_kind kind,
                              const char *why, long answered, unsigned long candidates)
{
	struct scratch *s = scratch_of(c);
	struct verdict v = {
	    .kind = kind,
	    .unpaired_why = why,
	    .answered_status = answered,
	    .candidates = candidates,
	    .handle = e->handle,
	    .method = e->method,
	    .url = e->url,
	    .upstream_status = e->status,
	};
	for (size_t i = 0; i < e->n; i++)
		s->hs[i] = (struct verdict_header){e->name[i], e->value[i], NULL, kind, 0, NULL};
	v.nheaders = e->n;
	v.headers = s->hs;
	log_verdict(&v);
	count(kind);
}

static void emit_unpaired(struct net_conn *c, struct expect *e, const char *why)
{
	emit_without_head(c, e, VERDICT_UNPAIRED, why, 0, 0);
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
	s->held_answering = false;
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
	if (!s->held.carried && s->held_answering) {
		/* The response was under way before the transfer ended and
		 * carries nothing of it: nothing says it answers this one. */
		struct verdict_header *hs = s->hs;
		for (size_t i = 0; i < s->held.nheaders; i++)
			hs[i] = (struct verdict_header){
			    hs[i].name, hs[i].upstream, NULL, VERDICT_UNPAIRED, 0, NULL};
		s->held.kind = VERDICT_UNPAIRED;
		s->held.unpaired_why = "client already answered";
		s->held.answered_status = s->held.downstream_status;
		s->held.downstream_status = 0;
	}
	log_verdict(&s->held);
	count(s->held.kind);
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
 * nothing here allocates or locks.  A conversion may wait for the body
 * (may_carry): then true, and e belongs to the held verdict until it
 * settles. */
static bool judge(struct net_conn *c, struct expect *e, const struct head *h, bool may_carry)
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
	if (v.kind == VERDICT_CONVERTED && may_carry && carry_begin(c, s, e, h, &v))
		return true;
	log_verdict(&v);
	count(v.kind);
	return false;
}

/* Pairing a transfer with the client connection it serves.
 *
 * An event loop reads several requests before its callbacks start their
 * transfers, so "the connection this thread last read from" is not enough.
 * When a transfer starts, its candidates are the accepted connections with
 * a request read and not yet answered (the one this thread read, when it
 * read only one of them), each followed from then on; when its response is
 * recorded, those answered meanwhile are out (an answer follows the
 * response it relays), and the method and target of their requests narrow
 * the rest against the upstream request.  One left: paired as it is.
 * Several: each one's next head is kept, reduced to what a verdict reads,
 * and once all are known the verdict is the one they agree on, or the one
 * head that carries the upstream's challenge byte for byte, else
 * "ambiguous": never a guess. */

#define PAIR_RING 1024
#define PAIR_SYN_CAP 4096

enum member_state {
	MEMBER_WAITING,
	MEMBER_HEAD,     /* its next head was written */
	MEMBER_GONE,     /* closed before one */
	MEMBER_EXIT,     /* still waiting when the program exited */
	MEMBER_ANSWERED, /* answered before the transfer started */
};

struct pairing;

struct member {
	struct net_ref ref;
	unsigned heads; /* heads written to it when the transfer started */
	int status;     /* MEMBER_ANSWERED, MEMBER_HEAD: the head's */
	/* Answered while the transfer ran (by a hook), or ruled out by its
	 * request when the response was recorded. */
	_Atomic bool out;
	bool narrowed_out, matches;
	char method[NET_METHOD_MAX];
	char *target; /* NULL: unknown */
	_Atomic int state;
	bool exact, shared, syn_ok;
	_Atomic bool linked; /* to its connection's waits */
	bool was_linked;     /* once: a hook may still hold it */
	/* Its head's status line and challenge fields, as a head. */
	char *syn;
	size_t syn_len;
	struct member *next_wait;
	struct pairing *g;
};

struct pairing {
	uint64_t id;
	/* Set when the response is recorded: until then, a head written to a
	 * member answers something else. */
	struct expect *_Atomic e;
	/* Members linked to their connection, plus one held by the transfer
	 * until its response is recorded: whoever takes it to 0 decides. */
	_Atomic unsigned left;
	unsigned n;
	struct pairing *next_dead;
	struct member m[];
};

/* Candidate sets from transfer start to record, by id; an old one gives
 * way (its transfer will have no verdict). */
static struct pairing *_Atomic pair_ring[PAIR_RING];
static atomic_uint_fast64_t pair_next;
static struct pairing *_Atomic pair_dead;

static void unlink_member(struct net_conn *c, void *arg)
{
	for (struct member **at = (struct member **)&c->waits; *at; at = &(*at)->next_wait)
		if (*at == arg) {
			*at = (*at)->next_wait;
			return;
		}
}

/* In a libcurl hook.  A set whose transfer was never recorded may still
 * have members linked: they are taken off their connections first. */
static void pairing_free(struct pairing *p)
{
	if (!p)
		return;
	if (atomic_load(&p->left))
		for (unsigned i = 0; i < p->n; i++)
			if (p->m[i].was_linked)
				net_with_conn(p->m[i].ref, unlink_member, &p->m[i]);
	for (unsigned i = 0; i < p->n; i++) {
		free(p->m[i].target);
		free(p->m[i].syn);
	}
	expect_free(atomic_load(&p->e));
	free(p);
}

static void pairing_retire(struct pairing *p)
{
	p->next_dead = atomic_load_explicit(&pair_dead, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&pair_dead, &p->next_dead, p,
	                                              memory_order_release, memory_order_relaxed))
		;
}

static void pairing_reap(void)
{
	struct pairing *p = atomic_exchange_explicit(&pair_dead, NULL, memory_order_acquire);
	while (p) {
		struct pairing *next = p->next_dead;
		pairing_free(p);
		p = next;
	}
}

static uint64_t pair_put(struct pairing *p)
{
	p->id = atomic_fetch_add(&pair_next, 1) + 1;
	pairing_free(atomic_exchange(&pair_ring[p->id % PAIR_RING], p));
	return p->id;
}

static struct pairing *pair_take(uint64_t id)
{
	struct pairing *p = atomic_exchange(&pair_ring[id % PAIR_RING], NULL);
	if (p && p->id != id) {
		struct pairing *none = NULL;
		if (!atomic_compare_exchange_strong(&pair_ring[id % PAIR_RING], &none, p))
			pairing_free(p);
		return NULL;
	}
	return p;
}

/* A head is strong evidence when its status and every challenge line are
 * the upstream's, byte for byte. */
static bool head_exact(const struct expect *e, const struct head *h)
{
	if (h->status != e->status)
		return false;
	for (size_t i = 0; i < e->n; i++) {
		size_t name_len = strlen(e->name[i]), value_len = strlen(e->value[i]), pos = 0;
		struct head_field f;
		bool found = false;
		while (!found && head_next_field(h, &pos, &f))
			found = f.name_len == name_len && f.value_len == value_len &&
			        strncasecmp(f.name, e->name[i], name_len) == 0 &&
			        memcmp(f.value, e->value[i], value_len) == 0;
		if (!found)
			return false;
	}
	return true;
}

static bool syn_put(struct member *m, const char *p, size_t n)
{
	if (n > PAIR_SYN_CAP - m->syn_len)
		return false;
	memcpy(m->syn + m->syn_len, p, n);
	m->syn_len += n;
	return true;
}

/* The head, reduced to what judge reads: its status and the fields named
 * as the upstream's challenge headers, in order.  In a hook: no malloc. */
static void syn_build(struct member *m, const struct expect *e, const struct head *h)
{
	char line[32] = "HTTP/1.1 ";
	size_t n = 9;
	int st = h->status < 0 ? 0 : h->status > 999 ? 999 : h->status;
	line[n++] = (char)('0' + st / 100);
	line[n++] = (char)('0' + st / 10 % 10);
	line[n++] = (char)('0' + st % 10);
	memcpy(line + n, " \r\n", 3);
	n += 3;
	m->syn_len = 0;
	m->syn_ok = m->syn && syn_put(m, line, n);
	struct head_field f;
	size_t pos = 0;
	while (m->syn_ok && head_next_field(h, &pos, &f)) {
		bool named = false;
		for (size_t i = 0; i < e->n && !named; i++)
			named = strlen(e->name[i]) == f.name_len &&
			        strncasecmp(f.name, e->name[i], f.name_len) == 0;
		if (named)
			m->syn_ok = syn_put(m, f.name, f.name_len) && syn_put(m, ": ", 2) &&
			            syn_put(m, f.value, f.value_len) && syn_put(m, "\r\n", 2);
	}
	m->syn_ok = m->syn_ok && syn_put(m, "\r\n", 2);
}

static const char *member_why(int state)
{
	switch (state) {
	case MEMBER_GONE:
		return "the client connection closed before a response";
	case MEMBER_EXIT:
		return "the program exited before a response";
	case MEMBER_ANSWERED:
		return "client already answered";
	}
	return NULL;
}

/* Two members lead to the same verdict. */
static bool same_outcome(const struct member *a, const struct member *b)
{
	int sa = atomic_load(&a->state), sb = atomic_load(&b->state);
	if (sa != sb)
		return false;
	if (sa == MEMBER_ANSWERED)
		return a->status == b->status;
	if (sa != MEMBER_HEAD)
		return true;
	return a->syn_ok && b->syn_ok && a->syn_len == b->syn_len &&
	       memcmp(a->syn, b->syn, a->syn_len) == 0;
}

/* Every member is resolved: the verdict, in c's scratch. */
static void pairing_decide(struct net_conn *c, struct pairing *g)
{
	struct expect *e = atomic_load_explicit(&g->e, memory_order_acquire);
	struct member *first = NULL, *exact = NULL;
	unsigned in = 0, nexact = 0;
	bool agree = true;

	for (unsigned i = 0; i < g->n; i++) {
		struct member *m = &g->m[i];
		if (m->out || m->narrowed_out)
			continue;
		in++;
		if (!first)
			first = m;
		else if (!same_outcome(first, m))
			agree = false;
		if (atomic_load(&m->state) == MEMBER_HEAD && m->exact && !m->shared) {
			nexact++;
			exact = m;
		}
	}
	if (!first || !e)
		return;
	if (nexact == 1 && !agree) {
		/* The one head that carries the challenge: forwarded. */
		struct head h = {
		    .status = exact->status, .raw = exact->syn, .raw_len = exact->syn_len};
		if (exact->syn_ok) {
			judge(c, e, &h, false);
			return;
		}
	}
	if (agree) {
		int st = atomic_load(&first->state);
		if (st == MEMBER_HEAD) {
			struct head h = {
			    .status = first->status, .raw = first->syn, .raw_len = first->syn_len};
			judge(c, e, &h, false);
		} else {
			emit_without_head(c, e, VERDICT_UNPAIRED, member_why(st),
			                  st == MEMBER_ANSWERED ? first->status : 0, 0);
		}
		return;
	}
	emit_without_head(c, e, VERDICT_AMBIGUOUS, NULL, 0, in);
}

/* One member less to wait for; the last one decides, in c's scratch. */
static void pairing_release(struct net_conn *c, struct pairing *g)
{
	if (atomic_fetch_sub_explicit(&g->left, 1, memory_order_acq_rel) != 1)
		return;
	pairing_decide(c, g);
	pairing_retire(g);
}

/* A member taken off its connection: resolved by how it ended.  A head
 * before the response was recorded answered something else. */
static void member_resolve(struct net_conn *c, struct member *m, int state)
{
	m->linked = false;
	if (state == MEMBER_HEAD && !atomic_load_explicit(&m->g->e, memory_order_acquire))
		m->out = true;
	else
		atomic_store_explicit(&m->state, state, memory_order_release);
	pairing_release(c, m->g);
}

/* The members waiting on c, resolved by how it ended. */
static void waits_end(struct net_conn *c, int state)
{
	struct member *m = c->waits;
	c->waits = NULL;
	while (m) {
		struct member *next = m->next_wait;
		member_resolve(c, m, state);
		m = next;
	}
}

/* The head of the response the host wrote, held against what it was
 * expected to answer.  Runs in the write hook, perhaps in a signal handler:
 * nothing here allocates or locks. */
void verdict_head(struct net_conn *c, const struct head *h)
{
	held_settle(c);
	struct expect *e = c->expect;
	unsigned exact = 0;

	/* A head that answers no request read (a server's own 408) is
	 * not counted: the count says which requests are answered. */
	if (c->acc_heads < c->acc_reads)
		c->acc_heads++;
	c->acc_status = h->status;
	if (e && head_exact(e, h))
		exact++;
	for (struct member *m = c->waits; m; m = m->next_wait) {
		struct expect *me = atomic_load_explicit(&m->g->e, memory_order_acquire);
		m->exact = me && !m->narrowed_out && head_exact(me, h);
		exact += m->exact;
	}
	if (e) {
		c->expect = NULL;
		if (!judge(c, e, h, true))
			expect_retire(e);
	}
	struct member *m = c->waits;
	c->waits = NULL;
	while (m) {
		struct member *next = m->next_wait;
		struct expect *me = atomic_load_explicit(&m->g->e, memory_order_acquire);
		m->shared = exact > 1;
		m->status = h->status;
		if (me)
			syn_build(m, me, h);
		member_resolve(c, m, MEMBER_HEAD);
		m = next;
	}
}

/* What a scan at transfer start finds on one accepted connection. */
struct cand {
	struct net_ref ref;
	unsigned heads;
	int status;
	bool mine, answered;
	char method[NET_METHOD_MAX];
	char *target;
};

struct scan {
	const void *me;
	struct net_ref last;
	struct cand *v;
	size_t n, cap, lost;
	bool oom;
	bool last_found, last_lost;
	struct cand last_answered; /* ref.id 0: the last one was not answered */
};

static void cand_request(struct cand *k, const struct net_request *r)
{
	memcpy(k->method, r->method, sizeof(k->method));
	k->target = strdup(r->url);
}

static bool under_way(const struct net_conn *c)
{
	struct head h;
	return net_answering(c, &h);
}

static void scan_one(struct net_conn *c, void *arg)
{
	struct scan *sc = arg;

	if (c->kind != NET_ACCEPTED)
		return;
	bool lost = net_requests_lost(c);
	bool is_last = c->ref.id == sc->last.id && c->ref.fd == sc->last.fd;
	if (is_last) {
		sc->last_found = true;
		sc->last_lost = lost;
	}
	sc->lost += lost;
	if (lost)
		return;
	struct cand k = {.ref = c->ref,
	                 .heads = c->acc_heads,
	                 .status = c->acc_status,
	                 .mine = c->acc_thread == sc->me};
	bool streaming = c->acc_reads && c->acc_reads == c->acc_heads && under_way(c);
	if (c->acc_reads > c->acc_heads || streaming) {
		if (sc->n == sc->cap) {
			size_t cap = sc->cap ? sc->cap * 2 : 16;
			struct cand *v = realloc(sc->v, cap * sizeof(*v));
			if (!v) {
				sc->oom = true;
				return;
			}
			sc->v = v;
			sc->cap = cap;
		}
		/* The request it answers next, if still kept. */
		if (streaming)
			cand_request(&k, &c->reqs[(c->acc_reads - 1) % NET_PIPELINE]);
		else if (c->acc_reads - c->acc_heads <= NET_PIPELINE)
			cand_request(&k, &c->reqs[c->acc_heads % NET_PIPELINE]);
		sc->v[sc->n++] = k;
	} else if (is_last && c->acc_reads) {
		k.answered = true;
		cand_request(&k, &c->reqs[(c->acc_reads - 1) % NET_PIPELINE]);
		sc->last_answered = k;
	}
}

/* The first, cheap look: counts only, no copy; most transfers need no
 * more (a thread-per-connection server's thread read one request). */
struct tally {
	const void *me;
	struct net_ref last, mine_ref, one_ref;
	size_t n, mine, lost;
	bool last_found, last_lost, last_answered;
};

static void tally_one(struct net_conn *c, void *arg)
{
	struct tally *t = arg;

	if (c->kind != NET_ACCEPTED)
		return;
	bool lost = net_requests_lost(c);
	/* A response under way (a stream begun before its transfer) still
	 * waits for what the transfer brings. */
	bool open = c->acc_reads > c->acc_heads || under_way(c);
	if (c->ref.id == t->last.id && c->ref.fd == t->last.fd) {
		t->last_found = true;
		t->last_lost = lost;
		t->last_answered = !lost && c->acc_reads && !open;
	}
	t->lost += lost;
	if (lost || !open)
		return;
	t->n++;
	t->one_ref = c->ref;
	if (c->acc_thread == t->me) {
		t->mine++;
		t->mine_ref = c->ref;
	}
}

/* Follows m's connection from now on; one answered since the scan is out,
 * one closed since is still a candidate, left unanswered. */
static void link_member(struct net_conn *c, void *arg)
{
	struct member *m = arg;
	if (c->acc_heads != m->heads) {
		m->out = true;
		return;
	}
	m->linked = m->was_linked = true;
	m->next_wait = c->waits;
	c->waits = m;
}

static struct net_ref pair_single(struct net_ref ref)
{
	verdict_unpair_waiting(ref);
	return ref;
}

struct net_ref verdict_pair_start(void)
{
	int saved = errno;
	struct scan sc = {.me = net_thread_self(), .last = net_thread_conn()};
	struct tally t = {.me = sc.me, .last = sc.last};
	struct net_ref out = {0};

	pairing_reap();
	net_each_conn(tally_one, &t);
	if (t.last_found && t.last_lost)
		out = pair_single(t.last);
	else if (t.mine == 1 && !t.last_answered)
		out = pair_single(t.mine_ref);
	else if (t.lost && !(t.last_answered && !t.mine))
		/* A connection whose requests cannot be read could be the
		 * one: no pairing rather than one by elimination. */
		t.n = 0, t.last_answered = false;
	else if (t.n == 1 && !t.last_answered)
		out = pair_single(t.one_ref);
	if (out.id || (!t.n && !t.last_answered)) {
		errno = saved;
		return out;
	}
	net_each_conn(scan_one, &sc);
	size_t mine = 0, mine_at = 0;
	for (size_t i = 0; i < sc.n; i++)
		if (sc.v[i].mine) {
			mine++;
			mine_at = i;
		}
	bool answered = sc.last_answered.ref.id != 0;
	size_t n = sc.n + (answered ? 1 : 0);

	if (sc.oom || (sc.lost && mine)) {
		/* Not every candidate is known: no pairing at all. */
	} else if (sc.last_found && sc.last_lost) {
		/* Requests it cannot read: the thread's last read, as before. */
		out = pair_single(sc.last);
	} else if (mine == 1 && !answered) {
		out = pair_single(sc.v[mine_at].ref);
	} else if (n == 1 && !answered) {
		out = pair_single(sc.v[0].ref);
	} else if (n) {
		/* Answered before the transfer started, by the thread that
		 * starts it, with nothing else it read waiting: that client
		 * alone (mine == 0); otherwise one candidate among the rest. */
		if (answered && !mine)
			n = 1;
		struct pairing *p = calloc(1, sizeof(*p) + n * sizeof(struct member));
		if (p) {
			p->n = (unsigned)n;
			size_t at = 0;
			if (answered) {
				struct member *m = &p->m[at++];
				m->ref = sc.last_answered.ref;
				m->status = sc.last_answered.status;
				atomic_init(&m->state, MEMBER_ANSWERED);
				memcpy(m->method, sc.last_answered.method, sizeof(m->method));
				m->target = sc.last_answered.target;
				sc.last_answered.target = NULL;
			}
			for (size_t i = 0; i < sc.n && at < n; i++) {
				struct member *m = &p->m[at++];
				m->ref = sc.v[i].ref;
				m->heads = sc.v[i].heads;
				memcpy(m->method, sc.v[i].method, sizeof(m->method));
				m->target = sc.v[i].target;
				sc.v[i].target = NULL;
			}
			/* The transfer's hold, then each member followed. */
			atomic_init(&p->left, 1);
			for (unsigned i = 0; i < p->n; i++) {
				struct member *m = &p->m[i];
				m->g = p;
				if (atomic_load(&m->state) != MEMBER_WAITING)
					continue;
				atomic_fetch_add(&p->left, 1);
				net_with_conn(m->ref, link_member, m);
				if (!m->linked) {
					if (!m->out)
						atomic_store(&m->state, MEMBER_GONE);
					atomic_fetch_sub(&p->left, 1);
				}
			}
			out = (struct net_ref){-1, pair_put(p)};
		}
	}
	for (size_t i = 0; i < sc.n; i++)
		free(sc.v[i].target);
	free(sc.last_answered.target);
	free(sc.v);
	errno = saved;
	return out;
}

/* The path of a request target or URL: after scheme and authority, before
 * the query or fragment. */
static void path_of(const char *s, const char **p, size_t *n)
{
	const char *colon = strstr(s, "://");
	if (colon && s[0] != '/') {
		s = colon + 3;
		s += strcspn(s, "/?#");
	}
	*p = s;
	*n = strcspn(s, "?#");
}

/* A client's request could be the one the upstream request was made for:
 * the same method, and one path is the other or ends it (a proxy may
 * strip or add a prefix).  Unknown: it could. */
static bool request_matches(const char *method, const char *target, const struct expect *e)
{
	if (!target || !method || !method[0] || !e->method || !e->url)
		return true;
	if (strcmp(method, e->method) != 0)
		return false;
	const char *a, *b;
	size_t na, nb;
	path_of(target, &a, &na);
	path_of(e->url, &b, &nb);
	if (!na || !nb)
		return na == nb;
	if (na > nb) {
		const char *t = a;
		size_t tn = na;
		a = b, na = nb, b = t, nb = tn;
	}
	return memcmp(a, b + nb - na, na) == 0 && (na == nb || a[0] == '/');
}

static void emit_spare(struct expect *e, enum verdict_kind kind, const char *why, long answered)
{
	struct net_conn *spare = calloc(1, sizeof(*spare));
	if (spare)
		emit_without_head(spare, e, kind, why, answered, 0);
	free(spare);
}

struct handover {
	struct expect *e;
	bool taken;
};

static void set_expect(struct net_conn *c, void *arg);

/* The response of a transfer that had several candidates is recorded. */
static void pair_expect(uint64_t id, const struct record *r)
{
	struct pairing *g = pair_take(id);
	if (!g)
		return;
	struct expect *e = expect_new(r);
	if (!e) {
		pairing_free(g);
		return;
	}
	/* Those answered while it ran are out; of the rest, those whose
	 * request matches the upstream's, if any does. */
	unsigned in = 0, matching = 0;
	for (unsigned i = 0; i < g->n; i++) {
		struct member *m = &g->m[i];
		if (m->out)
			continue;
		in++;
		if ((m->matches = request_matches(m->method, m->target, e)))
			matching++;
	}
	if (matching && matching < in) {
		for (unsigned i = 0; i < g->n; i++)
			if (!g->m[i].out && !g->m[i].matches)
				g->m[i].narrowed_out = true;
		in = matching;
	}
	struct member *only = NULL;
	for (unsigned i = 0; i < g->n && in == 1 && !only; i++)
		if (!g->m[i].out && !g->m[i].narrowed_out)
			only = &g->m[i];

	if (!in) {
		emit_spare(e, VERDICT_UNPAIRED,
		           "every client it could serve was answered before the response", 0);
		expect_free(e);
		e = NULL;
	} else if (only && atomic_load(&only->state) == MEMBER_WAITING) {
		/* One left, still waiting: paired with its next head, as a
		 * connection of its own is. */
		struct handover h = {e, false};
		only->narrowed_out = true;
		net_with_conn(only->ref, set_expect, &h);
		if (!h.taken) {
			emit_spare(e, VERDICT_UNPAIRED, member_why(MEMBER_GONE), 0);
			expect_free(e);
		}
		e = NULL;
	} else {
		for (unsigned i = 0; i < g->n; i++)
			if (!g->m[i].out && !g->m[i].narrowed_out && g->m[i].linked)
				g->m[i].syn = malloc(PAIR_SYN_CAP);
	}
	atomic_store_explicit(&g->e, e, memory_order_release);
	/* The transfer's hold goes: once every member is resolved, the last
	 * one decides. */
	if (atomic_fetch_sub_explicit(&g->left, 1, memory_order_acq_rel) == 1) {
		struct net_conn *spare = e ? calloc(1, sizeof(*spare)) : NULL;
		if (spare)
			pairing_decide(spare, g);
		free(spare);
		pairing_free(g);
	}
}

/* e waits for the next head written to c, unless c's host is writing a
 * response already (a streaming proxy sends its head before it calls the
 * upstream): then that head answers it if its body carries the challenge. */
static void expect_on(struct net_conn *c, struct expect *e)
{
	struct head h;

	if (!net_answering(c, &h)) {
		c->expect = e;
		return;
	}
	if (!judge(c, e, &h, true)) {
		expect_retire(e);
		return;
	}
	if (c->carrying == e)
		((struct scratch *)(void *)c->scratch)->held_answering = true;
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
	waits_end(c, MEMBER_GONE);
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
	pairing_reap();
	if (conn.fd < 0) {
		pair_expect(conn.id, r);
		expect_reap();
		errno = saved;
		return;
	}
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
	waits_end(c, MEMBER_EXIT);
}

void verdict_finish(void)
{
	if (!net_accepted())
		return;
	net_each_conn(unpair_at_exit, NULL);
	expect_reap();
	pairing_reap();
	struct verdict_summary s = {
	    .forwarded = atomic_load(&verdict_counts[VERDICT_FORWARDED]),
	    .dropped = atomic_load(&verdict_counts[VERDICT_DROPPED]),
	    .altered = atomic_load(&verdict_counts[VERDICT_ALTERED]),
	    .converted = atomic_load(&verdict_counts[VERDICT_CONVERTED]),
	    .unpaired = atomic_load(&verdict_counts[VERDICT_UNPAIRED]),
	    .ambiguous = atomic_load(&verdict_counts[VERDICT_AMBIGUOUS]),
	};
	s.challenges = s.forwarded + s.dropped + s.altered + s.converted + s.unpaired + s.ambiguous;
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

/* The socket source's response r, copied into self's store (no malloc);
 * NULL when the store still holds an expectation. */
static struct expect *store_expect(struct net_conn *self, const struct record *r)
{
	struct expect_store *st = (struct expect_store *)(void *)self->expect_store;

	if (atomic_load_explicit(&st->in_use, memory_order_acquire))
		return NULL;
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
	return e;
}

/* e waits for the next head written to conn, taken without waiting; when
 * conn is owned elsewhere, no verdict.  heads: the heads written to it
 * when it was found waiting (NULL: not checked); one written since
 * answered something else. */
static void socket_hand_over(struct net_conn *self, struct net_ref conn, struct expect *e,
                             const unsigned *heads)
{
	struct net_conn *c;
	switch (net_take_nested(conn, &c)) {
	case NET_TAKEN:
		if (heads && c->acc_heads != *heads) {
			net_give_nested(c);
			emit_unpaired(
			    self, e,
			    "every client it could serve was answered before the response");
			expect_free(e);
			break;
		}
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

/* verdict_expect for a response of the socket source, from inside the
 * read hook of the connected socket self (owned). */
static void expect_from_socket(struct net_conn *self, struct net_ref conn, const struct record *r)
{
	if (!conn.id)
		return;
	struct expect *e = store_expect(self, r);
	if (e)
		socket_hand_over(self, conn, e, NULL);
}

/* Pairing the socket source's responses.  An event loop (Node's node:http
 * with fetch) reads several requests before it writes the upstream
 * requests they lead to, all on one thread, so "the connection this thread
 * last read from" is not enough.  When the request head is written, its
 * candidates are noted as verdict_pair_start's are (the accepted
 * connections with a request read and not answered; the one this thread
 * read, when it read only one of them); when its response is read, those
 * answered meanwhile are out and the request narrows the rest.  One left:
 * paired.  Several, or one that could not be read: "ambiguous" at once, as
 * a hook cannot follow them. */

struct snap {
	struct net_cands *k;
	const void *me;
	struct net_ref last;
	unsigned mine, lost;
	struct net_cand mine_cand, answered;
	bool last_found, last_lost, last_answered;
};

static void snap_one(struct net_conn *c, void *arg)
{
	struct snap *s = arg;
	bool lost = net_requests_lost(c);
	bool is_last = c->ref.id == s->last.id && c->ref.fd == s->last.fd;
	struct head h;

	if (is_last) {
		s->last_found = true;
		s->last_lost = lost;
	}
	if (lost) {
		s->lost++;
		return;
	}
	/* A response under way (a stream begun before the upstream call)
	 * still waits for what the upstream brings. */
	bool streaming = c->acc_reads && c->acc_reads == c->acc_heads && net_answering(c, &h);
	if (c->acc_reads <= c->acc_heads && !streaming) {
		if (is_last && c->acc_reads) {
			s->last_answered = true;
			s->answered =
			    (struct net_cand){c->ref, c->acc_heads, c->acc_reads - 1, true};
		}
		return;
	}
	struct net_cand k = {c->ref, c->acc_heads, streaming ? c->acc_reads - 1 : c->acc_heads,
	                     false};
	if (c->acc_thread == s->me) {
		s->mine++;
		s->mine_cand = k;
	}
	if (s->k->n < NET_CANDS)
		s->k->v[s->k->n++] = k;
	else
		s->k->more++;
}

void verdict_socket_request(struct net_conn *self, struct net_cands *out)
{
	struct snap s = {.k = out, .me = net_thread_self(), .last = net_thread_conn()};

	*out = (struct net_cands){.taken = true};
	if (!net_accepted())
		return;
	unsigned in_use = net_each_accepted_nested(self, snap_one, &s);
	if (s.last_found && s.last_lost) {
		/* Requests it cannot read (FastCGI): the thread's last read,
		 * as before. */
		*out = (struct net_cands){.taken = true, .last = true, .last_ref = s.last};
	} else if (s.mine == 1 && !s.last_answered) {
		/* A thread-per-connection server: the one this thread read. */
		*out = (struct net_cands){.taken = true, .n = 1, .v = {s.mine_cand}};
	} else if (s.last_answered && !s.mine && !s.lost && !in_use && !out->n && !out->more) {
		/* Answered before its upstream request, nobody else waiting. */
		*out = (struct net_cands){.taken = true, .n = 1, .v = {s.answered}};
	} else {
		/* A connection whose requests cannot be read, or one owned
		 * elsewhere, could be the one: unknown. */
		out->more += s.lost + in_use;
		if (s.last_answered && (out->n || out->more)) {
			if (out->n < NET_CANDS)
				out->v[out->n++] = s.answered;
			else
				out->more++;
		}
	}
}

enum cand_state { CAND_OUT, CAND_WAITING, CAND_ANSWERED, CAND_GONE, CAND_UNKNOWN };

/* Where candidate k stands now that the response is read, and whether its
 * request could be the upstream request e. */
static enum cand_state cand_now(const struct net_cand *k, const struct expect *e, bool *matches,
                                long *status)
{
	struct net_conn *c;
	enum cand_state st = CAND_UNKNOWN;

	*matches = true;
	switch (net_take_nested(k->ref, &c)) {
	case NET_NOT_FOLLOWED:
		/* Closed since: still a candidate, never answered. */
		return CAND_GONE;
	case NET_IN_USE:
		return CAND_UNKNOWN;
	case NET_TAKEN:
		break;
	}
	struct head h;
	if (c->acc_heads != k->heads) {
		st = CAND_OUT; /* answered since: not with what is read only now */
	} else if (k->answered) {
		st = CAND_ANSWERED;
		*status = c->acc_status;
	} else if (k->req < k->heads && !net_answering(c, &h)) {
		st = CAND_OUT; /* the stream under way then has ended */
	} else {
		st = CAND_WAITING;
	}
	if (st != CAND_OUT && c->acc_reads <= k->req + NET_PIPELINE && !net_requests_lost(c)) {
		const struct net_request *r = &c->reqs[k->req % NET_PIPELINE];
		*matches = request_matches(r->method, r->url, e);
	}
	net_give_nested(c);
	return st;
}

void verdict_socket_response(struct net_conn *self, const struct net_cands *k,
                             const struct record *r)
{
	if (!k || !k->taken)
		return;
	if (k->last) {
		expect_from_socket(self, k->last_ref, r);
		return;
	}
	if (!k->n && !k->more)
		return; /* no client was waiting: not made for one */
	struct expect *e = store_expect(self, r);
	if (!e)
		return;
	enum cand_state st[NET_CANDS];
	bool match[NET_CANDS];
	long status[NET_CANDS] = {0};
	unsigned in = 0, matching = 0;
	for (unsigned i = 0; i < k->n; i++) {
		st[i] = cand_now(&k->v[i], e, &match[i], &status[i]);
		if (st[i] == CAND_OUT)
			continue;
		in++;
		matching += match[i];
	}
	/* Those not seen could match: they narrow nothing. */
	in += k->more;
	matching += k->more;
	if (matching && matching < in) {
		for (unsigned i = 0; i < k->n; i++)
			if (st[i] != CAND_OUT && !match[i])
				st[i] = CAND_OUT;
		in = matching;
	}
	if (!in) {
		emit_unpaired(self, e,
		              "every client it could serve was answered before the response");
		expect_free(e);
		return;
	}
	if (in > 1) {
		emit_without_head(self, e, VERDICT_AMBIGUOUS, NULL, 0, in);
		expect_free(e);
		return;
	}
	unsigned only = 0;
	while (only < k->n && st[only] == CAND_OUT)
		only++;
	if (only == k->n || st[only] == CAND_UNKNOWN) {
		emit_unpaired(self, e, "its client connection could not be followed");
		expect_free(e);
	} else if (st[only] == CAND_ANSWERED) {
		emit_without_head(self, e, VERDICT_UNPAIRED, member_why(MEMBER_ANSWERED),
		                  status[only], 0);
		expect_free(e);
	} else {
		/* Waiting (or closed since: socket_hand_over says so). */
		socket_hand_over(self, k->v[only].ref, e, &k->v[only].heads);
	}
}
