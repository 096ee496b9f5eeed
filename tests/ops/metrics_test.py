"""--metrics: the Prometheus text format, checked by promtool (Debian's
prometheus package) while Python clients load the server, and the
counters checked against the load actually sent (exact counts)."""
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import KEY, check, finish, start_managerd, stop  # noqa: E402

try:
    from urllib.request import Request, urlopen
    from urllib.error import HTTPError
except ImportError:  # Python 2
    from urllib2 import Request, urlopen, HTTPError

CLIENTS = 6
SETS = 40          # d[k] = v per client
MISSES = 7         # d['missing'] per client (KeyError)
APPENDS = 25       # l.append per client

LOAD = r"""
import sys
from multiprocessing.managers import BaseManager
class M(BaseManager): pass
M.register('get_d'); M.register('get_l')
h, p = sys.argv[1].rsplit(':', 1)
m = M(address=(h, int(p)), authkey=sys.argv[2].encode()); m.connect()
d = m.get_d(); l = m.get_l()
n = int(sys.argv[3])
for i in range(%d):
    d['c%%d-%%d' %% (n, i)] = i
for i in range(%d):
    try:
        d['missing']
    except KeyError:
        pass
for i in range(%d):
    l.append(i)
""" % (SETS, MISSES, APPENDS)


def scrape(url):
    return urlopen(url, timeout=10).read().decode()


def promtool_ok(text, what):
    r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    check(r.returncode == 0, "promtool accepts the %s scrape %s" % (what, r.stdout.decode().strip()))


def samples(text):
    """{(name, frozenset(labels)): value} of every sample line."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            raise ValueError("unparsed line %r" % line)
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(s, name, **labels):
    return s.get((name, frozenset(labels.items())))


def check_http(url):
    base = url.rsplit("/", 1)[0]
    try:
        urlopen(base + "/other", timeout=10)
        check(False, "another path is 404")
    except HTTPError as e:
        check(e.code == 404, "another path is 404")
    try:
        urlopen(Request(url, data=b"x"), timeout=10)
        check(False, "POST is refused")
    except HTTPError as e:
        check(e.code in (405, 501), "POST is refused (%d)" % e.code)


def on_http_listener():
    """--metrics /PATH: on the XML-RPC listener, behind its HTTP Basic key."""
    import base64
    proc, addrs = start_managerd(["--listen", "http://127.0.0.1:0", "--metrics", "/metrics"], 1)
    url = re.sub(r"/RPC2$", "/metrics", addrs[0])  # http://127.0.0.1:PORT/RPC2
    try:
        try:
            urlopen(url, timeout=10)
            check(False, "--metrics /PATH wants the key")
        except HTTPError as e:
            check(e.code == 401, "--metrics /PATH wants the key (401)")
        token = base64.b64encode(("scraper:" + KEY).encode()).decode()
        text = urlopen(Request(url, headers={"Authorization": "Basic " + token}),
                       timeout=10).read().decode()
        promtool_ok(text, "HTTP listener")
        check("managerd_uptime_seconds" in text, "--metrics /PATH serves the metrics")
    finally:
        stop(proc)
    r = subprocess.run([os.path.join(os.environ["top_builddir"], "managerd"), "--listen",
                        "127.0.0.1:0", "--metrics", "/metrics"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=dict(os.environ, MANAGERD_AUTHKEY=KEY),
                       timeout=30)
    check(r.returncode != 0 and b"needs an http:// listener" in r.stderr,
          "--metrics /PATH without an http:// listener is refused")


def main():
    if not shutil.which("promtool"):
        print("FAIL promtool not found (Debian package prometheus; ./dev deps installs it)")
        sys.exit(1)
    proc, addrs = start_managerd(["--listen", "127.0.0.1:0", "--share", "get_d=dict",
                                  "--share", "get_l=list", "--metrics", "0"], 2)
    tcp, url = addrs[0], addrs[1]
    try:
        check(url.startswith("http://127.0.0.1:") and url.endswith("/metrics"),
              "a bare port serves on loopback: " + url)
        hostport = tcp[len("tcp://"):]
        loads = [subprocess.Popen([sys.executable, "-c", LOAD, hostport, KEY, str(i)])
                 for i in range(CLIENTS)]
        during = 0
        while any(p.poll() is None for p in loads) and during < 200:
            text = scrape(url)
            if during % 20 == 0:
                promtool_ok(text, "mid-load")
            during += 1
            time.sleep(0.02)
        for p in loads:
            p.wait(timeout=120)
        check(all(p.returncode == 0 for p in loads), "every load client finished")
        text = scrape(url)
        promtool_ok(text, "final")
        s = samples(text)
        sets = value(s, "managerd_requests_total", type="dict", method="__setitem__")
        check(sets == CLIENTS * SETS, "dict.__setitem__ requests %r == %d" % (sets, CLIENTS * SETS))
        gets = value(s, "managerd_requests_total", type="dict", method="__getitem__")
        errs = value(s, "managerd_request_errors_total", type="dict", method="__getitem__")
        check(gets == CLIENTS * MISSES and errs == CLIENTS * MISSES,
              "dict.__getitem__ requests and KeyErrors %r/%r == %d" % (gets, errs, CLIENTS * MISSES))
        apps = value(s, "managerd_requests_total", type="list", method="append")
        check(apps == CLIENTS * APPENDS, "list.append requests %r == %d" % (apps, CLIENTS * APPENDS))
        check(value(s, "managerd_request_errors_total", type="list", method="append") == 0,
              "no list.append errors")
        cnt = value(s, "managerd_request_duration_seconds_count", type="list", method="append")
        inf = value(s, "managerd_request_duration_seconds_bucket", type="list", method="append",
                    le="+Inf")
        check(cnt == apps and inf == apps, "the latency histogram counts every append")
        check(value(s, "managerd_objects", type="dict") == 1 and
              value(s, "managerd_objects", type="list") == 1, "objects by type")
        check(value(s, "managerd_received_bytes_total") > 0 and
              value(s, "managerd_sent_bytes_total") > 0, "bytes in and out")
        check(value(s, "managerd_connections_opened_total") >= CLIENTS, "connections opened")
        check_http(url)
    finally:
        stop(proc)
    on_http_listener()
    finish()


if __name__ == "__main__":
    main()
