"""managerctl against managerd (every command, every listener kind, --json
parsed back, the tables; over the http:// listener each reply compared with
the pickle listener's for the same server state) and against CPython's own
manager server (the fallback to number_of_objects and debug_info)."""
import http.server
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import (KEY, check, client_address, ctl, ctl_json, finish, start_cpython,  # noqa: E402
                    start_managerd, stop, tmpdir)
import pythons                      # noqa: E402  (tests/lib, on the path opslib set)

LOAD = r"""
import sys, threading
from multiprocessing.managers import SyncManager
addr = sys.argv[1]
if addr.startswith('tcp://'):
    h, p = addr[6:].rsplit(':', 1); addr = (h.strip('[]'), int(p))
elif addr.startswith('unix:@'):
    addr = '\0' + addr[6:]
else:
    addr = addr[5:]
m = SyncManager(address=addr, authkey=sys.argv[2].encode())
m.connect()
d = m.dict()
for i in range(3):
    d['k%d' % i] = i
l = m.list(range(5))
q = m.Queue()
def getter():
    try:
        q.get(timeout=30)
    except Exception:
        pass
t = threading.Thread(target=getter)
t.start()
sys.stdout.write('ready %s %s %s\n' % (d._token.id, l._token.id, q._token.id))
sys.stdout.flush()
sys.stdin.readline()
q.put('bye')
t.join()
"""


def section(reply, name):
    return reply[name]


def rows_by(rows, key):
    return {r[key]: r for r in rows}


def start_load(address, python=sys.executable):
    p = subprocess.Popen([python, "-c", LOAD, address, KEY], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE)
    line = p.stdout.readline().decode().split()
    if not line or line[0] != "ready":
        raise RuntimeError("the load client did not start")
    return p, line[1:]


def end_load(p):
    p.stdin.write(b"\n")
    p.stdin.flush()
    p.wait(timeout=60)


def wait_parked(address, deadline=10.0):
    end = time.time() + deadline
    while time.time() < end:
        if ctl_json(address, "waiters")["waiters"]:
            return True
        time.sleep(0.05)
    return False


def check_stats(address, kind):
    st = ctl_json(address, "stats")
    check(st["source"] == "managerd", kind + ": stats comes from managerd")
    server = {r["name"]: r["value"] for r in st["server"]}
    by_type = {r["type"]: r["count"] for r in st["objects_by_type"]}
    check(by_type == {"dict": 1, "list": 1, "Queue": 1}, kind + ": objects by type %r" % by_type)
    check(server["objects"] == 3 and server["parked_waiters"] == 1,
          kind + ": 3 objects, 1 parked waiter")
    check(server["bytes_in"] > 0 and server["bytes_out"] > 0 and server["rss_bytes"] > 0,
          kind + ": bytes in/out and RSS are counted")
    reqs = {(r["type"], r["method"]): r for r in st["requests"]}
    check(reqs.get(("dict", "__setitem__"), {}).get("requests") == 3,
          kind + ": 3 dict.__setitem__ requests counted")
    check(reqs.get(("server", "create"), {}).get("requests") == 3, kind + ": 3 creates counted")
    waits = {(r["type"], r["method"]): r["count"] for r in st["waiters_by_type"]}
    check(waits == {("Queue", "get"): 1}, kind + ": waiters by type %r" % waits)
    check(any(r["state"] == "long" and r["count"] >= 2 for r in st["connections"]),
          kind + ": long connections by listener")


def check_objects(address, kind, idents):
    did, lid, qid = idents
    objs = ctl_json(address, "objects", "--sort", "size")["objects"]
    check([o["ident"] for o in objs] == [lid, did, qid], kind + ": objects sorted by size")
    one = ctl_json(address, "objects", "--type", "dict")["objects"]
    check(len(one) == 1 and one[0]["size"] == 3 and one[0]["repr"] == "{'k0': 0, 'k1': 1, 'k2': 2}",
          kind + ": objects --type dict: %r" % one)
    shown = ctl_json(address, "show", lid)["object"]
    check(shown[0]["repr"] == "[0, 1, 2, 3, 4]" and shown[0]["refcount"] == 1,
          kind + ": show IDENT gives the repr")
    rc, out, err = ctl(address, "show", "ffffffffffff")
    check(rc == 1 and "KeyError" in err, kind + ": show of an unknown ident fails clearly")
    rc, out, err = ctl(address, "objects", "--sort", "colour")
    check(rc == 1 and "TypeError" in err, kind + ": a bad --sort is refused by the server")


