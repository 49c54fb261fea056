/* An unmodified program on libcurl's multi interface, for authtap's tests.
 *
 *   multiclient [options] MODE URL...
 *
 * It links libcurl only.  Each transfer it finishes is reported on stdout in
 * a line that is the same with and without the preload, and the handle that
 * carried it on stderr, so that a test can tie every record to a transfer:
 *
 *   transfer 0 api=multi result=0 status=401 connectcode=0 http_version=1.1 url=... body=...
 *   handle 0 0x55d0c3a1f2a0                                        (stderr)
 *
 * It includes shim/authtap.h (header only, nothing of authtap linked) to
 * show on stderr what authtap knew when the program got to see a message:
 *
 *   seen 0 401        (stderr: authtap_status() as CURLMSG_DONE arrives)
 *   removed 0 401     (stderr: authtap_status() after the removal)
 *
 * Modes:
 *   read          every URL on one multi handle at once; the messages are
 *                 read as they come, the handles removed after the loop
 *   noread        every URL at once; no message is ever read, each handle is
 *                 removed once none is running
 *   abort         every URL added, one curl_multi_perform, then removed
 *   close         every URL at once; no message read, no handle removed:
 *                 curl_multi_cleanup, then curl_easy_cleanup of each handle
 *   easy-cleanup  every URL at once; no message read, no handle removed:
 *                 curl_easy_cleanup of each handle while it is still in the
 *                 multi handle, then curl_multi_cleanup
 *   exit          every URL at once, driven to the end; no message read, no
 *                 handle removed or cleaned up: the program exits (exit(0))
 *   nested        URL 0 on a multi handle; its first write callback runs
 *                 curl_easy_perform on URL 1 (same thread, inside
 *                 curl_multi_perform)
 *   nested-multi  URL 0 through curl_easy_perform; its first write callback
 *                 drives URL 1 to its end through a multi handle of its own
 *   reuse         one handle: URL 0 through the multi interface (message read,
 *                 handle removed at once), URL 1 through curl_easy_perform,
 *                 URL 2 through the multi interface again
 *   two           two multi handles on one thread, URL i on the (i % 2)th,
 *                 driven in turns to the end; no message read: each easy
 *                 handle is cleaned up while still in its multi handle, then
 *                 both multi handles; then a third multi handle runs every
 *                 URL again (transfers N..2N-1, new handles), its messages
 *                 read and its handles removed as they come
 *   refused       as read, but once every URL is added, a NULL handle and
 *                 handle 0 again are added too, which libcurl refuses (the
 *                 return codes are printed)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authtap.h"

#define URLS_MAX 64
#define THREADS_MAX 32
#define LOOP_SECS 20
#define BODY_SHOWN 64

enum mode {
	MODE_READ,
	MODE_NOREAD,
	MODE_ABORT,
	MODE_NESTED,
	MODE_NESTED_MULTI,
	MODE_REUSE,
	MODE_CLOSE,
	MODE_EASY_CLEANUP,
	MODE_EXIT,
	MODE_TWO,
	MODE_REFUSED,
};

static struct {
	enum mode mode;
	bool follow;
	bool fail;
	bool http2;
	bool insecure;
	unsigned long auth;
	const char *userpwd;
	const char *proxy;
	const char *cainfo;
	long threads;
	char **urls;
	int nurls;
} opt = {.threads = 1};

/* One transfer: its handle, what the write callback saw, and the output of
 * the thread that runs it. */
struct transfer {
	CURL *h;
	int index;
	char body[BODY_SHOWN];
	size_t body_len;
	bool nested_done;
	struct worker *w;
};

struct worker {
	char *line[URLS_MAX]; /* each transfer's report, printed in URL order */
	FILE *out, *err;
	char *out_buf, *err_buf;
	size_t out_len, err_len;
	struct transfer t[URLS_MAX];
	bool failed;
	pthread_t tid;
};

static bool expired(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return now.tv_sec - start->tv_sec > LOOP_SECS;
}

