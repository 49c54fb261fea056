# An ordinary Python HTTP client for the socket source's tests: fetches
# each URL in order, on one keep-alive connection where the library keeps
# one, and prints each status.  It links no libcurl.
#
#   python3 sock_client.py urllib|requests|httpx URL...
import sys
import urllib.error
import urllib.request


def with_urllib(urls):
    for u in urls:
        try:
            with urllib.request.urlopen(u, timeout=30) as r:
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
        print(s.get(u, timeout=30).status_code)


def with_httpx(urls):
    import httpx

    with httpx.Client(trust_env=False, timeout=30) as c:
        for u in urls:
            print(c.get(u).status_code)


{"urllib": with_urllib, "requests": with_requests, "httpx": with_httpx}[sys.argv[1]](sys.argv[2:])
