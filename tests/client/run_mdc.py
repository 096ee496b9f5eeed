"""Run tests/client/test_mdc against managerd and CPython manager servers.

Each server is started on a free loopback port, test_mdc runs against it,
and the server is stopped. Exit status 1 if any run failed.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lib'))
import procs                        # noqa: E402
import pythons                      # noqa: E402

KEY = "c-client-key"

CPYTHON_SERVER = r"""
import sys
from multiprocessing.managers import SyncManager
m = SyncManager(address=('127.0.0.1', 0), authkey=sys.argv[1].encode('ascii'))
s = m.get_server()
sys.stdout.write('refserver: listening on tcp://127.0.0.1:%d\n' % s.address[1])
sys.stdout.flush()
s.serve_forever()
"""


def read_port(proc, pattern, deadline=15.0):
    end = time.time() + deadline
    while time.time() < end:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(pattern, line.decode())
        if m:
            return int(m.group(1))
    raise RuntimeError("server did not announce its port")


def run_test(test_mdc, address, protocol):
    cmd = [test_mdc, address, KEY] + ([str(protocol)] if protocol else [])
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
    sys.stdout.write(r.stdout.decode())
    return r.returncode == 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--managerd", required=True)
    ap.add_argument("--test-mdc", required=True)
    a = ap.parse_args()
    results = []

    env = dict(os.environ, MANAGERD_AUTHKEY=KEY)
    # MD_SERVER_WRAPPER (e.g. valgrind ...) runs the server under a tool;
    # its non-zero exit then fails the run.
    wrapper = os.environ.get("MD_SERVER_WRAPPER", "").split()
    srv = subprocess.Popen(wrapper + [a.managerd, "--listen", "127.0.0.1:0", "--log-level", "warning"],
                           stdout=subprocess.PIPE, env=env)
    try:
        port = read_port(srv, r"listening on tcp://127\.0\.0\.1:(\d+)", 120.0)
        print("== managerd (tcp)")
        results.append(("managerd", run_test(a.test_mdc, "127.0.0.1:%d" % port, None)))
    finally:
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait(timeout=300)
        results.append(("managerd exits 0", rc == 0))

    found = pythons.by_minor()
    newest = sorted((k for k in found if k.startswith("3.")), key=lambda v: tuple(map(int, v.split("."))))
    targets = []
    if newest:
        targets.append((found[newest[-1]], 4))
    else:
        targets.append((sys.executable, 4))
    if "2.7" in found:
        targets.append((found["2.7"], 2))
    else:
        print("FAIL: Python 2.7 not found (pyenv versions); the 2.7 server check cannot run")
        results.append(("python2.7 present", False))
    for exe, proto in targets:
        srv = procs.RefServer([exe, "-c", CPYTHON_SERVER, KEY])
        try:
            address = srv.start(15.0).address.split("://", 1)[-1]
            print("== CPython server %s (protocol %d)" % (exe, proto))
            results.append((exe, run_test(a.test_mdc, address, proto)))
        finally:
            srv.stop()

    bad = [name for name, ok in results if not ok]
    for name in bad:
        print("FAIL: %s" % name)
    print("%d passed, %d failed" % (len(results) - len(bad), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
