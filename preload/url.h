/* URL redaction: what the log may say about the request. */
#ifndef AUTHTAP_URL_H
#define AUTHTAP_URL_H

#include <stddef.h>

/* Copies url to dst without userinfo, query or fragment, snprintf-style:
 *   http://user:secret@host:8080/a/b?token=x#f  ->  http://host:8080/a/b
 * Returns the full length of the redacted URL. */
size_t url_redact(const char *url, char *dst, size_t size);

#endif
