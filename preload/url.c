#include "url.h"

#include <string.h>

static size_t put(char *dst, size_t size, size_t at, const char *s, size_t len)
{
	if (at < size) {
		size_t room = size - 1 - at;
		memcpy(dst + at, s, len < room ? len : room);
	}
	return at + len;
}

/* One pass over the URL, with libc's vectorised scans: it is redacted
 * for every recorded transfer. */
size_t url_redact(const char *url, char *dst, size_t size, bool keep_query)
{
	/* A "://" counts only before the first '/', '?', '#' or '@': one
	 * in the query ("h/login?next=http://x") is no scheme. */
	const char *p = url;
	for (;;) {
		p += strcspn(p, ":/?#@");
		if (*p != ':' || (p[1] == '/' && p[2] == '/'))
			break;
		p++;
	}
	const char *authority = *p == ':' ? p + 3 : url;
	size_t at = put(dst, size, 0, url, (size_t)(authority - url));

	/* The authority ends at the first '/', '?' or '#'; userinfo is what
	 * comes before its last '@'. */
	const char *end = authority + strcspn(authority, "/?#"), *host = authority;
	for (const char *a; (a = memchr(host, '@', (size_t)(end - host))) != NULL;)
		host = a + 1;
	at = put(dst, size, at, host, (size_t)(end - host));

	const char *path = end;
	p = path + (keep_query ? strlen(path) : strcspn(path, "?#"));
	at = put(dst, size, at, path, (size_t)(p - path));
	if (size)
		dst[at < size ? at : size - 1] = '\0';
	return at;
}
