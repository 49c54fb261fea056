"""An unmodified pycurl program for authtap's tests (run with /usr/bin/python3).

    pycurl_client.py [--cainfo FILE] [--http2] easy|multi|multi-noread|multi-close URL...

easy: one curl_easy_perform per URL on one handle.  multi: every URL on one
CurlMulti, each message read and its handle removed as it comes.
multi-noread: every URL on one CurlMulti, no message read, each handle
removed once none is running.  multi-close: as multi-noread, but
CurlMulti.close() with the handles still in it.  One line per transfer on stdout, the same
with and without the preload: transfers end in any order, so the lines go
out sorted, at the end.
"""
import io
import sys
import time

import pycurl

LOOP_SECS = 20
LINES = []


def handle(url, opts):
    c = pycurl.Curl()
    c.body = io.BytesIO()
    c.url = url
    c.setopt(pycurl.URL, url)
    c.setopt(pycurl.WRITEDATA, c.body)
    # An empty proxy keeps http_proxy and friends out of the test.
    c.setopt(pycurl.PROXY, "")
    c.setopt(pycurl.TIMEOUT, LOOP_SECS)
    if opts.get("cainfo"):
        c.setopt(pycurl.CAINFO, opts["cainfo"])
    if opts.get("http2"):
        c.setopt(pycurl.HTTP_VERSION, pycurl.CURL_HTTP_VERSION_2TLS)
    return c


def report(c, api, result):
    LINES.append("transfer api=%s result=%s status=%d url=%s body=%r"
                 % (api, result, c.getinfo(pycurl.RESPONSE_CODE), c.url,
                    c.body.getvalue()))


def run_easy(urls, opts):
    c = handle(urls[0], opts)
    for url in urls:
        c.url = url
        c.body = io.BytesIO()
        c.setopt(pycurl.URL, url)
        c.setopt(pycurl.WRITEDATA, c.body)
        try:
            c.perform()
            report(c, "easy", 0)
        except pycurl.error as e:
            report(c, "easy", e.args[0])
    c.close()


def run_multi(urls, opts, read, remove=True):
    m = pycurl.CurlMulti()
    hs = [handle(u, opts) for u in urls]
    for c in hs:
        m.add_handle(c)
    left = len(hs)
    start = time.monotonic()
    running = len(hs)
    while (left if read else running) and time.monotonic() - start < LOOP_SECS:
        while True:
            ret, running = m.perform()
            if ret != pycurl.E_CALL_MULTI_PERFORM:
                break
        while read:
            queued, ok, err = m.info_read()
            for c in ok:
                report(c, "multi", 0)
                m.remove_handle(c)
                left -= 1
            for c, code, _ in err:
                report(c, "multi", code)
                m.remove_handle(c)
                left -= 1
            if queued == 0:
                break
        if (left if read else running):
            m.select(1.0)
    if not read:
        for c in hs:
            report(c, "multi", "unknown")
            if remove:
                m.remove_handle(c)
    m.close()
    for c in hs:
        c.close()
    return 0 if (not read or left == 0) else 1


def main(argv):
    opts = {}
    while argv and argv[0].startswith("--"):
        if argv[0] == "--cainfo":
            opts["cainfo"] = argv[1]
            argv = argv[2:]
        elif argv[0] == "--http2":
            opts["http2"] = True
            argv = argv[1:]
        else:
            return 2
    if len(argv) < 2:
        return 2
    mode, urls = argv[0], argv[1:]
    if mode == "easy":
        run_easy(urls, opts)
        rc = 0
    elif mode in ("multi", "multi-noread", "multi-close"):
        rc = run_multi(urls, opts, mode == "multi", mode != "multi-close")
    else:
        return 2
    for line in sorted(LINES):
        print(line)
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
