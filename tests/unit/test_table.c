/* Unit tests for preload/table.c.  The table is global; Criterion runs each
 * Test in a process of its own, so every test starts from an empty table.
 * Handles are fake pointers: the table never dereferences them. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

#define H(n) ((const void *)(uintptr_t)((n) * 16 + 16))

/* A header given with explicit lengths, so NULs and any byte can be in it. */
#define HDR(n, v) {(n), sizeof(n) - 1, (v), sizeof(v) - 1}

struct copied_header {
	char *name, *value;
	size_t name_len, value_len;
};

/* What a table_read callback copied out; freed with copied_free(). */
struct copied {
	int calls;
	uint64_t seq;
	long status;
	unsigned flags;
	size_t nheaders;
	struct copied_header *h;
};

static char *memdup(const char *p, size_t len)
{
	char *d = malloc(len + 1);

	if (d) {
		memcpy(d, p, len);
		d[len] = '\0';
	}
	return d;
}

static int copy_view(const struct table_view *v, void *arg)
{
	struct copied *c = arg;

	c->calls++;
	c->seq = v->seq;
	c->status = v->status;
	c->flags = v->flags;
	c->nheaders = v->nheaders;
	c->h = calloc(v->nheaders + 1, sizeof(*c->h));
	for (size_t i = 0; c->h && i < v->nheaders; i++) {
		const struct table_header *th = &v->headers[i];
		c->h[i].name = memdup(v->bytes + th->name_off, th->name_len);
		c->h[i].name_len = th->name_len;
		c->h[i].value = memdup(v->bytes + th->value_off, th->value_len);
		c->h[i].value_len = th->value_len;
	}
	return 7;
}

static void copied_free(struct copied *c)
{
	for (size_t i = 0; c->h && i < c->nheaders; i++) {
		free(c->h[i].name);
		free(c->h[i].value);
	}
	free(c->h);
	memset(c, 0, sizeof(*c));
}

/* Reads handle's entry into *c; returns what table_read returned. */
static int read_copy(const void *handle, struct copied *c)
{
	memset(c, 0, sizeof(*c));
	return table_read(handle, copy_view, c);
}

static bool header_is(const struct copied_header *h, const struct record_header *want)
{
	return h->name && h->value && h->name_len == want->name_len &&
	       h->value_len == want->value_len &&
	       memcmp(h->name, want->name, want->name_len) == 0 &&
	       memcmp(h->value, want->value, want->value_len) == 0;
}

static uint64_t put(const void *handle, const struct record *r)
{
	struct table_entry *e = table_entry_new(handle, r);

	cr_assert_not_null(e, "table_entry_new");
	return table_put(e);
}

static const struct record_transfer xfer = {
	.handle = H(1),
	.api = RECORD_API_EASY,
	.method = "GET",
	.url = "http://example.test/",
};

static const struct record_header three[] = {
	HDR("WWW-Authenticate", "Bearer realm=\"mcp\", scope=\"a b\""),
	HDR("www-authenticate", "Odd\0bytes\x01\x7f\x80\xff end"),
	HDR("Proxy-Authenticate", ""),
};

static const struct record_header one[] = {
	HDR("WWW-Authenticate", "Basic realm=\"second\""),
};

Test(table, empty)
{
	struct copied c;

	cr_expect(!table_maybe_nonempty());
	cr_expect_eq(read_copy(H(1), &c), -1);
	cr_expect_eq(c.calls, 0);
	cr_expect_null(table_last());
	table_drop(H(1)); /* nothing there: harmless */
	cr_expect(!table_maybe_nonempty());
}

