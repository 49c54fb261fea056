/* An unmodified libcurl program for authtap's differential tests.
 *
 *   client [options] URL [URL...]
 *
 * It links libcurl and nothing of authtap, performs one transfer per URL on
 * one reused easy handle, and prints everything it observed as lines that do
 * not depend on time or on the server's port.  The tests run it with and
 * without the preload and compare the outputs byte for byte:
 *
 *   transfer 0 result=0 status=401 connectcode=0 http_version=1.1 method=GET ...
 *   header 0 HTTP/1.1 401 Unauthorized
 *   body 0 756e617574686f72697a65640a
 *   errbuf 0 The requested URL returned error: 401
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <curl/curl.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS_MAX 256
#define PORTS_MAX 16
#define UPLOAD_MAX (1LL << 32)

struct buf {
	char *data;
	size_t len;
	size_t cap;
	bool oom;
};

static struct {
	long repeat;
	bool cleanup_each;
	bool follow;
	bool fail;
	bool head;
	bool header_in_body;
	bool dup;
	bool quiet;
	long long upload_bytes; /* -1 when not uploading */
	const char *post;
	unsigned long auth;
	const char *userpwd;
	long timeout_ms;
	const char *proxy;
	const char *bearer;
	long threads; /* 0: no --threads, output streams as it comes */
	char **urls;
	int nurls;
} opt = {.repeat = 1, .upload_bytes = -1};

/* Read-only once the transfers start. */
static struct curl_slist *extra_headers;
static char ports[PORTS_MAX][8];
static int nports;

/* What the callbacks saw during one transfer. */
struct record {
	unsigned int index;
	struct buf headers; /* finished "header N ..." lines */
	struct buf body;    /* raw bytes */
	long long upload_pos;
};

struct worker {
	pthread_t tid;
	bool started;
	struct buf out;
	struct record rec;
	char errbuf[CURL_ERROR_SIZE];
	bool failed;
};

