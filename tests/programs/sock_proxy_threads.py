"""A reverse proxy with a thread per client connection (http.server's
ThreadingHTTPServer, the upstream called with urllib): each thread reads
its one request and writes the upstream request for it.

    sock_proxy_threads.py forward|drop UPSTREAM COUNT

/api/PATH goes to UPSTREAM/PATH with the request's method and body; the
upstream's status and body come back, with WWW-Authenticate in "forward".
Prints its port, serves COUNT requests, then exits."""
import http.server
import sys
import threading
import urllib.error
import urllib.request

MODE, UPSTREAM, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
lock = threading.Lock()
answered = 0
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def relay(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        req = urllib.request.Request(UPSTREAM + self.path[4:], data=body,
                                     method=self.command)
        try:
            res = opener.open(req)
        except urllib.error.HTTPError as e:
            res = e
        data = res.read()
        self.send_response(res.status)
        challenge = res.headers.get("WWW-Authenticate")
        if MODE == "forward" and challenge:
            self.send_header("WWW-Authenticate", challenge)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        global answered
        with lock:
            answered += 1
            if answered == COUNT:
                threading.Thread(target=self.server.shutdown).start()

    do_GET = relay
    do_POST = relay


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
sys.stdout.write("%d\n" % server.server_address[1])
sys.stdout.flush()
server.serve_forever()
