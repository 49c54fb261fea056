# A Python asyncio HTTPS client for the socket source's tests: asyncio's
# TLS runs ssl.SSLObject over memory BIOs, so OpenSSL's SSL_get_fd is -1.
# Each URL is fetched on one connection: an HTTP/1.1 GET written by hand,
# the response read to its end; each status is printed.  It links no
# libcurl.
#
#   python3 tls_asyncio.py --ca CERT [--repeat N] URL...
#       the list N times; a URL written h2+https://... is fetched as --h2
#   python3 tls_asyncio.py --ca CERT --h2 URL   ALPN h2: the connection
#       preface and a SETTINGS frame, one frame read back; prints "h2"
#   python3 tls_asyncio.py --ca CERT --h2-socket URL   the same on a
#       blocking ssl.SSLSocket (OpenSSL on the socket's descriptor)
#   python3 tls_asyncio.py --ca CERT --h2-self KEY   the same against an
#       asyncio TLS server in this process (CERT and KEY), which chooses
#       h2 and answers the preface with its SETTINGS frame
import asyncio
import ssl
import sys
import urllib.parse

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def context(ca, alpn):
    ctx = ssl.create_default_context(cafile=ca)
    # The h2 connection names the server "localhost", which the
    # certificate (for 127.0.0.1) does not: its chain is still verified.
    ctx.check_hostname = False
    ctx.set_alpn_protocols(alpn)
    return ctx


async def close(w):
    # The server may still send (an HTTP/2 server's SETTINGS ack, its
    # GOAWAY) after our close_notify: OpenSSL then fails the shutdown with
    # APPLICATION_DATA_AFTER_CLOSE_NOTIFY.  What was asked is read already.
    w.close()
    try:
        await w.wait_closed()
    except (ssl.SSLError, ConnectionError):
        pass


async def http1(ca, url):
    u = urllib.parse.urlsplit(url)
    r, w = await asyncio.open_connection(
        u.hostname, u.port, ssl=context(ca, ["http/1.1"]))
    w.write(f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\n"
            "User-Agent: tls_asyncio\r\nConnection: close\r\n\r\n".encode())
    await w.drain()
    data = await r.read()
    await close(w)
    print(int(data.split(b" ", 2)[1]))


async def h2(ca, url):
    u = urllib.parse.urlsplit(url)
    r, w = await asyncio.open_connection(
        u.hostname, u.port, ssl=context(ca, ["h2"]), server_hostname="localhost")
    if w.get_extra_info("ssl_object").selected_alpn_protocol() != "h2":
        sys.exit("the server did not choose h2")
    w.write(PREFACE + SETTINGS)
    await w.drain()
    head = await r.readexactly(9)
    await r.readexactly(int.from_bytes(head[:3], "big"))
    await close(w)
    print("h2")


def h2_socket(ca, url):
    import socket

    u = urllib.parse.urlsplit(url)
    with socket.create_connection((u.hostname, u.port), timeout=30) as raw:
        with context(ca, ["h2"]).wrap_socket(raw, server_hostname="localhost") as s:
            if s.selected_alpn_protocol() != "h2":
                sys.exit("the server did not choose h2")
            s.sendall(PREFACE + SETTINGS)
            head = b""
            while len(head) < 9:
                head += s.recv(9 - len(head))
            print("h2")


async def h2_self(cert, key):
    async def serve(r, w):
        await r.readexactly(len(PREFACE) + len(SETTINGS))
        w.write(SETTINGS)
        await w.drain()
        await r.read()
        w.close()

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=ctx)
    port = server.sockets[0].getsockname()[1]
    async with server:
        await h2(cert, f"https://127.0.0.1:{port}/")


async def main(args):
    ca = None
    if args[:1] == ["--ca"]:
        ca, args = args[1], args[2:]
    if args[:1] == ["--h2"]:
        await h2(ca, args[1])
        return
    if args[:1] == ["--h2-self"]:
        await h2_self(ca, args[1])
        return
    times = 1
    if args[:1] == ["--repeat"]:
        times, args = int(args[1]), args[2:]
    for url in args * times:
        if url.startswith("h2+"):
            await h2(ca, url[3:])
        else:
            await http1(ca, url)


if sys.argv[3:4] == ["--h2-socket"]:
    h2_socket(sys.argv[2], sys.argv[4])
else:
    asyncio.run(main(sys.argv[1:]))