static const char *version_name(long v)
{
	switch (v) {
	case CURL_HTTP_VERSION_1_0:
		return "1.0";
	case CURL_HTTP_VERSION_1_1:
		return "1.1";
	case CURL_HTTP_VERSION_2_0:
		return "2";
	default:
		return "none";
	}
}

/* result < 0 stands for "not known to the program" (its message unread).
 * Transfers end in any order; their lines go out in the order of the URLs. */
static void report(struct transfer *t, const char *api, int result)
{
	struct worker *w = t->w;
	long status = 0, connect = 0, version = 0;
	char *url = NULL, *line = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&line, &len);

	if (!f) {
		w->failed = true;
		return;
	}
	curl_easy_getinfo(t->h, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(t->h, CURLINFO_HTTP_CONNECTCODE, &connect);
	curl_easy_getinfo(t->h, CURLINFO_HTTP_VERSION, &version);
	curl_easy_getinfo(t->h, CURLINFO_EFFECTIVE_URL, &url);
	fprintf(f, "transfer %d api=%s result=", t->index, api);
	if (result < 0)
		fputs("unknown", f);
	else
		fprintf(f, "%d", result);
	fprintf(f, " status=%ld connectcode=%ld http_version=%s url=%s body=", status, connect,
	        version_name(version), url ? url : "-");
	for (size_t i = 0; i < t->body_len; i++)
		fprintf(f, "%02x", (unsigned char)t->body[i]);
	fputc('\n', f);
	fclose(f);
	free(w->line[t->index]);
	w->line[t->index] = line;
	if (result > 0)
		w->failed = true;
}

static void run_nested(struct transfer *outer);

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	struct transfer *t = ud;
	size_t len = size * n;
	size_t room = sizeof(t->body) - t->body_len;

	memcpy(t->body + t->body_len, p, len < room ? len : room);
	t->body_len += len < room ? len : room;
	if (!t->nested_done && (opt.mode == MODE_NESTED || opt.mode == MODE_NESTED_MULTI) &&
	    t->index == 0) {
		t->nested_done = true;
		run_nested(t);
	}
	return len;
}

static CURL *make_handle(struct transfer *t, int index, const char *url)
{
	t->index = index;
	t->body_len = 0;
	if (!t->h) {
		t->h = curl_easy_init();
		if (!t->h)
			return NULL;
		fprintf(t->w->err, "handle %d %p\n", index, (void *)t->h);
	}
	CURL *h = t->h;
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* An empty proxy keeps http_proxy and friends out of the test. */
	curl_easy_setopt(h, CURLOPT_PROXY, opt.proxy ? opt.proxy : "");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, opt.follow ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, opt.fail ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)LOOP_SECS);
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
	                 opt.http2 ? (long)CURL_HTTP_VERSION_2TLS : (long)CURL_HTTP_VERSION_1_1);
	if (opt.cainfo)
		curl_easy_setopt(h, CURLOPT_CAINFO, opt.cainfo);
	if (opt.insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (opt.userpwd) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, opt.auth);
		curl_easy_setopt(h, CURLOPT_USERPWD, opt.userpwd);
	}
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(h, CURLOPT_PRIVATE, t);
	return h;
}

/* Drives m until nothing runs; with read set, every CURLMSG_DONE is
 * reported as it comes (and its handle removed when remove_each is set). */
static int drive(CURLM *m, bool read, bool remove_each)
{
	struct timespec start;
	int running = 1;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (running) {
		if (curl_multi_perform(m, &running) != CURLM_OK)
			return -1;
		if (read) {
			CURLMsg *msg;
			int left;

			while ((msg = curl_multi_info_read(m, &left))) {
				struct transfer *t = NULL;

				if (msg->msg != CURLMSG_DONE)
					continue;
				curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&t);
				fprintf(t->w->err, "seen %d %ld\n", t->index,
				        authtap_status(msg->easy_handle));
				report(t, "multi", (int)msg->data.result);
				if (remove_each)
					curl_multi_remove_handle(m, msg->easy_handle);
			}
		}
		if (running && curl_multi_poll(m, NULL, 0, 1000, NULL) != CURLM_OK)
			return -1;
		if (expired(&start))
			return -1;
	}
	return 0;
}