Test(table, put_and_read)
{
	struct record r = {
		.transfer = &xfer,
		.status = 401,
		.final = true,
		.flags = RECORD_CONNECT | RECORD_INCOMPLETE,
		.headers_known = true,
		.nheaders = 3,
		.headers = three,
	};
	struct copied c;

	uint64_t seq = put(H(1), &r);
	cr_expect_neq(seq, 0);
	cr_expect(table_maybe_nonempty());

	cr_assert_eq(read_copy(H(1), &c), 7, "table_read returns the callback's result");
	cr_expect_eq(c.calls, 1);
	cr_expect_eq(c.seq, seq);
	cr_expect_eq(c.status, 401);
	cr_expect_eq(c.flags, RECORD_CONNECT | RECORD_INCOMPLETE);
	cr_assert_eq(c.nheaders, 3);
	for (size_t i = 0; i < 3; i++)
		cr_expect(header_is(&c.h[i], &three[i]), "header %zu differs", i);
	copied_free(&c);

	cr_expect_eq(read_copy(H(2), &c), -1, "another handle has no entry");
	cr_expect_eq(c.calls, 0);
	cr_expect_eq(read_copy(NULL, &c), -1, "NULL has no entry");
	cr_expect_eq(c.calls, 0);
}

/* The entry is a copy: the record's bytes may go away after the put. */
Test(table, entry_is_a_copy)
{
	char name[] = "WWW-Authenticate";
	char value[] = "Basic realm=\"x\"";
	struct record_header h = {name, strlen(name), value, strlen(value)};
	struct record r = {.transfer = &xfer, .status = 407, .headers_known = true,
			   .nheaders = 1, .headers = &h};
	struct copied c;

	put(H(3), &r);
	memset(name, '#', strlen(name));
	memset(value, '#', strlen(value));
	cr_assert_eq(read_copy(H(3), &c), 7);
	cr_assert_eq(c.nheaders, 1);
	cr_expect_str_eq(c.h[0].name, "WWW-Authenticate");
	cr_expect_str_eq(c.h[0].value, "Basic realm=\"x\"");
	copied_free(&c);
}

Test(table, no_headers)
{
	struct record r = {.transfer = &xfer, .status = 401, .flags = RECORD_NO_CHALLENGE,
			   .headers_known = true};
	struct copied c;

	cr_expect_neq(put(H(4), &r), 0);
	cr_assert_eq(read_copy(H(4), &c), 7);
	cr_expect_eq(c.nheaders, 0);
	cr_expect_eq(c.status, 401);
	cr_expect_eq(c.flags, RECORD_NO_CHALLENGE);
	copied_free(&c);
}

Test(table, replace)
{
	struct record a = {.transfer = &xfer, .status = 401, .headers_known = true,
			   .nheaders = 3, .headers = three};
	struct record b = {.transfer = &xfer, .status = 403, .flags = RECORD_STATUS_INFERRED,
			   .headers_known = true, .nheaders = 1, .headers = one};
	struct copied c;

	uint64_t s1 = put(H(5), &a);
	uint64_t s2 = put(H(5), &b);
	cr_expect_gt(s2, s1, "a later put has a larger seq");

	cr_assert_eq(read_copy(H(5), &c), 7);
	cr_expect_eq(c.seq, s2);
	cr_expect_eq(c.status, 403);
	cr_expect_eq(c.flags, RECORD_STATUS_INFERRED);
	cr_assert_eq(c.nheaders, 1, "nothing of the old entry is left");
	cr_expect(header_is(&c.h[0], &one[0]));
	copied_free(&c);

	table_drop(H(5));
	cr_expect_eq(read_copy(H(5), &c), -1);
	cr_expect(!table_maybe_nonempty(), "the replaced entry was not counted twice");
}

Test(table, drop)
{
	struct record r = {.transfer = &xfer, .status = 401, .headers_known = true,
			   .nheaders = 1, .headers = one};
	struct copied c;

	put(H(6), &r);
	put(H(7), &r);
	table_drop(H(8)); /* not there */
	table_drop(H(6));
	cr_expect_eq(read_copy(H(6), &c), -1);
	cr_expect_eq(read_copy(H(7), &c), 7);
	copied_free(&c);
	cr_expect(table_maybe_nonempty());
	table_drop(H(7));
	table_drop(H(7)); /* twice */
	cr_expect(!table_maybe_nonempty());
	cr_expect_eq(read_copy(H(7), &c), -1);

	/* A dropped handle can be put again. */
	put(H(6), &r);
	cr_expect_eq(read_copy(H(6), &c), 7);
	copied_free(&c);
}

static struct record small_record = {
	.transfer = &xfer, .status = 401, .headers_known = true, .nheaders = 1, .headers = one,
};

