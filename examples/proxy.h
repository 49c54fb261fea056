/* The reverse proxy shared by lossy-proxy and fixed-proxy: every request is
 * forwarded to the upstream with forward.c; what goes back to the client is
 * up to proxy_respond(), which each proxy defines in its own file (lossy.c,
 * fixed.c) so that the fix reads as a small diff. */
#ifndef EXAMPLES_PROXY_H
#define EXAMPLES_PROXY_H

#include <microhttpd.h>

#include "forward.h"

struct proxy {
	const char *upstream; /* base URL, no trailing slash */
	const char *self;     /* our own URL, http://127.0.0.1:PORT */
	const char *name;     /* prefix of messages */
};

/* The response for the client, from the upstream's res to a request for
 * path; NULL makes it a 502.  The status is res->status. */
struct MHD_Response *proxy_respond(const struct proxy *p, const char *path,
				   struct fwd_response *res);

#endif
