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

/* One pass over the URL: it is redacted for every recorded transfer. */
size_t url_redact(const char *url, char *dst, size_t size, bool keep_query)
{
	/* A "://" counts only before the first '/', '?', '#' or '@': one
	 * in the query ("h/login?next=http://x") is no scheme. */
	const char *p = url;
	while (*p && *p != '/' && *p != '?' && *p != '#' && *p != '@' &&
	       !(p[0] == ':' && p[1] == '/' && p[2] == '/'))
		p++;
	const char *authority = *p == ':' ? p + 3 : url;
	size_t at = put(dst, size, 0, url, (size_t)(authority - url));

	/* The authority ends at the first '/', '?' or '#'; userinfo is what
	 * comes before its last '@'. */
	const char *host = authority;
	for (p = authority; *p && *p != '/' && *p != '?' && *p != '#'; p++)
		if (*p == '@')
			host = p + 1;
	at = put(dst, size, at, host, (size_t)(p - host));

	const char *path = p;
	if (keep_query)
		p += strlen(p);
	else
		while (*p && *p != '?' && *p != '#')
			p++;
	at = put(dst, size, at, path, (size_t)(p - path));
	if (size)
		dst[at < size ? at : size - 1] = '\0';
	return at;
}
