#!/usr/bin/env python3
"""The instructions one shared object adds to a program, from a callgrind file.

    cgsplit.py FILE --object libauthtap.so --per N [--top K]
    cgsplit.py FILE --function NAME --per N
    (either with --event DLmr etc. for a run with --cache-sim=yes)

The first form sums what runs because the object is there: the object's own
instructions, plus every call it makes into other objects (libcurl, libc),
except the calls that forward an interposed function to the real one (a
callee that has the name of one of the object's own functions), which would
have run without the object too.  Unlike (Ir with - Ir without), this does
not move with how often libcurl happened to poll for a response, so it is
exact to the instruction; hooks that libcurl reaches from inside the real
function (Debian's curl_easy_perform calls its multi functions through the
PLT) are counted too.  It prints the total per N and the largest parts.

The second form prints the inclusive cost of one function per N.

meson requires Python 3, so wherever authtap builds, this runs.
"""
import argparse
import collections
import re
import sys

NAME = re.compile(r"^\((\d+)\)(?: (.*))?$")


def parse(path, event="Ir"):
    """Self cost per (object, function), and calls as
    (caller object, caller function, callee object, callee function, cost),
    of one event (Ir, or with --cache-sim=yes e.g. DLmr)."""
    names = {"ob": {}, "fl": {}, "fn": {}}
    kind_of = {"ob": "ob", "cob": "ob", "fl": "fl", "fi": "fl", "fe": "fl",
               "cfi": "fl", "cfl": "fl", "fn": "fn", "cfn": "fn"}
    self_cost = collections.Counter()
    calls = collections.Counter()
    files = {}
    ob = fl = fn = None
    cob = cfn = None
    in_call = False
    column = 1

    def name(kind, text):
        m = NAME.match(text)
        if not m:
            return text
        table = names[kind_of[kind]]
        if m.group(2) is not None:
            table[m.group(1)] = m.group(2)
        return table.get(m.group(1), "(%s)" % m.group(1))

    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                cost = int(parts[column]) if len(parts) > column else 0
                if in_call:
                    calls[(ob, fn, cob or ob, cfn, )] += cost
                    in_call = False
                    cob = None
                else:
                    self_cost[(ob, fn)] += cost
                continue
            if line.startswith("events:"):
                events = line.split()[1:]
                if event not in events:
                    sys.exit("cgsplit.py: no event %s in %s (%s)" % (event, path, " ".join(events)))
                column = 1 + events.index(event)
                continue
            key, _, value = line.partition("=")
            if key == "ob":
                ob = name(key, value)
            elif key == "fl":
                fl = name(key, value)
            elif key in ("fi", "fe", "cfi", "cfl"):
                name(key, value)
            elif key == "fn":
                fn = strip(name(key, value))
                files.setdefault((ob, fn), fl)
            elif key == "cob":
                cob = name(key, value)
            elif key == "cfn":
                cfn = strip(name(key, value))
            elif key == "calls":
                in_call = True
            elif key in ("jfi", "jfn"):
                name("fl" if key == "jfi" else "fn", value)
    return self_cost, calls, files


def strip(fn):
    """curl_easy_perform'2 (a recursion level) is curl_easy_perform."""
    return re.sub(r"'\d+$", "", fn)


def short(obj):
    return obj.rsplit("/", 1)[-1] if obj else "?"


def added(path, obj_part, per, top, event):
    self_cost, calls, files = parse(path, event)
    mine = {k for k in self_cost if k[0] and obj_part in k[0]}
    mine |= {(o, f) for (o, f) in files if o and obj_part in o}
    own_names = {f for (_, f) in mine}
    parts = collections.Counter()
    for (o, f) in mine:
        parts["%s (own code)" % f] += self_cost.get((o, f), 0)
    for (o, f, co, cf), cost in calls.items():
        if not (o and obj_part in o) or (co and obj_part in co):
            continue
        if cf in own_names:
            continue  # the real function behind a hook: not added
        parts["-> %s [%s]" % (cf, short(co))] += cost
    total = sum(parts.values())
    print("event=%s added=%d per=%d added_per=%.1f" % (event, total, per, total / per))
    for what, cost in parts.most_common(top):
        if cost:
            print("  %10.1f  %s" % (cost / per, what))


def inclusive(path, function, per, event):
    self_cost, calls, _ = parse(path, event)
    total = sum(c for (o, f), c in self_cost.items() if f == function)
    total += sum(c for (o, f, co, cf), c in calls.items() if f == function and cf != function)
    print("function=%s event=%s total=%d per=%d per_call=%.1f" % (function, event, total, per, total / per))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file")
    ap.add_argument("--object")
    ap.add_argument("--function")
    ap.add_argument("--per", type=int, default=1)
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--event", default="Ir", help="Ir, or e.g. DLmr with --cache-sim=yes")
    a = ap.parse_args()
    if bool(a.object) == bool(a.function):
        ap.error("give one of --object and --function")
    if a.object:
        added(a.file, a.object, a.per, a.top, a.event)
    else:
        inclusive(a.file, a.function, a.per, a.event)
    return 0


if __name__ == "__main__":
    sys.exit(main())
