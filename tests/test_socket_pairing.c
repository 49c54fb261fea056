/* Pairing the socket source's responses under concurrency (issue 13): a
 * Node reverse proxy (node:http + fetch, one thread for every client)
 * reads several requests before it writes the upstream requests they lead
 * to.  Each upstream 401 must be paired with the client it was made for or
 * read "ambiguous", never held against another client's 200.  The clients
 * are the curl command, run without the preload; only the proxy runs
 * under it, and once without it as the control. */
#include <criterion/criterion.h>

#include "tracing.h"

#define NODE "/usr/bin/node"
#define SOCK_PROXY TEST_PROGRAMS_SRC "/sock_proxy.mjs"

static struct server upstream;

static void setup(void)
{
	server_start(&upstream);
}

static void teardown(void)
{
	server_stop(&upstream);
}

TestSuite(socket_pairing, .init = setup, .fini = teardown, .timeout = 120);

/* 10 rounds of one 401 and two 200s, then one of 5 and 45. */
static const struct load load = {10, 5, 45};

static void node_under_concurrency(const char *mode, const char *path401, const char *path200,
                                   const char *allowed, size_t definite)
{
	need_node();
	char *up = server_url(&upstream, "");
	const char *argv[] = {NODE, SOCK_PROXY, mode, up, "COUNT", "routes", NULL};
	under_concurrency(argv, path401, path200, allowed, definite, &load);
}

Test(socket_pairing, node_forwarding_under_concurrency_is_forwarded)
{
	node_under_concurrency("forward", "/api/401", "/api/200", "forwarded ambiguous", 10);
}

Test(socket_pairing, node_dropping_under_concurrency_is_dropped)
{
	node_under_concurrency("drop", "/api/401", "/api/200", "dropped ambiguous", 10);
}

/* Targets that say nothing of the upstream's (/opaque/a goes to /401, the
 * others to /200): never converted; definite only where the other clients
 * were answered before the upstream's 401 was read. */
Test(socket_pairing, node_opaque_routes_forwarded_are_never_wrong)
{
	node_under_concurrency("forward", "/opaque/a", "/opaque/b", "forwarded ambiguous", 0);
}

Test(socket_pairing, node_opaque_routes_dropped_are_never_wrong)
{
	node_under_concurrency("drop", "/opaque/a", "/opaque/b", "dropped ambiguous", 0);
}

/* A thread per client connection (Python's ThreadingHTTPServer with
 * urllib): the thread that writes the upstream request read exactly one of
 * the requests waiting, so every verdict is definite, as before. */
Test(socket_pairing, python_threads_under_concurrency_are_definite)
{
	char *up = server_url(&upstream, "");
	const char *argv[] = {"/usr/bin/python3", TEST_PROGRAMS_SRC "/sock_proxy_threads.py",
	                      "forward", up, "COUNT", NULL};
	under_concurrency(argv, "/api/401", "/api/200", "forwarded", 15, &load);
}