static void buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->oom || n == 0)
		return;
	if (n > b->cap - b->len) {
		size_t cap = b->cap ? b->cap : 256;
		char *d;

		while (cap - b->len < n) {
			if (cap > SIZE_MAX / 2) {
				b->oom = true;
				return;
			}
			cap *= 2;
		}
		d = realloc(b->data, cap);
		if (!d) {
			b->oom = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

static void buf_str(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

__attribute__((format(printf, 2, 3))) static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	/* Only short, fixed formats come here. */
	if (n < 0 || (size_t)n >= sizeof(small))
		b->oom = true;
	else
		buf_add(b, small, (size_t)n);
}

static void buf_free(struct buf *b)
{
	free(b->data);
	*b = (struct buf){0};
}

/* Whether [p, p + n) is one of the ports named in the URLs or the proxy. */
static bool is_port(const char *p, size_t n)
{
	for (int i = 0; i < nports; i++)
		if (strlen(ports[i]) == n && memcmp(ports[i], p, n) == 0)
			return true;
	return false;
}

static bool followed_by(const char *p, const char *end, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

static bool preceded_by(const char *start, const char *p, const char *s)
{
	size_t n = strlen(s);

	return (size_t)(p - start) >= n && memcmp(p - n, s, n) == 0;
}

/* Copies bytes, replacing by PORT each whole decimal run that equals a known
 * port and follows ":" or "port ", and, with times set, by N each run that
 * counts milliseconds:
 *
 *   Failed to connect to 127.0.0.1 port 45123 after 0 ms: Couldn't connect
 *   Operation timed out after 1001 milliseconds with 0 bytes received */
static void put_masked(struct buf *dst, const char *p, size_t n, bool times)
{
	const char *start = p, *end = p + n;

	while (p < end) {
		const char *q = p;

		if (!isdigit((unsigned char)*p)) {
			while (q < end && !isdigit((unsigned char)*q))
				q++;
			buf_add(dst, p, (size_t)(q - p));
			p = q;
			continue;
		}
		while (q < end && isdigit((unsigned char)*q))
			q++;
		if (is_port(p, (size_t)(q - p)) &&
		    (preceded_by(start, p, ":") || preceded_by(start, p, "port ")))
			buf_str(dst, "PORT");
		else if (times &&
		         (followed_by(q, end, " ms") || followed_by(q, end, " milliseconds")))
			buf_str(dst, "N");
		else
			buf_add(dst, p, (size_t)(q - p));
		p = q;
	}
}

/* Printable ASCII goes out as is, every other byte and the backslash as \xHH,
 * so that each observation stays on one line and reads back unambiguously. */
static void put_escaped(struct buf *dst, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			buf_add(dst, &p[i], 1);
		else
			buf_fmt(dst, "\\x%02x", c);
	}
}

static void put_hex(struct buf *dst, const char *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		char pair[2] = {digits[(unsigned char)p[i] >> 4], digits[p[i] & 0xf]};

		buf_add(dst, pair, 2);
	}
}

/* Masks, then escapes; one line's worth of a header, URL or error text. */
static void put_clean(struct buf *dst, const char *p, size_t n, bool times)
{
	struct buf tmp = {0};

	put_masked(&tmp, p, n, times);
	if (tmp.oom)
		dst->oom = true;
	else
		put_escaped(dst, tmp.data, tmp.len);
	buf_free(&tmp);
}

static size_t on_write(char *p, size_t size, size_t n, void *ud)
{
	struct record *rec = ud;

	buf_add(&rec->body, p, size * n);
	return rec->body.oom ? 0 : size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
	struct record *rec = ud;
	size_t len = size * n;

	if (len > 0 && p[len - 1] == '\n')
		len--;
	if (len > 0 && p[len - 1] == '\r')
		len--;
	buf_fmt(&rec->headers, "header %u ", rec->index);
	put_clean(&rec->headers, p, len, false);
	buf_str(&rec->headers, "\n");
	return rec->headers.oom ? 0 : size * n;
}

/* The upload is a-z repeated, the same bytes whatever the rewinds. */
static size_t on_read(char *dst, size_t size, size_t n, void *ud)
{
	struct record *rec = ud;
	long long left = opt.upload_bytes - rec->upload_pos;
	size_t take = size * n;

	if (left < 0)
		left = 0;
	if ((unsigned long long)left < take)
		take = (size_t)left;
	for (size_t i = 0; i < take; i++)
		dst[i] = (char)('a' + (rec->upload_pos + (long long)i) % 26);
	rec->upload_pos += (long long)take;
	return take;
}

/* libcurl rewinds the upload when it must send it again, as after a 401. */
static int on_seek(void *ud, curl_off_t off, int origin)
{
	struct record *rec = ud;

	if (origin != SEEK_SET || off < 0 || off > opt.upload_bytes)
		return CURL_SEEKFUNC_CANTSEEK;
	rec->upload_pos = off;
	return CURL_SEEKFUNC_OK;
}

/* Everything but the per-transfer pointers, which bind_record() sets. */
static void setup(CURL *h)
{
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	/* An empty proxy also keeps http_proxy and friends out of the test. */
	curl_easy_setopt(h, CURLOPT_PROXY, opt.proxy ? opt.proxy : "");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, opt.follow ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, opt.fail ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_NOBODY, opt.head ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_HEADER, opt.header_in_body ? 1L : 0L);
	if (opt.post)
		curl_easy_setopt(h, CURLOPT_COPYPOSTFIELDS, opt.post);
	if (opt.upload_bytes >= 0) {
		curl_easy_setopt(h, CURLOPT_POST, 1L);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)opt.upload_bytes);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
	}
	if (opt.userpwd) {
		curl_easy_setopt(h, CURLOPT_HTTPAUTH, opt.auth);
		curl_easy_setopt(h, CURLOPT_USERPWD, opt.userpwd);
	}
	if (opt.timeout_ms > 0)
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, opt.timeout_ms);
	if (extra_headers)
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, extra_headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
}

