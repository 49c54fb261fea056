# An ordinary Python HTTP client for the socket source's tests: fetches
# each URL in order, on one keep-alive connection where the library keeps
# one, and prints each status.  It links no libcurl.
#
#   python3 sock_client.py urllib|requests|httpx [--ca CERT] URL...
import ssl
import sys
import urllib.error
import urllib.request

CA = None


def with_urllib(urls):
    for u in urls:
        try:
            ctx = ssl.create_default_context(cafile=CA) if CA else None
            with urllib.request.urlopen(u, timeout=30, context=ctx) as r:
                r.read()
                print(r.status)
        except urllib.error.HTTPError as e:
            e.read()
            print(e.code)


def with_requests(urls):
    import requests

    s = requests.Session()
    s.trust_env = False
    for u in urls:
        print(s.get(u, timeout=30, verify=CA or True).status_code)


def with_httpx(urls):
    import httpx

    with httpx.Client(trust_env=False, timeout=30, verify=CA or True) as c:
        for u in urls:
            print(c.get(u).status_code)


args = sys.argv[2:]
if args[:1] == ["--ca"]:
    CA, args = args[1], args[2:]
{"urllib": with_urllib, "requests": with_requests, "httpx": with_httpx}[sys.argv[1]](args)