def check_clients(address, kind, idents, listener):
    qid = idents[2]
    clients = ctl_json(address, "clients")["clients"]
    parked = [c for c in clients if c["parked_on"]]
    check(len(parked) == 1 and parked[0]["parked_on"] == "Queue %s.get" % qid,
          kind + ": clients shows who is parked on what")
    check(all(c["listener"] == listener and c["serializer"] == "pickle" for c in parked),
          kind + ": clients shows the listener and serializer")
    check(parked and parked[0]["protocol"] >= 2 and parked[0]["requests"] >= 1
          and abs(parked[0]["connected_since"] - time.time()) < 120,
          kind + ": protocol, requests, connected since")
    waiters = ctl_json(address, "waiters")["waiters"]
    check(len(waiters) == 1 and waiters[0]["ident"] == qid and waiters[0]["method"] == "get"
          and abs(waiters[0]["timeout_seconds"] - 30) < 0.01 and waiters[0]["waited_seconds"] >= 0,
          kind + ": waiters: %r" % waiters)


def check_tables(address):
    rc, out, err = ctl(address, "stats")
    check(rc == 0 and "objects_by_type:" in out and "Queue" in out and "__setitem__" in out,
          "stats prints tables")
    rc, out, err = ctl(address, "waiters")
    check(rc == 0 and "timeout_seconds" in out and " get " in out, "waiters prints a table")


def check_keys(address, d):
    path = os.path.join(d, "key")
    with open(path, "w") as f:
        f.write(KEY + "\n")
    rc, out, err = ctl(address, "--json", "stats", env_key=False, key_file=path)
    check(rc == 0, "the authkey from --authkey-file (one newline dropped)")
    rc, out, err = ctl(address, "stats", env_key=False)
    check(rc == 1 and "authkey" in err, "no authkey: refused before connecting")
    with open(path, "w") as f:
        f.write("wrong-key-wrong-key")
    rc, out, err = ctl(address, "stats", env_key=False, key_file=path)
    check(rc == 1 and out == "", "a wrong key fails the handshake; nothing is shown")


def check_shutdown(address, proc, kind):
    rc, out, err = ctl(address, "--json", "shutdown")
    check(rc == 0 and json.loads(out) == {"shutdown": True}, kind + "shutdown is acknowledged")
    try:
        proc.wait(timeout=20)
        check(proc.returncode == 0, kind + "managerd stopped after managerctl shutdown")
    except subprocess.TimeoutExpired:
        check(False, kind + "managerd stopped after managerctl shutdown")


def one_listener(listen, d, last):
    """Every command against a fresh managerd on one listener."""
    proc, addrs = start_managerd(["--listen", listen], 1)
    addr = addrs[0]
    kind = "tcp ipv6" if addr.startswith("tcp://[") else addr.split(":")[0]
    kind += " abstract" if addr.startswith("unix:@") else ""
    try:
        # Uptime counts from the start, not from the first connection.
        time.sleep(0.3)
        up = {r["name"]: r["value"] for r in ctl_json(addr, "stats")["server"]}["uptime_seconds"]
        check(up >= 0.25, kind + ": uptime %.3f s counts from the start" % up)
        load, idents = start_load(addr)
        try:
            check(wait_parked(addr), kind + ": the getter is parked")
            check_stats(addr, kind)
            check_objects(addr, kind, idents)
            check_clients(addr, kind, idents, addr)
            if last:
                check_tables(addr)
                check_keys(addr, d)
        finally:
            end_load(load)
        if last:
            check_shutdown(addr, proc, "")
    finally:
        stop(proc)


