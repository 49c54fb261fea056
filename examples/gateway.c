/* gateway-proxy: hides every upstream error behind a 502 Bad Gateway, as
 * some API gateways do.  The client learns nothing of the 401 or its
 * challenge: authtap's verdict calls that "converted". */
#include "proxy.h"

struct MHD_Response *proxy_respond(const struct proxy *p, const char *path,
				   struct fwd_response *res)
{
	struct MHD_Response *r;

	(void)p;
	(void)path;
	/* NULL makes proxy.c answer 502. */
	if (res->status >= 400)
		return NULL;
	r = MHD_create_response_from_buffer(res->body_len, res->body, MHD_RESPMEM_MUST_COPY);
	if (r && res->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
	return r;
}
