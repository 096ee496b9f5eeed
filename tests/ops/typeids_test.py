"""The typeids managerd serves come from one table (core/types/registry.h):
`managerd --help` prints its TYPE list from it. This test holds the rest
to that list: a running managerd creates every typeid of it (and Iterator)
and answers get_methods with the names create returned; the list is
SyncManager's own; and the README's two lists and managerd(1)'s TYPES
section name exactly those typeids, so a new shared type cannot be added
without them."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import (KEY, builddir, check, client_address, finish, start_managerd,  # noqa: E402
                    stop)

# Only a method returns one (dict.__iter__); CPython registers it with
# create_method=False and --help does not list it.
UNLISTED = ["Iterator"]


def srcpath(*parts):
    return os.path.join(os.environ["top_srcdir"], *parts)


def help_types():
    """The TYPE: list of managerd --help, in order."""
    r = subprocess.run([os.path.join(builddir(), "managerd"), "--help"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=30)
    text = r.stdout.decode()
    m = re.search(r"^TYPE:((?:.*\n)(?:      .*\n)*)", text, re.M)
    return m.group(1).split() if m else []


def readme_lists():
    """The README's typeid lists: (the operators' paragraph, with what its
    parenthesis adds; the Python package's bullet)."""
    with open(srcpath("README.md")) as f:
        text = f.read()
    served = re.search(r"Every SyncManager typeid is served: ([^(]*)\(and ([^)]*)\)", text)
    works = re.search(r"Every SyncManager typeid works: (.*?)Proxies go", text, re.S)
    first = None
    if served:
        listed = [w.strip() for w in served.group(1).split(",")]
        extra = re.findall(r"\b[A-Z]\w+", served.group(2))
        first = (listed, extra)
    second = re.findall(r"`(\w+)`", works.group(1)) if works else None
    return first, second


def page_types():
    """managerd(1)'s TYPES section: the names before its ';'."""
    with open(srcpath("core", "daemon", "managerd.1")) as f:
        text = f.read()
    m = re.search(r"^\.SH TYPES\n(.*?)^\.SH", text, re.S | re.M)
    if not m:
        return []
    return [w.strip() for w in m.group(1).split(";")[0].split(",")]


# Runs on the tested Python: creates each typeid, asks get_methods, and
# prints one JSON object {typeid: [exposed, methods] or "error: ..."} and
# the typeids of this Python's SyncManager.
CLIENT = r"""
import json, sys
from multiprocessing.managers import SyncManager, Token, dispatch
addr = json.loads(sys.argv[1])
addr = tuple(addr) if isinstance(addr, list) else addr
m = SyncManager(address=addr, authkey=sys.argv[2].encode('ascii'))
m.connect()
def call(name, args):
    # one request per connection, as the manager's own calls do
    conn = m._Client(m._address, authkey=m._authkey)
    try:
        return dispatch(conn, None, name, args)
    finally:
        conn.close()
ARGS = {'Barrier': (2,), 'Value': ('i', 7), 'Array': ('i', [7]), 'Iterator': ([7],)}
out = {}
for typeid in json.loads(sys.argv[3]):
    try:
        ident, exposed = call('create', (typeid,) + ARGS.get(typeid, ()))
        methods = call('get_methods', (Token(typeid, m._address, ident),))
        call('decref', (ident,))
        out[typeid] = [list(exposed), list(methods)]
    except Exception as e:
        out[typeid] = 'error: %s %s' % (type(e).__name__, ' '.join(str(e).split())[-300:])
print(json.dumps({'served': out, 'syncmanager': sorted(SyncManager._registry)}))
"""


def served(address, typeids):
    import json
    r = subprocess.run([os.environ["PYTHON"], "-c", CLIENT, json.dumps(client_address(address)),
                        KEY, json.dumps(typeids)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        print(r.stderr.decode())
        return None
    return json.loads(r.stdout.decode())


def check_server(listed):
    proc, addrs = start_managerd(["--listen", "127.0.0.1:0"], 1)
    try:
        reply = served(addrs[0], listed + UNLISTED + ["Pool", "NoSuchType"])
    finally:
        stop(proc)
    check(reply is not None, "the client ran")
    if reply is None:
        return
    got = reply["served"]
    for typeid in listed + UNLISTED:
        r = got.get(typeid)
        ok = isinstance(r, list) and len(r[0]) > 0 and sorted(set(r[0])) == sorted(r[1])
        check(ok, "%s: create returns its exposed names, get_methods the same (%s)"
              % (typeid, r if not ok else len(r[1])))
    check(str(got.get("Pool")).startswith("error") and "Pool" in str(got.get("Pool")),
          "Pool is refused (%s)" % got.get("Pool"))
    check(str(got.get("NoSuchType")).startswith("error"),
          "a typeid not in the table is not served (%s)" % got.get("NoSuchType"))
    # The table is SyncManager's: every typeid this Python's SyncManager
    # serves in its server is listed (set from 3.14 on), and nothing else.
    theirs = set(reply["syncmanager"]) - {"Pool", "AsyncResult"}
    check(theirs - set(listed + UNLISTED) == set(),
          "every SyncManager typeid is in the table (missing %s)"
          % sorted(theirs - set(listed + UNLISTED)))
    check(set(listed + UNLISTED) - theirs <= {"set"},
          "the table has no typeid SyncManager lacks (extra %s)"
          % sorted(set(listed + UNLISTED) - theirs - {"set"}))


def main():
    listed = help_types()
    check(len(listed) >= 15 and "Queue" in listed and "Iterator" not in listed,
          "managerd --help lists the typeids (%s)" % " ".join(listed))
    first, second = readme_lists()
    check(first is not None and first[0] == listed and first[1] == UNLISTED,
          "README's 'Every SyncManager typeid is served' lists --help's typeids in its order, "
          "then (and Iterator ...) (README has %s)" % (first,))
    check(second is not None and sorted(second) == sorted(listed),
          "README's 'Every SyncManager typeid works' bullet names --help's typeids "
          "(missing %s, extra %s)" % (sorted(set(listed) - set(second or [])),
                                      sorted(set(second or []) - set(listed))))
    page = page_types()
    check(page == listed, "managerd(1)'s TYPES section lists --help's typeids in order (%s)"
          % ", ".join(page))
    check_server(listed)
    finish()


if __name__ == "__main__":
    main()
