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

size_t url_redact(const char *url, char *dst, size_t size, bool keep_query)
{
	/* A "://" counts only before the first '/', '?', '#' or '@': one
	 * in the query ("h/login?next=http://x") is no scheme. */
	const char *scheme_end = strstr(url, "://");
	if (scheme_end && (size_t)(scheme_end - url) > strcspn(url, "/?#@"))
		scheme_end = NULL;
	const char *authority = scheme_end ? scheme_end + 3 : url;
	size_t at = 0;

	at = put(dst, size, at, url, (size_t)(authority - url));

	/* The authority ends at the first '/', '?' or '#'; userinfo is what
	 * comes before its last '@'. */
	size_t alen = strcspn(authority, "/?#");
	const char *host = authority;
	for (size_t i = 0; i < alen; i++)
		if (authority[i] == '@')
			host = authority + i + 1;
	at = put(dst, size, at, host, (size_t)(authority + alen - host));

	const char *path = authority + alen;
	at = put(dst, size, at, path, keep_query ? strlen(path) : strcspn(path, "?#"));
	if (size)
		dst[at < size ? at : size - 1] = '\0';
	return at;
}