static void bind_record(CURL *h, struct worker *w)
{
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &w->rec);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, &w->rec);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, w->errbuf);
	if (opt.upload_bytes >= 0) {
		curl_easy_setopt(h, CURLOPT_READDATA, &w->rec);
		curl_easy_setopt(h, CURLOPT_SEEKDATA, &w->rec);
	}
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
	case CURL_HTTP_VERSION_3:
		return "3";
	default:
		return "none";
	}
}

static void put_info_str(struct buf *dst, CURL *h, CURLINFO what, const char *key)
{
	char *s = NULL;

	buf_fmt(dst, " %s=", key);
	if (curl_easy_getinfo(h, what, &s) == CURLE_OK && s)
		put_clean(dst, s, strlen(s), false);
	else
		buf_str(dst, "-");
}

static long info_long(CURL *h, CURLINFO what)
{
	long v = 0;

	curl_easy_getinfo(h, what, &v);
	return v;
}

/* Timings and connection counts are left out: they differ run to run. */
static void report(struct worker *w, CURL *h, CURLcode rc)
{
	struct record *rec = &w->rec;
	struct buf *out = &w->out;
	curl_off_t size = 0;

	curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &size);
	buf_fmt(out, "transfer %u result=%d status=%ld connectcode=%ld http_version=%s", rec->index,
	        (int)rc, info_long(h, CURLINFO_RESPONSE_CODE),
	        info_long(h, CURLINFO_HTTP_CONNECTCODE),
	        version_name(info_long(h, CURLINFO_HTTP_VERSION)));
	put_info_str(out, h, CURLINFO_EFFECTIVE_METHOD, "method");
	put_info_str(out, h, CURLINFO_CONTENT_TYPE, "content_type");
	buf_fmt(out, " redirects=%ld size_download=%" CURL_FORMAT_CURL_OFF_T,
	        info_long(h, CURLINFO_REDIRECT_COUNT), size);
	buf_fmt(out, " header_size=%ld request_size=%ld", info_long(h, CURLINFO_HEADER_SIZE),
	        info_long(h, CURLINFO_REQUEST_SIZE));
	put_info_str(out, h, CURLINFO_EFFECTIVE_URL, "url");
	buf_str(out, "\n");
	if (opt.quiet)
		return;
	buf_add(out, rec->headers.data, rec->headers.len);
	if (rec->headers.oom)
		buf_fmt(out, "header %u <out of memory>\n", rec->index);
	buf_fmt(out, "body %u ", rec->index);
	if (rec->body.oom) {
		buf_str(out, "<out of memory>");
	} else {
		struct buf masked = {0};

		put_masked(&masked, rec->body.data, rec->body.len, false);
		put_hex(out, masked.data, masked.len);
		if (masked.oom)
			out->oom = true;
		buf_free(&masked);
	}
	buf_str(out, "\n");
	if (w->errbuf[0]) {
		buf_fmt(out, "errbuf %u ", rec->index);
		put_clean(out, w->errbuf, strnlen(w->errbuf, sizeof(w->errbuf)), true);
		buf_str(out, "\n");
	}
}

/* In the single-threaded mode each transfer's lines go out at once, so that
 * a crash under the preload still shows how far the program got. */
static void flush_out(struct worker *w)
{
	if (opt.threads)
		return;
	if (w->out.oom)
		fputs("client: out of memory\n", stdout);
	else
		fwrite(w->out.data ? w->out.data : "", 1, w->out.len, stdout);
	fflush(stdout);
	buf_free(&w->out);
}

