#include "pending.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define PENDING_FIRST_BITS 4

char pending_nothing;
char pending_free;

/* The empty set no multi handle has: a thread's cache before its first. */
static struct pending_multi pending_none = {.multi = PENDING_FREE};
__thread struct pending_multi *pending_last __attribute__((tls_model("initial-exec"))) =
    &pending_none;

/* Every set ever made, newest first; sets are never freed. */
static _Atomic(struct pending_multi *) pending_sets;
/* Serialises making and freeing sets, not their use. */
static pthread_mutex_t pending_sets_lock = PTHREAD_MUTEX_INITIALIZER;

/* A snapshot with something to record, in the list the destructor takes.
 * The entry that made it owns it until it claims it (its snap goes NULL,
 * no lock); the destructor takes it under the lock (its snap goes
 * PENDING_TAKEN); a node whose snap is NULL is unlinked, under the lock,
 * by the next pending_all_done, which keeps it for its next snapshot. */
struct pending_snap {
	struct pending_snap *next;
	_Atomic(void *) snap;
};

static char pending_taken;
#define PENDING_TAKEN ((void *)&pending_taken)
#define PENDING_SPARE_MAX 64

static pthread_mutex_t pending_snaps_lock = PTHREAD_MUTEX_INITIALIZER;
/* The list's head: written under the lock, read without it only to see
 * whether there is anything to reap. */
_Atomic(struct pending_snap *) pending_snaps;

void pending_snap_free(void *snap)
{
	if (snap != PENDING_NOTHING)
		free(snap);
}

static struct pending_tab *tab_new(unsigned bits)
{
	size_t n = (size_t)1 << bits;
	struct pending_tab *t = calloc(1, sizeof(*t) + n * sizeof(t->e[0]));

	if (t) {
		t->mask = n - 1;
		t->half = n / 2;
		t->shift = 64 - bits;
	}
	return t;
}

static struct pending_multi *find_locked_or_not(const void *multi)
{
	for (struct pending_multi *pm = atomic_load_explicit(&pending_sets, memory_order_acquire);
	     pm; pm = pm->next)
		if (atomic_load_explicit(&pm->multi, memory_order_acquire) == multi)
			return pm;
	return NULL;
}

struct pending_multi *pending_find(const void *multi, const void *lib)
{
	struct pending_multi *pm;

	if (!multi || multi == PENDING_FREE)
		return NULL;
	if ((pm = find_locked_or_not(multi))) {
		pending_last = pm;
		return pm;
	}
	if (!lib)
		return NULL;
	int saved = errno;
	pthread_mutex_lock(&pending_sets_lock);
	if (!(pm = find_locked_or_not(multi))) {
		struct pending_multi *p;
		for (p = atomic_load_explicit(&pending_sets, memory_order_acquire); p; p = p->next)
			if (atomic_load_explicit(&p->multi, memory_order_relaxed) == PENDING_FREE)
				break;
		if (p) {
			pm = p;
		} else if ((pm = calloc(1, sizeof(*pm)))) {
			struct pending_tab *t = tab_new(PENDING_FIRST_BITS);
			if (!t) {
				free(pm);
				pm = NULL;
			} else {
				atomic_store_explicit(&pm->tab, t, memory_order_relaxed);
				pm->next =
				    atomic_load_explicit(&pending_sets, memory_order_relaxed);
				atomic_store_explicit(&pending_sets, pm, memory_order_release);
			}
		}
		/* A set that was freed is empty: pending_release saw to it. */
		if (pm) {
			pm->lib = lib;
			atomic_store_explicit(&pm->multi, multi, memory_order_release);
		}
	}
	pthread_mutex_unlock(&pending_sets_lock);
	errno = saved;
	if (pm)
		pending_last = pm;
	return pm;
}

/* Moves every entry of pm into a table twice the size; the old one is
 * kept (a curl_easy_cleanup on another thread may be reading it). */
static bool grow(struct pending_multi *pm)
{
	struct pending_tab *old = atomic_load_explicit(&pm->tab, memory_order_relaxed);
	unsigned bits = 64 - old->shift + 1;
	struct pending_tab *t = tab_new(bits);

	if (!t)
		return false;
	for (size_t j = 0; j <= old->mask; j++) {
		const void *k = atomic_load_explicit(&old->e[j].handle, memory_order_relaxed);
		if (!k)
			continue;
		size_t i = pending_slot(t, k);
		while (atomic_load_explicit(&t->e[i].handle, memory_order_relaxed))
			i = (i + 1) & t->mask;
		t->e[i].snap = old->e[j].snap;
		t->e[i].conn = old->e[j].conn;
		atomic_store_explicit(&t->e[i].handle, k, memory_order_relaxed);
	}
	t->older = old;
	atomic_store_explicit(&pm->tab, t, memory_order_release);
	return true;
}

