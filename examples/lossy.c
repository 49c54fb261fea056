/* lossy-proxy: relays the upstream's status and body, and nothing else of
 * its headers.  A 401 reaches the client without its WWW-Authenticate, so
 * an MCP client cannot discover where to authorize.  This is the bug; see
 * fixed.c for the fix. */
#include "proxy.h"

struct MHD_Response *proxy_respond(const struct proxy *p, const char *path,
				   struct fwd_response *res)
{
	struct MHD_Response *r;

	(void)p;
	(void)path;
	r = MHD_create_response_from_buffer(res->body_len, res->body, MHD_RESPMEM_MUST_COPY);
	if (r && res->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
	return r;
}
