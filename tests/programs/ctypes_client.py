"""An unmodified Python program that reaches libcurl through ctypes, for
authtap's tests: every function is looked up with dlsym on the handle
ctypes.CDLL got, none is bound by the dynamic linker (GitHub issue 12).

    python3 ctypes_client.py easy|multi URL...

easy runs each URL through curl_easy_perform, multi all of them at once on
one multi handle.  Each transfer prints one line, in the order of the URLs,
the same with and without the preload:

    transfer api=easy result=0 status=401
"""
import ctypes
import sys
import time

CURLOPT_URL = 10002
CURLOPT_PROXY = 10004
CURLOPT_NOSIGNAL = 99
CURLOPT_TIMEOUT = 13
CURLOPT_WRITEFUNCTION = 20011
CURLINFO_RESPONSE_CODE = 0x200002
CURLMSG_DONE = 1
SECS = 20

WRITE = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t,
                         ctypes.c_size_t, ctypes.c_void_p)


class Msg(ctypes.Structure):
    _fields_ = [("msg", ctypes.c_int), ("easy_handle", ctypes.c_void_p),
                ("result", ctypes.c_int)]


def load():
    lib = ctypes.CDLL("libcurl.so.4")
    p, i = ctypes.c_void_p, ctypes.c_int
    sigs = {
        "curl_global_init": ([ctypes.c_long], i),
        "curl_easy_init": ([], p),
        "curl_easy_perform": ([p], i),
        "curl_easy_cleanup": ([p], None),
        "curl_multi_init": ([], p),
        "curl_multi_add_handle": ([p, p], i),
        "curl_multi_remove_handle": ([p, p], i),
        "curl_multi_perform": ([p, ctypes.POINTER(i)], i),
        "curl_multi_poll": ([p, p, ctypes.c_uint, i, p], i),
        "curl_multi_info_read": ([p, ctypes.POINTER(i)], ctypes.POINTER(Msg)),
        "curl_multi_cleanup": ([p], i),
    }
    for name, (args, res) in sigs.items():
        f = getattr(lib, name)
        f.argtypes, f.restype = args, res
    return lib


def discard(ptr, size, n, ud):
    return size * n


ON_WRITE = WRITE(discard)


def make(lib, url):
    h = lib.curl_easy_init()
    setopt = lib.curl_easy_setopt
    setopt(ctypes.c_void_p(h), CURLOPT_URL, url.encode())
    setopt(ctypes.c_void_p(h), CURLOPT_PROXY, b"")
    setopt(ctypes.c_void_p(h), CURLOPT_NOSIGNAL, ctypes.c_long(1))
    setopt(ctypes.c_void_p(h), CURLOPT_TIMEOUT, ctypes.c_long(SECS))
    setopt(ctypes.c_void_p(h), CURLOPT_WRITEFUNCTION, ON_WRITE)
    return h


def status(lib, h):
    code = ctypes.c_long(0)
    lib.curl_easy_getinfo(ctypes.c_void_p(h), CURLINFO_RESPONSE_CODE, ctypes.byref(code))
    return code.value


def run_easy(lib, urls):
    for url in urls:
        h = make(lib, url)
        rc = lib.curl_easy_perform(h)
        print(f"transfer api=easy result={rc} status={status(lib, h)}")
        lib.curl_easy_cleanup(h)


def run_multi(lib, urls):
    m = lib.curl_multi_init()
    handles = [make(lib, u) for u in urls]
    for h in handles:
        lib.curl_multi_add_handle(m, h)
    results = {}
    running, left = ctypes.c_int(1), ctypes.c_int(0)
    deadline = time.monotonic() + SECS
    while len(results) < len(handles) and time.monotonic() < deadline:
        lib.curl_multi_perform(m, ctypes.byref(running))
        while True:
            msg = lib.curl_multi_info_read(m, ctypes.byref(left))
            if not msg:
                break
            if msg.contents.msg == CURLMSG_DONE:
                results[msg.contents.easy_handle] = msg.contents.result
        if len(results) < len(handles):
            lib.curl_multi_poll(m, None, 0, 1000, None)
    for h in handles:
        print(f"transfer api=multi result={results.get(h, 'none')} status={status(lib, h)}")
        lib.curl_multi_remove_handle(m, h)
        lib.curl_easy_cleanup(h)
    lib.curl_multi_cleanup(m)


def main():
    if len(sys.argv) < 3 or sys.argv[1] not in ("easy", "multi"):
        print("usage: ctypes_client.py easy|multi URL...", file=sys.stderr)
        return 2
    lib = load()
    lib.curl_global_init(3)
    (run_easy if sys.argv[1] == "easy" else run_multi)(lib, sys.argv[2:])
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
