/* Unit tests for preload/pending.c: the per-multi-handle pending sets.
 * Criterion runs each Test in a process of its own, so every test starts
 * with no set.  Handles, multi handles and libraries are fake pointers:
 * the sets never dereference them. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "pending.h"

#define H(n) ((const void *)(uintptr_t)((n)*16 + 0x100000))
#define M(n) ((const void *)(uintptr_t)((n)*4096 + 0x7000000))
#define LIB ((const void *)(uintptr_t)0x1234)

static struct pending_multi *set_of(const void *multi)
{
	struct pending_multi *pm = pending_of(multi, LIB);

	cr_assert(pm, "no set for multi handle %p", multi);
	return pm;
}

static bool take(const void *multi, const void *h, void **snap)
{
	struct pending_multi *pm = pending_of(multi, NULL);
	struct net_ref conn;

	return pm && pending_take(pm, h, &conn, snap);
}

Test(pending, a_handle_is_taken_once_with_its_connection)
{
	struct pending_multi *pm = set_of(M(1));
	struct net_ref conn = {7, 42};
	void *snap = (void *)1;

	cr_assert_null(pending_add(pm, H(1), conn));
	cr_assert(pending_take(pm, H(1), &conn, &snap));
	cr_expect_eq(conn.fd, 7);
	cr_expect_eq(conn.id, 42);
	cr_expect_null(snap, "no snapshot was made");
	cr_expect_not(pending_take(pm, H(1), &conn, &snap), "taken twice");
	cr_expect_eq(pm->count, 0);
	cr_expect_eq(pm->unsnapped, 0);
}

/* curl_easy_cleanup is not told the multi handle: the handle's set need
 * not be the thread's last one (libcurl builds that do not call their own
 * curl_multi_remove_handle through the PLT rely on this). */
Test(pending, take_any_looks_beyond_the_threads_last_set)
{
	void *snap;
	struct net_ref conn;

	pending_add(set_of(M(1)), H(1), (struct net_ref){0});
	pending_add(set_of(M(2)), H(2), (struct net_ref){0});
	cr_assert_eq(atomic_load(&pending_last->multi), M(2));
	cr_expect(pending_take_any(H(1), &conn, &snap), "the handle of the other set");
	cr_expect_not(pending_take_any(H(1), &conn, &snap), "taken twice");
	cr_expect(pending_take_any(H(2), &conn, &snap));
	cr_expect_not(pending_take_any(H(3), &conn, &snap), "never added");
}

/* The table grows from 16 slots: every entry survives each doubling and
 * the erasures' backward shifts, in any order. */
Test(pending, thousands_of_handles_through_growth_and_erasure)
{
	struct pending_multi *pm = set_of(M(1));
	enum { N = 5000 };
	void *snap;
	struct net_ref conn;

	for (int i = 0; i < N; i++)
		cr_assert_null(pending_add(pm, H(i), (struct net_ref){i, (uint64_t)i}));
	cr_assert_eq(pm->count, N);
	/* Every third first, then the rest backwards. */
	for (int i = 0; i < N; i += 3) {
		cr_assert(pending_take(pm, H(i), &conn, &snap), "handle %d lost", i);
		cr_assert_eq(conn.fd, i);
	}
	for (int i = N - 1; i >= 0; i--) {
		bool had = i % 3 != 0;
		cr_assert_eq(pending_take(pm, H(i), &conn, &snap), had, "handle %d", i);
		if (had)
			cr_assert_eq(conn.id, (uint64_t)i);
	}
	cr_expect_eq(pm->count, 0);
	for (size_t i = 0; i <= pm->tab->mask; i++)
		cr_assert_null(atomic_load(&pm->tab->e[i].handle), "slot %zu not empty", i);
}

/* A multi handle cleaned up frees its set for the next one, which starts
 * empty; the old multi handle has no set any more. */
