/* What a reverse proxy in front of an MCP server must rewrite so that a
 * client can still authorize through it.  The client only ever sees the
 * proxy, and RFC 9728 §3.3 makes it check that the metadata's "resource"
 * equals the URL it used: forwarding the upstream's challenge byte for byte
 * would send it to a document naming another resource, which it rejects. */
#ifndef EXAMPLES_REWRITE_H
#define EXAMPLES_REWRITE_H

#include <microhttpd.h>

#include "forward.h"

/* A copy of one WWW-Authenticate value with every resource_metadata
 * parameter's value replaced by url, quoted; the rest is kept as sent.
 * NULL when out of memory.
 *
 *   Bearer resource_metadata="http://127.0.0.1:8001/.well-known/oauth-protected-resource", scope="mcp:tools"
 */
char *rewrite_challenge(const char *value, const char *url);

/* Adds to r every WWW-Authenticate header of the final response on easy,
 * with resource_metadata pointing at self's own metadata, and when there
 * was one, Access-Control-Expose-Headers so that a browser client may read
 * it.  Returns -1 on failure. */
int rewrite_challenges(struct MHD_Response *r, CURL *easy, const char *self);

/* When res answers a request for our /.well-known/oauth-protected-resource
 * with a 200, replaces the "resource" of that RFC 9728 document with self.
 * Returns -1 when the body is not a JSON object. */
int rewrite_metadata(struct fwd_response *res, const char *path, const char *self);

#endif
