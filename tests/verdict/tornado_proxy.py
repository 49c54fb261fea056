"""A reverse proxy on Tornado's CurlAsyncHTTPClient (pycurl's multi
interface driven by socket_action from the IOLoop), for the verdict tests:
one event loop reads several requests before its callbacks start their
transfers.

    tornado_proxy.py MODE UPSTREAM COUNT

/api/PATH goes to UPSTREAM/PATH; /opaque/a to UPSTREAM/401 and any other
/opaque/NAME to UPSTREAM/200.  MODE: forward (status, body and the
challenge), drop (status and body only), answer-first (a 200 written and
flushed before the upstream is asked).  It prints its port, and exits once
it has answered COUNT requests.
"""
import logging
import sys

import tornado.httpclient
import tornado.ioloop
import tornado.web

MODE, UPSTREAM, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
CHALLENGES = ("WWW-Authenticate", "Proxy-Authenticate")
answered = 0


def upstream_url(path):
    if path.startswith("/api/"):
        return UPSTREAM + path[4:]
    if path == "/opaque/a":
        return UPSTREAM + "/401"
    return UPSTREAM + "/200"


class Proxy(tornado.web.RequestHandler):
    async def fetch(self):
        client = tornado.httpclient.AsyncHTTPClient()
        body = self.request.body if self.request.method == "POST" else None
        return await client.fetch(upstream_url(self.request.path),
                                  method=self.request.method, body=body,
                                  raise_error=False)

    async def get(self, *args):
        if MODE == "answer-first":
            self.set_status(200)
            self.write("accepted\n")
            await self.flush()
            await self.fetch()
            return
        res = await self.fetch()
        self.set_status(res.code)
        if MODE == "forward":
            for name in CHALLENGES:
                for value in res.headers.get_list(name):
                    self.add_header(name, value)
        self.write(res.body or b"")

    post = get

    def on_finish(self):
        global answered
        answered += 1
        if answered == COUNT:
            tornado.ioloop.IOLoop.current().add_callback(
                tornado.ioloop.IOLoop.current().stop)


def main():
    # Its access log would go to the test's output.
    logging.getLogger("tornado.access").disabled = True
    tornado.httpclient.AsyncHTTPClient.configure(
        "tornado.curl_httpclient.CurlAsyncHTTPClient", max_clients=256)
    app = tornado.web.Application([(r"/.*", Proxy)])
    server = app.listen(0, address="127.0.0.1")
    port = next(iter(server._sockets.values())).getsockname()[1]
    sys.stdout.write("%d\n" % port)
    sys.stdout.flush()
    tornado.ioloop.IOLoop.current().start()


main()