void *pending_add_slow(struct pending_multi *pm, const void *handle, struct net_ref conn)
{
	struct pending_tab *t = atomic_load_explicit(&pm->tab, memory_order_relaxed);
	size_t i = pending_slot(t, handle);
	const void *k;

	/* Already there (a handle libcurl let go of without authtap seeing
	 * it): the entry starts again. */
	while ((k = atomic_load_explicit(&t->e[i].handle, memory_order_relaxed))) {
		if (k == handle) {
			void *old = t->e[i].snap;
			if (!old)
				pm->unsnapped--;
			else if (old != PENDING_NOTHING)
				old = pending_snap_claim(pm, old);
			t->e[i].snap = NULL;
			t->e[i].conn = conn;
			pm->unsnapped++;
			return old == PENDING_NOTHING ? NULL : old;
		}
		i = (i + 1) & t->mask;
	}
	int saved = errno;
	bool grown = grow(pm);
	errno = saved;
	/* Short of memory, the table may still take it up to full but one. */
	if (!grown && pm->count + 1 > t->mask)
		return NULL;
	t = atomic_load_explicit(&pm->tab, memory_order_relaxed);
	i = pending_slot(t, handle);
	while (atomic_load_explicit(&t->e[i].handle, memory_order_relaxed))
		i = (i + 1) & t->mask;
	t->e[i].snap = NULL;
	t->e[i].conn = conn;
	atomic_store_explicit(&t->e[i].handle, handle, memory_order_release);
	pm->count++;
	pm->unsnapped++;
	return NULL;
}

/* Backward shift: each later entry of the run that may sit at i moves
 * there, so that no probe meets a hole before its key. */
void pending_shift(struct pending_tab *t, size_t i)
{
	for (size_t j = (i + 1) & t->mask;; j = (j + 1) & t->mask) {
		const void *k = atomic_load_explicit(&t->e[j].handle, memory_order_relaxed);
		if (!k)
			break;
		size_t home = pending_slot(t, k);
		if (((j - home) & t->mask) < ((j - i) & t->mask))
			continue;
		t->e[i].snap = t->e[j].snap;
		t->e[i].conn = t->e[j].conn;
		atomic_store_explicit(&t->e[i].handle, k, memory_order_release);
		i = j;
	}
	atomic_store_explicit(&t->e[i].handle, NULL, memory_order_release);
}

void *pending_snap_claim(struct pending_multi *pm, void *node)
{
	struct pending_snap *n = node;
	void *snap = atomic_exchange_explicit(&n->snap, NULL, memory_order_acq_rel);

	(void)pm;
	/* PENDING_TAKEN: logged at exit already. */
	return snap && snap != PENDING_TAKEN ? snap : PENDING_NOTHING;
}

/* pending_take in a set another thread may be changing (it is driving a
 * multi handle handle is not in): the walk is bounded, and the table it
 * reads is never freed. */
static bool take_bounded(struct pending_multi *pm, const void *handle, struct net_ref *conn,
                         void **snap)
{
	struct pending_tab *t = atomic_load_explicit(&pm->tab, memory_order_acquire);
	size_t i = pending_slot(t, handle);

	for (size_t n = 0; n <= t->mask; n++, i = (i + 1) & t->mask) {
		const void *k = atomic_load_explicit(&t->e[i].handle, memory_order_relaxed);
		if (!k)
			return false;
		if (k == handle) {
			pending_erase(pm, t, i, conn, snap);
			return true;
		}
	}
	return false;
}

bool pending_take_any(const void *handle, struct net_ref *conn, void **snap)
{
	struct pending_multi *pm = pending_last;

	*snap = NULL;
	if (!handle)
		return false;
	if (pm != &pending_none &&
	    atomic_load_explicit(&pm->multi, memory_order_relaxed) != PENDING_FREE &&
	    take_bounded(pm, handle, conn, snap))
		return true;
	for (struct pending_multi *p = atomic_load_explicit(&pending_sets, memory_order_acquire); p;
	     p = p->next)
		if (p != pm &&
		    atomic_load_explicit(&p->multi, memory_order_acquire) != PENDING_FREE &&
		    take_bounded(p, handle, conn, snap))
			return true;
	return false;
}