Test(pending, a_released_set_is_taken_by_the_next_multi_handle)
{
	const void *handles[4];
	struct net_ref conns[4];
	void *snaps[4];

	struct pending_multi *pm = set_of(M(1));
	pending_add(pm, H(1), (struct net_ref){0});
	pending_add(pm, H(2), (struct net_ref){0});
	cr_expect_eq(pending_take_multi(M(1), handles, conns, snaps, 4), 2);
	cr_expect_eq(pending_take_multi(M(1), handles, conns, snaps, 4), 0);
	pending_release(M(1));
	cr_expect_null(pending_of(M(1), NULL), "a set for a multi handle that is gone");
	struct pending_multi *again = set_of(M(2));
	cr_expect_eq(again, pm, "the freed set is not reused");
	cr_expect_eq(again->count, 0);
	cr_expect_not(take(M(2), H(1), &snaps[0]));
}

static void *fake_snapshot(const void *handle, void *arg)
{
	(void)arg;
	/* H(1) has something to record, the others nothing. */
	if (handle != H(1))
		return NULL;
	char *s = malloc(1);
	return s;
}

/* Once nothing of a multi handle runs, each transfer gets its snapshot;
 * at exit the ones with something to record are taken out, once, and a
 * transfer taken after that gets "nothing" (it was logged at exit). */
Test(pending, snapshots_are_taken_once_at_exit_or_by_the_transfer)
{
	struct pending_multi *pm = set_of(M(1));
	void *snaps[4], *snap;

	pending_add(pm, H(1), (struct net_ref){0});
	pending_add(pm, H(2), (struct net_ref){0});
	pending_add(pm, H(3), (struct net_ref){0});
	pending_all_done(pm, fake_snapshot, NULL);
	cr_expect_eq(pm->unsnapped, 0);
	cr_assert(take(M(1), H(2), &snap));
	cr_expect_eq(snap, PENDING_NOTHING);
	cr_expect_eq(pending_take_snaps(snaps, 4), 1, "one snapshot has something to record");
	free(snaps[0]);
	cr_expect_eq(pending_take_snaps(snaps, 4), 0, "taken twice at exit");
	cr_assert(take(M(1), H(1), &snap));
	cr_expect_eq(snap, PENDING_NOTHING, "recorded at exit already");
	cr_assert(take(M(1), H(3), &snap));
	cr_expect_eq(snap, PENDING_NOTHING);
}

Test(pending, a_snapshot_taken_by_its_transfer_is_not_taken_at_exit)
{
	struct pending_multi *pm = set_of(M(1));
	void *snaps[4], *snap;

	pending_add(pm, H(1), (struct net_ref){0});
	pending_all_done(pm, fake_snapshot, NULL);
	cr_assert(take(M(1), H(1), &snap));
	cr_assert(snap && snap != PENDING_NOTHING);
	free(snap);
	cr_expect_eq(pending_take_snaps(snaps, 4), 0);
}

/* Threads each driving a multi handle of their own: no lock, nothing lost. */
static void *churn(void *arg)
{
	uintptr_t k = (uintptr_t)arg;
	struct net_ref conn;
	void *snap;
	long lost = 0;

	for (int round = 0; round < 200; round++) {
		struct pending_multi *pm = pending_of(M(k), LIB);
		if (!pm)
			return (void *)-1L;
		for (int i = 0; i < 50; i++)
			pending_add(pm, H(k * 100000 + (uintptr_t)i), (struct net_ref){0});
		for (int i = 49; i >= 0; i--)
			lost += !pending_take(pm, H(k * 100000 + (uintptr_t)i), &conn, &snap);
	}
	return (void *)lost;
}

Test(pending, threads_with_a_multi_handle_each)
{
	pthread_t t[6];

	for (uintptr_t k = 0; k < 6; k++)
		cr_assert_eq(pthread_create(&t[k], NULL, churn, (void *)(k + 1)), 0);
	for (int k = 0; k < 6; k++) {
		void *lost;
		pthread_join(t[k], &lost);
		cr_expect_eq((long)lost, 0, "thread %d lost %ld handles", k, (long)lost);
	}
}