static void *put_in_thread(void *arg)
{
	const void *handle = arg;
	struct table_entry *e = table_entry_new(handle, &small_record);

	if (!e || !table_put(e))
		return (void *)"put failed";
	/* The putting thread sees its own put. */
	return table_last() == handle ? NULL : (void *)"table_last in the other thread";
}

static void put_from_other_thread(const void *handle)
{
	pthread_t t;
	void *err;

	cr_assert_eq(pthread_create(&t, NULL, put_in_thread, (void *)handle), 0);
	pthread_join(t, &err);
	cr_assert_null(err, "%s", (const char *)err);
}

Test(table, last)
{
	cr_expect_null(table_last(), "nothing put yet");

	put(H(10), &small_record);
	cr_expect_eq(table_last(), H(10));
	put(H(11), &small_record);
	cr_expect_eq(table_last(), H(11), "the last put wins");

	/* Only the last transfer counts: once it is gone, an older put does
	 * not come back. */
	table_drop(H(11));
	cr_expect_null(table_last(), "after its entry was dropped");

	put(H(10), &small_record);
	cr_expect_eq(table_last(), H(10), "replacing from this thread");

	/* Another thread's put of another handle changes nothing here. */
	put_from_other_thread(H(12));
	cr_expect_eq(table_last(), H(10), "after another thread put another handle");

	/* Another thread's put of the same handle replaces this thread's
	 * transfer: that very transfer is gone. */
	put_from_other_thread(H(10));
	cr_expect_null(table_last(), "after another thread replaced the entry");

	put(H(13), &small_record);
	cr_expect_eq(table_last(), H(13));
	table_drop(H(13));
	put(H(13), &small_record);
	cr_expect_eq(table_last(), H(13), "put again after a drop");
}

/* Each header says its own index, so a lost or reordered one shows. */
static struct record_header *numbered_headers(size_t n)
{
	struct record_header *h = calloc(n, sizeof(*h));

	cr_assert_not_null(h);
	for (size_t i = 0; i < n; i++) {
		char *name = malloc(32), *value = malloc(32);
		cr_assert(name && value);
		h[i].name = name;
		h[i].name_len = (size_t)snprintf(name, 32, "H%zu", i);
		h[i].value = value;
		h[i].value_len = (size_t)snprintf(value, 32, "value %zu", i);
	}
	return h;
}

static void numbered_free(struct record_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((void *)h[i].name);
		free((void *)h[i].value);
	}
	free(h);
}

Test(table, max_values)
{
	const size_t n = TABLE_MAX_VALUES + 5;
	struct record_header *h = numbered_headers(n);
	struct record r = {.transfer = &xfer, .status = 401, .headers_known = true,
			   .nheaders = n, .headers = h};
	struct copied c;

	put(H(20), &r);
	cr_assert_eq(read_copy(H(20), &c), 7);
	cr_expect_eq(c.nheaders, TABLE_MAX_VALUES);
	cr_expect(c.flags & RECORD_TRUNCATED);
	for (size_t i = 0; i < c.nheaders; i++)
		cr_expect(header_is(&c.h[i], &h[i]), "header %zu", i);
	copied_free(&c);

	/* Exactly the cap is not a truncation. */
	r.nheaders = TABLE_MAX_VALUES;
	put(H(21), &r);
	cr_assert_eq(read_copy(H(21), &c), 7);
	cr_expect_eq(c.nheaders, TABLE_MAX_VALUES);
	cr_expect(!(c.flags & RECORD_TRUNCATED));
	copied_free(&c);
	numbered_free(h, n);
}

/* The entry keeps what fits of the record in order: whole headers, then
 * at most a prefix of the first one that did not fit. */
