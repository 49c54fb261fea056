/* A protected resource as the Model Context Protocol authorization flow
 * expects one (MCP 2025-06-18, RFC 9728, RFC 6750):
 *
 *   POST /mcp without a token     401  WWW-Authenticate: Bearer
 *                                        resource_metadata="<self>/.well-known/oauth-protected-resource",
 *                                        scope="mcp:tools"
 *   POST /mcp, unknown token      401  ... error="invalid_token"
 *   POST /mcp, demo-token-noscope 403  ... error="insufficient_scope"
 *   POST /mcp, demo-token         200  a JSON-RPC result
 *   GET  /.well-known/oauth-protected-resource   the RFC 9728 metadata
 *
 * The tokens are fixed strings for the demo: "demo-token" carries the scope
 * mcp:tools, "demo-token-noscope" is valid but lacks it.  No authorization
 * server runs; the metadata names a placeholder one, where a real client
 * would go next. */
#include "server.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEMO_TOKEN "demo-token"
#define DEMO_TOKEN_NOSCOPE "demo-token-noscope"
#define SCOPE "mcp:tools"
#define AUTH_SERVER "https://auth.example.com"
#define MCP_VERSION "2025-06-18"

enum token {
	TOKEN_NONE,
	TOKEN_INVALID,
	TOKEN_NOSCOPE,
	TOKEN_OK,
};

static enum token check_token(struct MHD_Connection *conn)
{
	const char *v;

	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!v)
		return TOKEN_NONE;
	/* RFC 6750 §2.1: "Bearer" is case-insensitive, then one or more SP. */
	if (strncasecmp(v, "Bearer ", 7) != 0)
		return TOKEN_NONE;
	v += 7;
	v += strspn(v, " ");
	if (strcmp(v, DEMO_TOKEN) == 0)
		return TOKEN_OK;
	if (strcmp(v, DEMO_TOKEN_NOSCOPE) == 0)
		return TOKEN_NOSCOPE;
	return TOKEN_INVALID;
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, unsigned status, json_t *doc)
{
	enum MHD_Result ret = MHD_NO;
	char *s;

	s = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	if (s)
		ret = server_reply(conn, status, "application/json", s);
	free(s);
	json_decref(doc);
	return ret;
}

/* error is NULL when the request carried no credentials (RFC 6750 §3.1:
 * then the challenge SHOULD NOT name an error). */
static enum MHD_Result challenge(const struct server *s, struct MHD_Connection *conn,
				 unsigned status, const char *error)
{
	struct MHD_Response *r;
	char value[512];
	char body[128];

	if (error)
		snprintf(value, sizeof(value),
			 "Bearer resource_metadata=\"%s" PRM_PATH "\", scope=\"" SCOPE
			 "\", error=\"%s\"",
			 s->self, error);
	else
		snprintf(value, sizeof(value),
			 "Bearer resource_metadata=\"%s" PRM_PATH "\", scope=\"" SCOPE "\"",
			 s->self);
	snprintf(body, sizeof(body), "{\"error\":\"%s\"}\n", error ? error : "unauthorized");

	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	if (MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, value) != MHD_YES ||
	    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") != MHD_YES) {
		MHD_destroy_response(r);
		return MHD_NO;
	}
	return server_queue(conn, status, r);
}

static json_t *rpc_result(const char *method)
{
	if (strcmp(method, "initialize") == 0)
		return json_pack("{s:s, s:{s:{}}, s:{s:s, s:s}}", "protocolVersion", MCP_VERSION,
				 "capabilities", "tools", "serverInfo", "name",
				 "authtap-demo-upstream", "version", "0.1.0");
	if (strcmp(method, "tools/list") == 0)
		return json_pack("{s:[{s:s, s:s, s:{s:s}}]}", "tools", "name", "echo",
				 "description", "Echoes its input", "inputSchema", "type",
				 "object");
	if (strcmp(method, "ping") == 0)
		return json_object();
	return NULL;
}

/* Just enough JSON-RPC for a client to see that the token worked. */
static enum MHD_Result jsonrpc(struct MHD_Connection *conn, const char *body, size_t len)
{
	json_t *req, *id, *result;
	const char *method;
	json_t *resp;

	req = json_loadb(body, len, 0, NULL);
	if (!json_is_object(req) || json_unpack(req, "{s:s}", "method", &method) != 0) {
		json_decref(req);
		return reply_json(conn, MHD_HTTP_BAD_REQUEST,
				  json_pack("{s:s, s:n, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
					    "error", "code", -32700, "message", "Parse error"));
	}
	id = json_object_get(req, "id");
	if (!id) {
		/* A notification: nothing to answer. */
		json_decref(req);
		return server_reply(conn, MHD_HTTP_ACCEPTED, NULL, "");
	}
	result = rpc_result(method);
	if (result)
		resp = json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id, "result", result);
	else
		resp = json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id, "error",
				 "code", -32601, "message", "Method not found");
	json_decref(req);
	return reply_json(conn, MHD_HTTP_OK, resp);
}

/* RFC 9728 §2.  resource is our own URL: the one a client inserts the
 * well-known suffix into, which §3.3 requires it to compare. */
static enum MHD_Result metadata(const struct server *s, struct MHD_Connection *conn)
{
	return reply_json(conn, MHD_HTTP_OK,
			  json_pack("{s:s, s:[s], s:[s], s:[s], s:s}", "resource", s->self,
				    "authorization_servers", AUTH_SERVER, "scopes_supported",
				    SCOPE, "bearer_methods_supported", "header", "resource_name",
				    "authtap demo MCP server"));
}

static enum MHD_Result not_allowed(struct MHD_Connection *conn, const char *allow)
{
	struct MHD_Response *r;

	r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	return server_queue(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
}

static enum MHD_Result on_request(void *arg, const struct server_request *req)
{
	const struct server *s = arg;

	if (strcmp(req->path, PRM_PATH) == 0) {
		if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0)
			return not_allowed(req->conn, "GET, HEAD");
		return metadata(s, req->conn);
	}
	if (strcmp(req->path, "/mcp") != 0)
		return server_reply(req->conn, MHD_HTTP_NOT_FOUND, "text/plain", "not found\n");
	if (strcmp(req->method, "POST") != 0)
		return not_allowed(req->conn, "POST");

	switch (check_token(req->conn)) {
	case TOKEN_NONE:
		return challenge(s, req->conn, MHD_HTTP_UNAUTHORIZED, NULL);
	case TOKEN_INVALID:
		return challenge(s, req->conn, MHD_HTTP_UNAUTHORIZED, "invalid_token");
	case TOKEN_NOSCOPE:
		return challenge(s, req->conn, MHD_HTTP_FORBIDDEN, "insufficient_scope");
	case TOKEN_OK:
		break;
	}
	return jsonrpc(req->conn, req->body, req->body_len);
}

int main(int argc, char **argv)
{
	struct server s = {
		.name = "upstream",
		.handler = on_request,
	};

	s.arg = &s;
	if (server_args(&s, argc, argv, false) != 0)
		return 2;
	if (server_start(&s) != 0)
		return 1;
	server_wait(&s);
	server_stop(&s);
	return 0;
}