static void run_nested(struct transfer *outer)
{
	struct worker *w = outer->w;
	struct transfer *t = &w->t[1];

	if (opt.nurls < 2 || !make_handle(t, 1, opt.urls[1])) {
		w->failed = true;
		return;
	}
	if (opt.mode == MODE_NESTED) {
		report(t, "easy", (int)curl_easy_perform(t->h));
		return;
	}
	CURLM *m = curl_multi_init();
	if (!m || curl_multi_add_handle(m, t->h) != CURLM_OK || drive(m, true, true))
		w->failed = true;
	curl_multi_cleanup(m);
}

/* Every URL at once on one multi handle. */
static void run_all(struct worker *w)
{
	CURLM *m = curl_multi_init();
	int running = 0;

	if (!m) {
		w->failed = true;
		return;
	}
	for (int i = 0; i < opt.nurls; i++) {
		if (!make_handle(&w->t[i], i, opt.urls[i]) ||
		    curl_multi_add_handle(m, w->t[i].h) != CURLM_OK) {
			w->failed = true;
			goto out;
		}
	}
	if (opt.mode == MODE_REFUSED) {
		CURLMcode null_rc = curl_multi_add_handle(m, NULL);
		CURLMcode again_rc = curl_multi_add_handle(m, w->t[0].h);
		fprintf(w->out, "refused null=%d again=%d\n", (int)null_rc, (int)again_rc);
	}
	switch (opt.mode) {
	case MODE_REFUSED:
	case MODE_READ:
		if (drive(m, true, false))
			w->failed = true;
		break;
	case MODE_CLOSE:
	case MODE_EASY_CLEANUP:
		if (drive(m, false, false))
			w->failed = true;
		for (int i = 0; i < opt.nurls; i++) {
			report(&w->t[i], "multi", -1);
			if (opt.mode == MODE_EASY_CLEANUP) {
				curl_easy_cleanup(w->t[i].h);
				w->t[i].h = NULL;
			}
		}
		goto out;
	case MODE_NOREAD:
		if (drive(m, false, false))
			w->failed = true;
		for (int i = 0; i < opt.nurls; i++)
			report(&w->t[i], "multi", -1);
		break;
	case MODE_EXIT:
		if (drive(m, false, false))
			w->failed = true;
		for (int i = 0; i < opt.nurls; i++)
			report(&w->t[i], "multi", -1);
		for (int i = 0; i < URLS_MAX; i++)
			if (w->line[i])
				fputs(w->line[i], w->out);
		fclose(w->out);
		fclose(w->err);
		fwrite(w->out_buf, 1, w->out_len, stdout);
		fwrite(w->err_buf, 1, w->err_len, stderr);
		exit(w->failed ? 1 : 0);
	case MODE_ABORT:
		curl_multi_perform(m, &running);
		fprintf(w->out, "aborted %d\n", opt.nurls);
		break;
	default:
		break;
	}
	for (int i = 0; i < opt.nurls; i++) {
		curl_multi_remove_handle(m, w->t[i].h);
		fprintf(w->err, "removed %d %ld\n", i, authtap_status(w->t[i].h));
	}
out:
	curl_multi_cleanup(m);
}

static void run_nested_outer(struct worker *w)
{
	struct transfer *t = &w->t[0];

	if (!make_handle(t, 0, opt.urls[0])) {
		w->failed = true;
		return;
	}
	if (opt.mode == MODE_NESTED_MULTI) {
		report(t, "easy", (int)curl_easy_perform(t->h));
		return;
	}
	CURLM *m = curl_multi_init();
	if (!m || curl_multi_add_handle(m, t->h) != CURLM_OK || drive(m, true, true))
		w->failed = true;
	curl_multi_cleanup(m);
}

