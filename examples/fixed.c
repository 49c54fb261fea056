/* fixed-proxy: relays the upstream's status and body, and its challenge,
 * rewritten to point at this proxy, which serves the metadata it points
 * to (rewrite.h says why a byte-exact copy would not do). */
#include "proxy.h"
#include "rewrite.h"

struct MHD_Response *proxy_respond(const struct proxy *p, const char *path,
				   struct fwd_response *res)
{
	struct MHD_Response *r;

	/* FIX: our metadata document names us as the resource. */
	if (rewrite_metadata(res, path, p->self) != 0)
		return NULL;
	r = MHD_create_response_from_buffer(res->body_len, res->body, MHD_RESPMEM_MUST_COPY);
	if (r && res->content_type)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, res->content_type);
	/* FIX: relay the challenge, pointing at our metadata. */
	if (r && rewrite_challenges(r, res->easy, p->self) != 0) {
		MHD_destroy_response(r);
		r = NULL;
	}
	return r;
}