size_t pending_take_multi(const void *multi, const void **handles, struct net_ref *conns,
                          void **snaps, size_t max)
{
	struct pending_multi *pm = pending_find(multi, NULL);
	size_t n = 0;

	if (!pm)
		return 0;
	struct pending_tab *t = atomic_load_explicit(&pm->tab, memory_order_relaxed);
	/* Each erase may shift a later entry back to i: look at i again. */
	for (size_t i = 0; i <= t->mask && n < max;) {
		const void *k = atomic_load_explicit(&t->e[i].handle, memory_order_relaxed);
		if (!k) {
			i++;
			continue;
		}
		handles[n] = k;
		pending_erase(pm, t, i, &conns[n], &snaps[n]);
		n++;
	}
	return n;
}

void pending_release(const void *multi)
{
	struct pending_multi *pm = pending_find(multi, NULL);

	if (!pm || pm->count)
		return;
	pthread_mutex_lock(&pending_sets_lock);
	pm->unsnapped = 0;
	atomic_store_explicit(&pm->multi, PENDING_FREE, memory_order_release);
	pthread_mutex_unlock(&pending_sets_lock);
}

void *pending_snap_node(struct pending_multi *pm, void *snap, struct pending_chain *ch)
{
	struct pending_snap *n = pm->spare;

	if (n) {
		pm->spare = n->next;
		pm->nspare--;
	} else if (!(n = malloc(sizeof(*n)))) {
		return NULL;
	}
	atomic_store_explicit(&n->snap, snap, memory_order_relaxed);
	n->next = ch->first;
	if (!ch->first)
		ch->last = n;
	ch->first = n;
	return n;
}

/* Under the lock: unlinks the nodes their entries claimed, keeping up to
 * PENDING_SPARE_MAX of them for pm's next snapshots. */
static void reap_locked(struct pending_multi *pm)
{
	struct pending_snap *prev = NULL,
	                    *n = atomic_load_explicit(&pending_snaps, memory_order_relaxed);

	while (n) {
		struct pending_snap *next = n->next;
		if (atomic_load_explicit(&n->snap, memory_order_acquire)) {
			prev = n;
			n = next;
			continue;
		}
		if (prev)
			prev->next = next;
		else
			atomic_store_explicit(&pending_snaps, next, memory_order_relaxed);
		if (pm->nspare < PENDING_SPARE_MAX) {
			n->next = pm->spare;
			pm->spare = n;
			pm->nspare++;
		} else {
			free(n);
		}
		n = next;
	}
}

void pending_chain_link(struct pending_multi *pm, struct pending_chain *ch)
{
	/* Only this thread knows of the new nodes until they are linked. */
	pthread_mutex_lock(&pending_snaps_lock);
	reap_locked(pm);
	if (ch->first) {
		ch->last->next = atomic_load_explicit(&pending_snaps, memory_order_relaxed);
		atomic_store_explicit(&pending_snaps, ch->first, memory_order_relaxed);
	}
	pthread_mutex_unlock(&pending_snaps_lock);
}

size_t pending_take_snaps(void **snaps, size_t max)
{
	size_t n = 0;

	pthread_mutex_lock(&pending_snaps_lock);
	for (struct pending_snap *s = atomic_load_explicit(&pending_snaps, memory_order_relaxed);
	     s && n < max; s = s->next) {
		void *snap = atomic_load_explicit(&s->snap, memory_order_acquire);
		if (!snap || snap == PENDING_TAKEN ||
		    !atomic_compare_exchange_strong(&s->snap, &snap, PENDING_TAKEN))
			continue;
		snaps[n++] = snap;
	}
	pthread_mutex_unlock(&pending_snaps_lock);
	return n;
}

void pending_atfork_prepare(void)
{
	pthread_mutex_lock(&pending_sets_lock);
	pthread_mutex_lock(&pending_snaps_lock);
}

void pending_atfork_parent(void)
{
	pthread_mutex_unlock(&pending_snaps_lock);
	pthread_mutex_unlock(&pending_sets_lock);
}

void pending_atfork_child(void)
{
	pthread_mutex_unlock(&pending_snaps_lock);
	pthread_mutex_unlock(&pending_sets_lock);
}