/* Claimed nodes are unlinked by the next pending_all_done and reused:
 * round after round, each snapshot reaches its transfer once, and none is
 * left for the exit. */
Test(pending, snapshot_nodes_are_reused_round_after_round)
{
	struct pending_multi *pm = set_of(M(1));
	void *snaps[4], *snap;

	for (int round = 0; round < 200; round++) {
		pending_add(pm, H(1), (struct net_ref){0});
		pending_add(pm, H(2), (struct net_ref){0});
		pending_all_done(pm, fake_snapshot, NULL);
		cr_assert(take(M(1), H(1), &snap));
		cr_assert(snap && snap != PENDING_NOTHING, "round %d: no snapshot", round);
		free(snap);
		cr_assert(take(M(1), H(2), &snap));
		cr_assert_eq(snap, PENDING_NOTHING);
	}
	cr_expect_leq(pm->nspare, 1, "nodes kept: %zu", pm->nspare);
	cr_expect_eq(pending_take_snaps(snaps, 4), 0);
}

/* The add hook's split insert (issue 15, item 6): the slot is found before
 * it is filled, and there is none for a handle already there or when the
 * table is half full; the table must then grow through pending_add_slow,
 * which keeps every entry. */
Test(pending, add_slot_none_for_a_handle_already_there_or_a_half_full_table)
{
	struct pending_multi *pm = set_of(M(1));
	struct pending_tab *t = atomic_load(&pm->tab);
	size_t half = t->half, n;

	cr_assert_eq(half, (t->mask + 1) / 2);
	for (n = 0; n < half; n++) {
		struct pending_entry *e = pending_add_slot(pm, H(n));
		cr_assert(e, "no slot for the handle %zu of %zu", n, half);
		e->snap = NULL;
		e->conn = (struct net_ref){(int)n, n};
		pending_add_commit(pm, e, H(n));
		cr_expect_null(pending_add_slot(pm, H(n)), "a slot for a handle already there");
	}
	cr_expect_null(pending_add_slot(pm, H(n)), "a slot beyond half the table");
	cr_expect_null(pending_add_slow(pm, H(n), (struct net_ref){(int)n, n}));
	cr_expect_neq(atomic_load(&pm->tab), t, "the table did not grow");
	cr_expect_eq(pm->count, half + 1);
	cr_expect_eq(pm->unsnapped, half + 1);
	for (n = 0; n <= half; n++) {
		struct net_ref conn;
		void *snap;
		cr_expect(pending_take(pm, H(n), &conn, &snap), "handle %zu lost", n);
		cr_expect_eq(conn.id, n);
	}
	cr_expect_eq(pm->count, 0);
}

/* The inline scan makes one snapshot for each entry without one, and none
 * again for those that have one. */
static void *nothing_counted(const void *h, void *arg)
{
	(*(int *)arg)++;
	(void)h;
	return NULL;
}

Test(pending, all_done_snapshots_each_unsnapped_entry_once)
{
	struct pending_multi *pm = set_of(M(1));
	int calls = 0;

	for (int i = 0; i < 12; i++)
		pending_add(pm, H(i), (struct net_ref){0});
	pending_all_done(pm, nothing_counted, &calls);
	cr_expect_eq(calls, 12);
	cr_expect_eq(pm->unsnapped, 0);
	pending_add(pm, H(12), (struct net_ref){0});
	calls = 0;
	pending_all_done(pm, nothing_counted, &calls);
	cr_expect_eq(calls, 1, "entries with a snapshot were snapshotted again");
	cr_expect_eq(pm->unsnapped, 0);
	for (int i = 0; i <= 12; i++) {
		void *snap;
		cr_expect(take(M(1), H(i), &snap));
		cr_expect_eq(snap, PENDING_NOTHING);
	}
}