static void expect_cut(const struct copied *c, const struct record_header *h, size_t n,
		       size_t whole)
{
	size_t bytes = 0;

	cr_expect(c->flags & RECORD_TRUNCATED, "flagged");
	cr_expect_leq(c->nheaders, n);
	cr_expect_geq(c->nheaders, whole, "kept %zu headers, %zu fit", c->nheaders, whole);
	for (size_t i = 0; i < c->nheaders && i < n; i++) {
		bytes += c->h[i].name_len + c->h[i].value_len;
		if (i < whole) {
			cr_expect(header_is(&c->h[i], &h[i]), "header %zu is whole", i);
			continue;
		}
		cr_expect(c->h[i].name_len <= h[i].name_len &&
			  c->h[i].value_len <= h[i].value_len &&
			  memcmp(c->h[i].name, h[i].name, c->h[i].name_len) == 0 &&
			  memcmp(c->h[i].value, h[i].value, c->h[i].value_len) == 0,
			  "header %zu is a prefix", i);
	}
	cr_expect_leq(bytes, TABLE_MAX_ENTRY_BYTES);
}

Test(table, max_entry_bytes)
{
	const size_t big = 300 * 1024;
	char *v = malloc(big);
	struct record_header h[5];
	struct copied c;

	cr_assert_not_null(v);
	for (size_t i = 0; i < big; i++)
		v[i] = (char)('a' + i % 26);
	for (size_t i = 0; i < 5; i++)
		h[i] = (struct record_header){"WWW-Authenticate", 16, v, big};

	/* 5 x 300 KiB: three fit in 1 MiB, the fourth does not. */
	struct record r = {.transfer = &xfer, .status = 401, .flags = RECORD_CONNECT,
			   .headers_known = true, .nheaders = 5, .headers = h};
	put(H(30), &r);
	cr_assert_eq(read_copy(H(30), &c), 7);
	expect_cut(&c, h, 5, 3);
	cr_expect(c.flags & RECORD_CONNECT, "the record's own flags stay");
	copied_free(&c);
	free(v);
}

Test(table, one_header_too_big)
{
	const size_t big = TABLE_MAX_ENTRY_BYTES + 1000;
	char *v = malloc(big);
	struct copied c;

	cr_assert_not_null(v);
	memset(v, 'x', big);
	struct record_header h[2] = {
		{"WWW-Authenticate", 16, v, big},
		HDR("WWW-Authenticate", "Basic realm=\"after\""),
	};
	struct record r = {.transfer = &xfer, .status = 401, .headers_known = true,
			   .nheaders = 2, .headers = h};
	put(H(31), &r);
	cr_assert_eq(read_copy(H(31), &c), 7, "the entry exists, cut");
	expect_cut(&c, h, 2, 0);
	copied_free(&c);
	free(v);
}

/* Hosts that never clean up: the oldest put goes first. */
Test(table, eviction)
{
	const size_t n = TABLE_MAX_ENTRIES + 10;
	struct record r = {.transfer = &xfer, .status = 401, .headers_known = true};
	struct copied c;

	for (size_t i = 0; i < n; i++)
		cr_assert_neq(put(H(i), &r), 0, "put %zu", i);
	size_t gone = 0, wrong = 0;
	for (size_t i = 0; i < n; i++) {
		bool there = read_copy(H(i), &c) == 7;
		copied_free(&c);
		if (i < 10)
			gone += !there;
		else
			wrong += !there;
	}
	cr_expect_eq(gone, 10, "the first 10 are evicted");
	cr_expect_eq(wrong, 0, "%zu of the rest are missing", wrong);
	cr_expect_eq(table_last(), H(n - 1));

	/* A replaced entry counts as new: it outlives older ones. */
	put(H(10), &r);
	put(H(n), &r);
	cr_expect_eq(read_copy(H(10), &c), 7, "replaced, so not the oldest");
	copied_free(&c);
	cr_expect_eq(read_copy(H(11), &c), -1, "now the oldest, evicted");
	cr_expect_eq(read_copy(H(n), &c), 7);
	copied_free(&c);
}

/*
 * Concurrency: threads put, replace, read and drop on a small shared set of
 * handles.  Every entry is built from one marker (thread, iteration): its
 * status, flags, number of headers and every header's name and value derive
 * from it, so a read that mixed two entries would show.
 */
#define THREADS 8
#define ITERATIONS 50000
#define SHARED_HANDLES 12

struct worker {
	unsigned id;
	pthread_barrier_t *start;
	atomic_ulong *torn;
	unsigned long reads, puts, drops, bad_last, bad_seq;
};

static const char pad[] = "padding-so-values-differ-in-length";

static long marker_status(uint64_t m)
{
	return 400 + (long)(m % 100);
}