static void run_reuse(struct worker *w)
{
	struct transfer *t = &w->t[0];
	CURLM *m = curl_multi_init();

	if (!m || !make_handle(t, 0, opt.urls[0]) || curl_multi_add_handle(m, t->h) != CURLM_OK ||
	    drive(m, true, true)) {
		w->failed = true;
		goto out;
	}
	make_handle(t, 1, opt.urls[1]);
	report(t, "easy", (int)curl_easy_perform(t->h));
	make_handle(t, 2, opt.urls[2]);
	if (curl_multi_add_handle(m, t->h) != CURLM_OK || drive(m, true, true))
		w->failed = true;
out:
	curl_multi_cleanup(m);
}

/* Drives m[0] and m[1] in turns until neither runs. */
static int drive_two(CURLM **m)
{
	struct timespec start;
	int running[2] = {1, 1};

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (running[0] || running[1]) {
		for (int k = 0; k < 2; k++)
			if (curl_multi_perform(m[k], &running[k]) != CURLM_OK)
				return -1;
		for (int k = 0; k < 2; k++)
			if (running[k] && curl_multi_poll(m[k], NULL, 0, 10, NULL) != CURLM_OK)
				return -1;
		if (expired(&start))
			return -1;
	}
	return 0;
}

static void run_two(struct worker *w)
{
	CURLM *m[2] = {curl_multi_init(), curl_multi_init()}, *third = NULL;
	int n = opt.nurls;

	if (!m[0] || !m[1] || 2 * n > URLS_MAX) {
		w->failed = true;
		goto out;
	}
	for (int i = 0; i < n; i++)
		if (!make_handle(&w->t[i], i, opt.urls[i]) ||
		    curl_multi_add_handle(m[i % 2], w->t[i].h) != CURLM_OK) {
			w->failed = true;
			goto out;
		}
	if (drive_two(m))
		w->failed = true;
	for (int i = 0; i < n; i++) {
		report(&w->t[i], "multi", -1);
		curl_easy_cleanup(w->t[i].h);
		w->t[i].h = NULL;
	}
	curl_multi_cleanup(m[0]);
	curl_multi_cleanup(m[1]);
	m[0] = m[1] = NULL;
	if (!(third = curl_multi_init())) {
		w->failed = true;
		goto out;
	}
	for (int i = 0; i < n; i++)
		if (!make_handle(&w->t[n + i], n + i, opt.urls[i]) ||
		    curl_multi_add_handle(third, w->t[n + i].h) != CURLM_OK) {
			w->failed = true;
			goto out;
		}
	if (drive(third, true, true))
		w->failed = true;
out:
	curl_multi_cleanup(third);
	curl_multi_cleanup(m[0]);
	curl_multi_cleanup(m[1]);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	switch (opt.mode) {
	case MODE_NESTED:
	case MODE_NESTED_MULTI:
		run_nested_outer(w);
		break;
	case MODE_REUSE:
		run_reuse(w);
		break;
	case MODE_TWO:
		run_two(w);
		break;
	default:
		run_all(w);
	}
	for (int i = 0; i < URLS_MAX; i++)
		if (w->t[i].h)
			curl_easy_cleanup(w->t[i].h);
	for (int i = 0; i < URLS_MAX; i++) {
		if (w->line[i])
			fputs(w->line[i], w->out);
		free(w->line[i]);
	}
	fflush(w->out);
	fflush(w->err);
	return NULL;
}

static void usage(FILE *f)
{
	fputs("usage: multiclient [options] read|noread|abort|nested|nested-multi|reuse|close|\n"
	      "       easy-cleanup|exit|two URL...\n"
	      "  --follow            CURLOPT_FOLLOWLOCATION\n"
	      "  --fail              CURLOPT_FAILONERROR\n"
	      "  --digest USER:PASS  CURLAUTH_DIGEST\n"
	      "  --anyauth USER:PASS CURLAUTH_ANY\n"
	      "  --proxy URL         CURLOPT_PROXY\n"
	      "  --cainfo FILE       CURLOPT_CAINFO\n"
	      "  --insecure          no certificate verification\n"
	      "  --http2             HTTP/2 over TLS (else HTTP/1.1)\n"
	      "  --threads N         N threads, each doing all of it with handles of its own\n",
	      f);
}

