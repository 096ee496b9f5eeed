"""Run tests/client/test_mdc against managerd and CPython manager servers.

Each server is started on a free loopback port, test_mdc runs against it,
and the server is stopped. Exit status 1 if any run failed.
"""
import argparse
import os
import signal
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lib'))
import procs                        # noqa: E402
import pythons                      # noqa: E402

KEY = "c-client-key"


def read_port(proc, pattern, deadline=15.0):
    found = procs.read_matches(proc.stdout, pattern, 1, deadline)
    if not found:
        raise RuntimeError("server did not announce its port")
    return int(found[0].group(1))


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

    interps = pythons.find_interpreters()
    targets = []
    for version, proto in ((None, 4), ((2, 7), 2)):
        try:
            targets.append((pythons.require(interps, version).path, proto))
        except pythons.Missing as e:
            print("FAIL: %s; the server check cannot run" % e)
            results.append(("python %s present" % (version or "3",), False))
    for exe, proto in targets:
        srv = procs.RefServer(procs.refserver_cmd(exe, KEY.encode("ascii")))
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