static unsigned marker_flags(uint64_t m)
{
	return (unsigned)(m % 32) & ~(unsigned)RECORD_TRUNCATED;
}

static size_t marker_nheaders(uint64_t m)
{
	return 1 + (size_t)(m % 7);
}

static int check_view(const struct table_view *v, void *arg)
{
	(void)arg;
	if (v->nheaders < 1)
		return 0;
	unsigned long long m;
	const struct table_header *h0 = &v->headers[0];
	char tmp[64];
	if (h0->value_len >= sizeof(tmp))
		return 0;
	memcpy(tmp, v->bytes + h0->value_off, h0->value_len);
	tmp[h0->value_len] = '\0';
	if (sscanf(tmp, "%llx", &m) != 1)
		return 0;
	if (v->status != marker_status(m) || v->flags != marker_flags(m) ||
	    v->nheaders != marker_nheaders(m))
		return 0;
	for (size_t k = 0; k < v->nheaders; k++) {
		char name[32], value[64];
		int nl = snprintf(name, sizeof(name), "X-%zu-%llx", k, m);
		int vl = snprintf(value, sizeof(value), "%llx:%zu:%s", m, k, pad + (m + k) % 30);
		const struct table_header *h = &v->headers[k];
		if (h->name_len != (uint32_t)nl || h->value_len != (uint32_t)vl ||
		    memcmp(v->bytes + h->name_off, name, (size_t)nl) != 0 ||
		    memcmp(v->bytes + h->value_off, value, (size_t)vl) != 0)
			return 0;
	}
	return 1;
}

static void worker_put(struct worker *w, const void *handle, uint64_t m, uint64_t *last_seq)
{
	char names[7][32], values[7][64];
	struct record_header h[7];
	size_t n = marker_nheaders(m);

	for (size_t k = 0; k < n; k++) {
		h[k].name = names[k];
		h[k].name_len = (size_t)snprintf(names[k], sizeof(names[k]), "X-%zu-%llx", k,
						 (unsigned long long)m);
		h[k].value = values[k];
		h[k].value_len = (size_t)snprintf(values[k], sizeof(values[k]), "%llx:%zu:%s",
						  (unsigned long long)m, k, pad + (m + k) % 30);
	}
	struct record r = {.transfer = &xfer, .status = marker_status(m),
			   .flags = marker_flags(m), .headers_known = true,
			   .nheaders = n, .headers = h};
	struct table_entry *e = table_entry_new(handle, &r);
	if (!e)
		return;
	uint64_t seq = table_put(e);
	if (!seq)
		return;
	w->puts++;
	if (seq <= *last_seq)
		w->bad_seq++;
	*last_seq = seq;
	/* Another thread may have replaced or dropped it already. */
	const void *last = table_last();
	if (last != handle && last != NULL)
		w->bad_last++;
}

static void *worker_run(void *arg)
{
	struct worker *w = arg;
	uint64_t rnd = 0x9e3779b97f4a7c15ull * (w->id + 1), last_seq = 0;

	pthread_barrier_wait(w->start);

	for (unsigned i = 0; i < ITERATIONS; i++) {
		rnd ^= rnd << 13;
		rnd ^= rnd >> 7;
		rnd ^= rnd << 17;
		const void *handle = H(100 + rnd % SHARED_HANDLES);
		unsigned op = (unsigned)(rnd >> 32) % 8;
		uint64_t m = ((uint64_t)w->id << 32) | i;

		if (op < 4) {
			worker_put(w, handle, m, &last_seq);
		} else if (op < 7) {
			int rc = table_read(handle, check_view, NULL);
			if (rc == 0)
				atomic_fetch_add(w->torn, 1);
			w->reads += rc == 1;
		} else {
			table_drop(handle);
			w->drops++;
		}
	}
	return NULL;
}