static void run(struct worker *w, CURL *h, const char *url, unsigned int index)
{
	CURLcode rc;

	buf_free(&w->rec.headers);
	buf_free(&w->rec.body);
	w->rec = (struct record){.index = index};
	w->errbuf[0] = '\0';
	if (url)
		curl_easy_setopt(h, CURLOPT_URL, url);
	bind_record(h, w);
	rc = curl_easy_perform(h);
	if (rc != CURLE_OK)
		w->failed = true;
	report(w, h, rc);
	flush_out(w);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	unsigned int index = 0;
	CURL *h = NULL;

	for (long r = 0; r < opt.repeat; r++) {
		for (int u = 0; u < opt.nurls; u++) {
			if (h && opt.cleanup_each) {
				curl_easy_cleanup(h);
				h = NULL;
			}
			if (!h) {
				h = curl_easy_init();
				if (!h)
					goto failed;
				setup(h);
			}
			run(w, h, opt.urls[u], index++);
		}
	}
	if (opt.dup) {
		CURL *d = curl_easy_duphandle(h);

		if (!d)
			goto failed;
		run(w, d, NULL, index++);
		curl_easy_cleanup(d);
	}
	curl_easy_cleanup(h);
	buf_free(&w->rec.headers);
	buf_free(&w->rec.body);
	return NULL;
failed:
	buf_fmt(&w->out, "transfer %u handle=failed\n", index);
	flush_out(w);
	w->failed = true;
	if (h)
		curl_easy_cleanup(h);
	buf_free(&w->rec.headers);
	buf_free(&w->rec.body);
	return NULL;
}

/* Remembers the explicit port of a URL so that the output can mask it. */
static void note_port(const char *url)
{
	CURLU *u = curl_url();
	char *port = NULL;

	if (!u)
		return;
	if (curl_url_set(u, CURLUPART_URL, url, CURLU_GUESS_SCHEME) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && nports < PORTS_MAX &&
	    strlen(port) < sizeof(ports[0]))
		strcpy(ports[nports++], port);
	curl_free(port);
	curl_url_cleanup(u);
}

static void usage(FILE *f)
{
	fputs("usage: client [options] URL [URL...]\n"
	      "  --repeat N          do the URL list N times\n"
	      "  --cleanup-each      a new easy handle for every transfer\n"
	      "  --follow            CURLOPT_FOLLOWLOCATION\n"
	      "  --fail              CURLOPT_FAILONERROR\n"
	      "  --head              CURLOPT_NOBODY\n"
	      "  --upload-bytes N    POST N bytes through a read callback\n"
	      "  --post DATA         POST DATA (CURLOPT_COPYPOSTFIELDS)\n"
	      "  --digest USER:PASS  CURLAUTH_DIGEST\n"
	      "  --anyauth USER:PASS CURLAUTH_ANY\n"
	      "  --basic USER:PASS   CURLAUTH_BASIC\n"
	      "  --header-in-body    CURLOPT_HEADER\n"
	      "  --timeout-ms N      CURLOPT_TIMEOUT_MS\n"
	      "  --proxy URL         CURLOPT_PROXY\n"
	      "  --bearer TOKEN      send Authorization: Bearer TOKEN\n"
	      "  --threads N         N threads, each on its own handle\n"
	      "  --dup               one more transfer on curl_easy_duphandle()\n"
	      "  --quiet             print only the transfer lines\n",
	      f);
}