def ipv6_listener():
    """Python clients cannot reach IPv6 (AF_INET only), managerctl can."""
    proc, addrs = start_managerd(["--listen", "[::1]:0", "--listen", "http://[::1]:0/"], 2)
    try:
        for addr in addrs:
            kind = addr.split(":")[0] + " ipv6"
            st = ctl_json(addr, "stats")
            server = {r["name"]: r["value"] for r in st["server"]}
            check(server["objects"] == 0 and server["connections"] == 1,
                  kind + ": stats (only managerctl's own connection)")
    finally:
        stop(proc)


# What changes between two managerctl runs on an idle server: the clock,
# the counters managerctl's own requests move, the memory.
VOLATILE_SERVER_ROWS = {"uptime_seconds", "connections", "connections_total", "requests", "errors",
                        "bytes_in", "bytes_out", "rss_bytes"}


def stable_stats(st):
    """stats without what managerctl's own run changes."""
    return {
        "sections": sorted(st),
        "server": [r for r in st["server"] if r["name"] not in VOLATILE_SERVER_ROWS],
        "objects_by_type": st["objects_by_type"],
        "waiters_by_type": st["waiters_by_type"],
        "requests": [r for r in st["requests"] if r["type"] != "server"],
        "connections": [r for r in st["connections"] if r["state"] not in ("short", "http")],
    }


def without_own_connection(reply):
    """clients without managerctl's own connection (short on pickle, http)."""
    return [c for c in reply["clients"] if c["state"] not in ("short", "http")]


def without_waited(reply):
    """waiters without the times managerd computes from its clocks at each
    request (since is the wall clock less the monotonic time parked)."""
    return [{k: v for k, v in w.items() if k not in ("waited_seconds", "since")}
            for w in reply["waiters"]]


def compare_listeners(tcp, http, idents):
    """Every command's --json over http:// is the pickle listener's."""
    lid = idents[1]
    same = [
        (("objects",), None),
        (("objects", "--sort", "size"), None),
        (("objects", "--type", "dict"), None),
        (("show", lid), None),
        (("stats",), stable_stats),
        (("clients",), without_own_connection),
        (("waiters",), without_waited),
    ]
    for args, view in same:
        a, b = ctl_json(tcp, *args), ctl_json(http, *args)
        if view:
            a, b = view(a), view(b)
        check(a == b and a, "http: %s --json is the pickle listener's" % " ".join(args))
    wa, wb = ctl_json(tcp, "waiters")["waiters"], ctl_json(http, "waiters")["waiters"]
    check(len(wa) == len(wb) == 1 and abs(wa[0]["since"] - wb[0]["since"]) < 0.5,
          "http: waiters' since is the pickle listener's (to its clock's jitter)")
    rc1, out1, err1 = ctl(tcp, "objects")
    rc2, out2, err2 = ctl(http, "objects")
    check(rc1 == rc2 == 0 and out1 == out2 and lid in out2,
          "http: the objects table is the pickle listener's")


def check_http_keys(http, d):
    path = os.path.join(d, "http-key")
    with open(path, "w") as f:
        f.write("wrong-key-wrong-key\n")
    rc, out, err = ctl(http, "stats", env_key=False, key_file=path)
    check(rc == 1 and out == "" and "authkey" in err and "401" in err,
          "http: a wrong key is refused (HTTP 401), clearly, exit status 1: %r" % err)
    rc, out, err = ctl(http, "--json", "objects", env_key=False, key_file=path)
    check(rc == 1 and out == "", "http: a wrong key shows nothing with --json either")
    with open(path, "w") as f:
        f.write(KEY + "\n")
    rc, out, err = ctl(http, "--json", "stats", env_key=False, key_file=path)
    check(rc == 0 and '"managerd"' in out, "http: the authkey from --authkey-file")
    wrong_path = http.rstrip("/") + "/not-rpc"
    rc, out, err = ctl(wrong_path, "stats")
    check(rc == 1 and "404" in err, "http: a path that is not the endpoint fails clearly")