Test(table, concurrent, .timeout = 60)
{
	pthread_t t[THREADS];
	struct worker w[THREADS];
	pthread_barrier_t start;
	atomic_ulong torn = 0;
	unsigned long reads = 0, puts = 0;

	/* All start at once, so that they really overlap. */
	pthread_barrier_init(&start, NULL, THREADS);
	for (unsigned i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.id = i, .start = &start, .torn = &torn};
		cr_assert_eq(pthread_create(&t[i], NULL, worker_run, &w[i]), 0);
	}
	for (unsigned i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (unsigned i = 0; i < THREADS; i++) {
		cr_expect_eq(w[i].bad_last, 0, "thread %u: table_last gave a foreign handle", i);
		cr_expect_eq(w[i].bad_seq, 0, "thread %u: seq went backwards", i);
		reads += w[i].reads;
		puts += w[i].puts;
	}
	cr_expect_eq(atomic_load(&torn), 0, "%lu torn reads", (unsigned long)atomic_load(&torn));
	cr_expect_gt(puts, 0);
	cr_expect_gt(reads, 0, "some reads found an entry");

	/* Whatever is left is whole, and can all be dropped. */
	for (unsigned k = 0; k < SHARED_HANDLES; k++) {
		int rc = table_read(H(100 + k), check_view, NULL);
		cr_expect(rc == 1 || rc == -1, "handle %u: %d", k, rc);
		table_drop(H(100 + k));
	}
	cr_expect(!table_maybe_nonempty());
}

/* GitHub issue 15, item 7: a transfer that records nothing must drop its
 * handle's entry, and most handles have none; the table says so without
 * its lock.  It never says "absent" for a handle that has an entry, and
 * says it for (nearly) every handle that has none, whatever the table
 * holds: puts, replacements, drops and evictions of a full table. */
Test(table, absent_without_the_lock)
{
	const size_t n = TABLE_MAX_ENTRIES + 1000;
	struct record r = {.transfer = &xfer, .status = 401, .headers_known = true};

	cr_expect(!table_surely_absent(H(1)) || !table_maybe_nonempty());
	put(H(1), &r);
	cr_expect(!table_surely_absent(H(1)), "it has an entry");
	cr_expect(table_surely_absent(H(2)), "H(2) has none, and the table holds one entry");
	put(H(1), &r);
	cr_expect(!table_surely_absent(H(1)), "replaced, still there");
	table_drop(H(1));
	cr_expect(table_surely_absent(H(1)), "dropped");

	for (size_t i = 0; i < n; i++) {
		put(H(i), &r);
		if (i % 3 == 0)
			table_drop(H(i));
	}
	size_t wrong = 0, missed = 0, absent = 0;
	for (size_t i = 0; i < n + 100000; i++) {
		struct copied c;
		bool there = read_copy(H(i), &c) == 7;
		copied_free(&c);
		bool said_absent = table_surely_absent(H(i));
		wrong += there && said_absent;
		absent += !there;
		missed += !there && !said_absent;
	}
	cr_expect_eq(wrong, 0, "%zu handles with an entry were said to have none", wrong);
	/* Tags are 32 bits: a handle without an entry shares one with an
	 * entry's now and then, and is sent to the lock. */
	cr_expect_lt(missed * 100, absent, "%zu of %zu handles without an entry were not seen as such",
	             missed, absent);
}

/* The thread's last answer is asked first, an empty table's included: it
 * must be forgotten as soon as the handle gets an entry. */
Test(table, empty_tables_answer_is_remembered_until_an_entry_goes_in)
{
	struct record r = {.transfer = &xfer, .status = 401, .headers_known = true};

	cr_assert(!table_maybe_nonempty());
	cr_expect(table_surely_absent(H(5)), "an empty table holds nothing");
	cr_expect(table_surely_absent(H(5)), "asked again: the remembered answer");
	put(H(6), &r);
	cr_expect(table_surely_absent(H(5)), "another handle's entry changes nothing for H(5)");
	cr_expect(!table_surely_absent(H(6)), "H(6) has an entry");
	put(H(5), &r);
	cr_expect(!table_surely_absent(H(5)), "its own entry went in: the answer is not kept");
	table_drop(H(5));
	table_drop(H(6));
	cr_expect(table_surely_absent(H(5)), "dropped");
	cr_expect(table_surely_absent(H(5)), "and remembered");
	put(H(5), &r);
	cr_expect(!table_surely_absent(H(5)), "an entry again after an empty table's answer");
	table_drop(H(5));
}
