#!/usr/bin/env python3
"""A Python proxy (http.server, the upstream called with urllib) for the
verdict tests; it never knows authtap.

    stream_proxy.py MODE UPSTREAM_URL [CERT KEY]

Listens on 127.0.0.1 (port printed on stdout), over TLS when given a
certificate and key (Python's ssl module: OpenSSL's libssl.so.3), answers
one request by MODE, then exits:

    stream   an MCP-style streaming answer: the 200 head of an event stream
             first, then the upstream call, then one SSE event whose
             JSON-RPC error carries the upstream's challenge
    silent   the same, the event carrying no challenge
    exit     the same as silent, then the program exits with the connection
             still open (its descriptor is never closed)
    late     the same as stream, after 20 KiB of SSE comments (past the
             16 KiB that authtap reads of a body)
    forward  the upstream's status and WWW-Authenticate header
    drop     the upstream's status only
"""
import ctypes
import http.server
import json
import ssl
import sys
import urllib.error
import urllib.request

MODE, UPSTREAM = sys.argv[1], sys.argv[2]


def call_upstream():
    """The upstream's status and WWW-Authenticate values."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(UPSTREAM) as r:
            return r.status, r.headers.get_all("WWW-Authenticate") or []
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, e.headers.get_all("WWW-Authenticate") or []


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        if MODE in ("stream", "silent", "late", "exit"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            status, challenges = call_upstream()
            error = {"code": -32001, "message": "Unauthorized"}
            if MODE in ("stream", "late") and challenges:
                error["data"] = {"status": status, "wwwAuthenticate": challenges[0]}
            event = {"jsonrpc": "2.0", "id": 1, "error": error}
            if MODE == "late":
                for _ in range(20):
                    self.wfile.write(b":" + b"." * 1021 + b"\r\n")
            self.wfile.write(b"event: message\r\ndata: " + json.dumps(event).encode() + b"\r\n\r\n")
            if MODE == "exit":
                # libc's exit, before Python closes anything.
                sys.stdout.flush()
                ctypes.CDLL(None).exit(0)
            return
        status, challenges = call_upstream()
        body = b'{"error":"unauthorized"}'
        self.send_response(status)
        if MODE == "forward":
            for c in challenges:
                self.send_header("WWW-Authenticate", c)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main():
    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    if len(sys.argv) > 4:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(sys.argv[3], sys.argv[4])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    server.handle_request()
    server.server_close()


if __name__ == "__main__":
    main()