class NotXmlRpc(http.server.BaseHTTPRequestHandler):
    """An HTTP server that is not an XML-RPC endpoint: 200 and HTML."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"<html><body>hello</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def http_not_xmlrpc():
    """A server whose replies are not XML-RPC: a clear error, status 1."""
    srv = http.server.HTTPServer(("127.0.0.1", 0), NotXmlRpc)
    srv.timeout = 30
    t = threading.Thread(target=srv.handle_request)
    t.start()
    try:
        rc, out, err = ctl("http://127.0.0.1:%d/" % srv.server_address[1], "stats")
        check(rc == 1 and out == "" and "not XML-RPC" in err,
              "http: a reply that is not XML-RPC fails clearly: %r" % err)
    finally:
        t.join(timeout=60)
        srv.server_close()


def http_listener(d):
    """Every command over managerd's http:// (XML-RPC) listener, beside a
    pickle listener of the same server."""
    proc, addrs = start_managerd(["--listen", "127.0.0.1:0", "--listen", "http://127.0.0.1:0/"], 2)
    tcp = [a for a in addrs if a.startswith("tcp://")][0]
    http = [a for a in addrs if a.startswith("http://")][0]
    try:
        load, idents = start_load(tcp)
        try:
            check(wait_parked(http), "http: the getter is parked")
            check_stats(http, "http")
            check_objects(http, "http", idents)
            check_clients(http, "http", idents, tcp)
            compare_listeners(tcp, http, idents)
            rc, out, err = ctl(http, "stats")
            check(rc == 0 and "objects_by_type:" in out and "xmlrpclib" in out,
                  "http: stats prints tables (managerctl's own connection is xmlrpclib)")
            check_http_keys(http, d)
        finally:
            end_load(load)
        check_shutdown(http, proc, "http: ")
    finally:
        stop(proc)


def against_managerd():
    d = tmpdir()
    listeners = ["unix:%s/md.sock" % d, "unix:@md-ops-%d" % os.getpid()]
    ipv6 = subprocess.run([sys.executable, "-c", "import socket; s=socket.socket(socket.AF_INET6);"
                           "s.bind(('::1', 0))"], stderr=subprocess.DEVNULL).returncode == 0
    if ipv6:
        ipv6_listener()
    listeners.append("127.0.0.1:0")
    for i, listen in enumerate(listeners):
        one_listener(listen, d, i == len(listeners) - 1)
    http_listener(d)
    http_not_xmlrpc()


def against_cpython(python, protocol):
    name = "CPython %s server" % ("2.7" if protocol == "2" else "3")
    proc, addr = start_cpython(python)
    try:
        load, idents = start_load(addr, python)
        try:
            st = ctl_json(addr, "--protocol", protocol, "stats")
            check(st["source"] == "number_of_objects" and st["server"][0]["value"] == 3,
                  name + ": stats falls back to number_of_objects (3)")
            rc, out, err = ctl(addr, "--protocol", protocol, "stats")
            check(rc == 0 and "not managerd" in out, name + ": the fallback says so")
            objs = ctl_json(addr, "--protocol", protocol, "objects")
            ids = sorted(o["ident"] for o in objs["objects"])
            check(objs["source"] == "debug_info" and ids == sorted(idents),
                  name + ": objects from debug_info %r" % ids)
            rc, out, err = ctl(addr, "--protocol", protocol, "clients")
            check(rc == 1 and "clients" in err, name + ": clients is refused clearly")
        finally:
            end_load(load)
    finally:
        stop(proc)


def main():
    against_managerd()
    against_cpython(sys.executable, "4")
    try:
        against_cpython(pythons.require(pythons.find_interpreters(), (2, 7)).path, "2")
    except pythons.Missing as e:
        check(False, "the CPython 2.7 server checks run: %s" % e)
    finish()


if __name__ == "__main__":
    main()
