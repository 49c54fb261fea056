/* The HTTP server side shared by the example programs: libmicrohttpd on
 * 127.0.0.1, one thread per connection, the request body collected before
 * the handler runs, and a clean stop on SIGINT or SIGTERM.
 *
 *   upstream [PORT]
 *   lossy-proxy --upstream URL [PORT]
 *
 * PORT 0 (the default) picks a free port; either way the program prints
 * "listening http://127.0.0.1:PORT" on stdout once it accepts connections. */
#ifndef EXAMPLES_SERVER_H
#define EXAMPLES_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <microhttpd.h>

/* RFC 9728 §3: where a protected resource serves its metadata. */
#define PRM_PATH "/.well-known/oauth-protected-resource"

struct server_request {
	struct MHD_Connection *conn;
	const char *method;
	const char *path;   /* decoded, without the query */
	const char *target; /* as sent: path and query */
	const char *body;   /* NUL-terminated for convenience */
	size_t body_len;
};

/* Answers one complete request; returns what MHD_queue_response() did. */
typedef enum MHD_Result (*server_handler)(void *arg, const struct server_request *req);

struct server {
	const char *name; /* prefix of messages */
	uint16_t port;
	const char *upstream; /* --upstream URL, NULL when not given */
	char self[64];        /* http://127.0.0.1:PORT, filled by server_start() */
	server_handler handler;
	void *arg;
	struct MHD_Daemon *daemon;
};

/* Fills s->port and s->upstream from the command line; prints usage and
 * returns -1 on a bad one. */
int server_args(struct server *s, int argc, char **argv, bool want_upstream);

/* Blocks SIGINT and SIGTERM (the daemon's threads inherit that, so only
 * server_wait() sees them), starts the daemon and prints the URL. */
int server_start(struct server *s);

/* Returns on SIGINT or SIGTERM. */
void server_wait(struct server *s);

void server_stop(struct server *s);

/* Queues r with status and destroys the caller's reference. */
enum MHD_Result server_queue(struct MHD_Connection *conn, unsigned status, struct MHD_Response *r);

/* Queues a copy of body with status and Content-Type type. */
enum MHD_Result server_reply(struct MHD_Connection *conn, unsigned status, const char *type,
			     const char *body);

#endif