static int parse_args(int argc, char **argv)
{
	static const char *const modes[] = {"read",         "noread", "abort",  "nested",
	                                    "nested-multi", "reuse",  "close",  "easy-cleanup",
	                                    "exit",         "two",    "refused"};
	int i;

	for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		const char *o = argv[i], *arg = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(o, "--follow") == 0)
			opt.follow = true;
		else if (strcmp(o, "--fail") == 0)
			opt.fail = true;
		else if (strcmp(o, "--http2") == 0)
			opt.http2 = true;
		else if (strcmp(o, "--insecure") == 0)
			opt.insecure = true;
		else if (!arg)
			return -1;
		else if (strcmp(o, "--digest") == 0 || strcmp(o, "--anyauth") == 0) {
			opt.auth = o[2] == 'd' ? CURLAUTH_DIGEST : CURLAUTH_ANY;
			opt.userpwd = argv[++i];
		} else if (strcmp(o, "--proxy") == 0)
			opt.proxy = argv[++i];
		else if (strcmp(o, "--cainfo") == 0)
			opt.cainfo = argv[++i];
		else if (strcmp(o, "--threads") == 0) {
			opt.threads = strtol(argv[++i], NULL, 10);
			if (opt.threads < 1 || opt.threads > THREADS_MAX)
				return -1;
		} else
			return -1;
	}
	if (i >= argc)
		return -1;
	size_t k;
	for (k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
		if (strcmp(argv[i], modes[k]) == 0)
			break;
	if (k == sizeof(modes) / sizeof(modes[0]))
		return -1;
	opt.mode = (enum mode)k;
	opt.urls = argv + i + 1;
	opt.nurls = argc - i - 1;
	if (opt.nurls < 1 || opt.nurls > URLS_MAX)
		return -1;
	if ((opt.mode == MODE_NESTED || opt.mode == MODE_NESTED_MULTI) && opt.nurls != 2)
		return -1;
	if (opt.mode == MODE_REUSE && opt.nurls != 3)
		return -1;
	return 0;
}

int main(int argc, char **argv)
{
	static struct worker workers[THREADS_MAX];
	int status = 0;

	if (parse_args(argc, argv)) {
		usage(stderr);
		return 2;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fputs("multiclient: curl_global_init failed\n", stderr);
		return 1;
	}
	for (long i = 0; i < opt.threads; i++) {
		struct worker *w = &workers[i];

		w->out = open_memstream(&w->out_buf, &w->out_len);
		w->err = open_memstream(&w->err_buf, &w->err_len);
		if (!w->out || !w->err) {
			fputs("multiclient: out of memory\n", stderr);
			return 1;
		}
		for (int k = 0; k < URLS_MAX; k++)
			w->t[k].w = w;
	}
	if (opt.threads == 1) {
		worker_main(&workers[0]);
	} else {
		for (long i = 0; i < opt.threads; i++)
			if (pthread_create(&workers[i].tid, NULL, worker_main, &workers[i])) {
				fputs("multiclient: pthread_create failed\n", stderr);
				return 1;
			}
		for (long i = 0; i < opt.threads; i++)
			pthread_join(workers[i].tid, NULL);
	}
	for (long i = 0; i < opt.threads; i++) {
		struct worker *w = &workers[i];

		fclose(w->out);
		fclose(w->err);
		if (opt.threads > 1)
			printf("thread %ld\n", i);
		fwrite(w->out_buf, 1, w->out_len, stdout);
		fwrite(w->err_buf, 1, w->err_len, stderr);
		free(w->out_buf);
		free(w->err_buf);
		if (w->failed)
			status = 1;
	}
	curl_global_cleanup();
	return status;
}
