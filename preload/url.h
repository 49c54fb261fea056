/* URL redaction: what the log may say about the request. */
#ifndef AUTHTAP_URL_H
#define AUTHTAP_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Copies url to dst without userinfo, query or fragment, snprintf-style:
 *   http://user:secret@host:8080/a/b?token=x#f  ->  http://host:8080/a/b
 * keep_query keeps query and fragment (never the userinfo, which holds a
 * password).  Returns the full length of the result. */
size_t url_redact(const char *url, char *dst, size_t size, bool keep_query);

#endif