static bool parse_num(const char *s, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* Returns 0, or the exit status for a bad command line. */
static int parse_args(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] == '-'; i++) {
		const char *o = argv[i];
		const char *arg = i + 1 < argc ? argv[i + 1] : NULL;
		bool takes = true;
		long long v;

		if (strcmp(o, "--") == 0) {
			i++;
			break;
		} else if (strcmp(o, "--help") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(o, "--cleanup-each") == 0) {
			opt.cleanup_each = true;
			takes = false;
		} else if (strcmp(o, "--follow") == 0) {
			opt.follow = true;
			takes = false;
		} else if (strcmp(o, "--fail") == 0) {
			opt.fail = true;
			takes = false;
		} else if (strcmp(o, "--head") == 0) {
			opt.head = true;
			takes = false;
		} else if (strcmp(o, "--header-in-body") == 0) {
			opt.header_in_body = true;
			takes = false;
		} else if (strcmp(o, "--dup") == 0) {
			opt.dup = true;
			takes = false;
		} else if (strcmp(o, "--quiet") == 0) {
			opt.quiet = true;
			takes = false;
		} else if (!arg) {
			goto bad;
		} else if (strcmp(o, "--repeat") == 0) {
			if (!parse_num(arg, 1, 100000, &v))
				goto bad;
			opt.repeat = (long)v;
		} else if (strcmp(o, "--upload-bytes") == 0) {
			if (!parse_num(arg, 0, UPLOAD_MAX, &v))
				goto bad;
			opt.upload_bytes = v;
		} else if (strcmp(o, "--timeout-ms") == 0) {
			if (!parse_num(arg, 1, LONG_MAX, &v))
				goto bad;
			opt.timeout_ms = (long)v;
		} else if (strcmp(o, "--threads") == 0) {
			if (!parse_num(arg, 1, THREADS_MAX, &v))
				goto bad;
			opt.threads = (long)v;
		} else if (strcmp(o, "--post") == 0) {
			opt.post = arg;
		} else if (strcmp(o, "--digest") == 0) {
			opt.auth = CURLAUTH_DIGEST;
			opt.userpwd = arg;
		} else if (strcmp(o, "--anyauth") == 0) {
			opt.auth = CURLAUTH_ANY;
			opt.userpwd = arg;
		} else if (strcmp(o, "--basic") == 0) {
			opt.auth = CURLAUTH_BASIC;
			opt.userpwd = arg;
		} else if (strcmp(o, "--proxy") == 0) {
			opt.proxy = arg;
		} else if (strcmp(o, "--bearer") == 0) {
			opt.bearer = arg;
		} else {
			goto bad;
		}
		if (takes)
			i++;
	}
	if (i >= argc || (opt.post && opt.upload_bytes >= 0))
		goto bad;
	opt.urls = argv + i;
	opt.nurls = argc - i;
	return 0;
bad:
	usage(stderr);
	return 2;
}

int main(int argc, char **argv)
{
	struct worker *workers;
	long n;
	int status = 0;

	if (parse_args(argc, argv))
		return 2;
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fputs("client: curl_global_init failed\n", stderr);
		return 1;
	}
	for (int i = 0; i < opt.nurls; i++)
		note_port(opt.urls[i]);
	if (opt.proxy)
		note_port(opt.proxy);
	if (opt.bearer) {
		struct buf line = {0};

		buf_str(&line, "Authorization: Bearer ");
		buf_str(&line, opt.bearer);
		buf_add(&line, "", 1);
		if (!line.oom)
			extra_headers = curl_slist_append(NULL, line.data);
		buf_free(&line);
		if (!extra_headers) {
			fputs("client: out of memory\n", stderr);
			curl_global_cleanup();
			return 1;
		}
	}

	n = opt.threads ? opt.threads : 1;
	workers = calloc((size_t)n, sizeof(*workers));
	if (!workers) {
		fputs("client: out of memory\n", stderr);
		curl_slist_free_all(extra_headers);
		curl_global_cleanup();
		return 1;
	}
	if (!opt.threads) {
		worker_main(&workers[0]);
	} else {
		for (long t = 0; t < n; t++) {
			if (pthread_create(&workers[t].tid, NULL, worker_main, &workers[t]) == 0)
				workers[t].started = true;
			else
				workers[t].failed = true;
		}
		for (long t = 0; t < n; t++) {
			printf("thread %ld\n", t);
			if (!workers[t].started) {
				fputs("client: pthread_create failed\n", stdout);
				continue;
			}
			pthread_join(workers[t].tid, NULL);
			if (workers[t].out.oom)
				fputs("client: out of memory\n", stdout);
			else
				fwrite(workers[t].out.data ? workers[t].out.data : "", 1,
				       workers[t].out.len, stdout);
		}
		fflush(stdout);
	}
	for (long t = 0; t < n; t++) {
		if (workers[t].failed)
			status = 1;
		buf_free(&workers[t].out);
	}
	free(workers);
	curl_slist_free_all(extra_headers);
	curl_global_cleanup();
	return status;
}
