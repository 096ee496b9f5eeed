"""Shared helpers of the operator tests (tests/ops): start managerd and
CPython's manager server on free loopback ports, run managerctl."""
import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
import procs                        # noqa: E402

KEY = "ops-test-key-0123456789"

failures = []


def check(cond, what):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what)
        failures.append(what)


def finish():
    if failures:
        print("%d check(s) failed" % len(failures))
        sys.exit(1)
    print("all checks passed")


def builddir():
    return os.environ["top_builddir"]


def server_env():
    env = dict(os.environ)
    env["MANAGERD_AUTHKEY"] = KEY
    return env


def read_addresses(proc, count, deadline=15.0):
    """The first count 'listening on ADDRESS' lines of a server."""
    found = [m.group(1) for m in
             procs.read_matches(proc.stdout, r"(?:listening|metrics) on (\S+)", count, deadline)]
    if len(found) < count:
        raise RuntimeError("server announced %d of %d addresses" % (len(found), count))
    return found


def start_managerd(args, count, stderr=None):
    if stderr is None:
        logdir = os.path.join(builddir(), "tests", "ops")
        if not os.path.isdir(logdir):
            os.makedirs(logdir)
        stderr = open(os.path.join(logdir, "managerd-stderr.log"), "ab")
    cmd = [os.path.join(builddir(), "managerd")] + args
    wrapper = os.environ.get("MD_SERVER_WRAPPER")
    if wrapper:
        cmd = wrapper.split() + cmd
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=server_env())
    return proc, read_addresses(proc, count)


def start_cpython(python):
    proc = subprocess.Popen(procs.refserver_cmd(python, KEY.encode("ascii")),
                            stdout=subprocess.PIPE, env=server_env())
    return proc, read_addresses(proc, 1)[0]


def stop(proc, timeout=60):
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if os.environ.get("MD_VALGRIND"):
        # VALGRIND_SERVER's --error-exitcode
        check(proc.returncode != 99, "the server exits without a valgrind error")


def ctl(address, *args, env_key=True, key_file=None, timeout=60):
    """Run managerctl; (exit status, stdout, stderr)."""
    cmd = [os.path.join(builddir(), "managerctl"), "--connect", address]
    if key_file:
        cmd += ["--authkey-file", key_file]
    cmd += list(args)
    env = dict(os.environ)
    env.pop("MANAGERD_AUTHKEY", None)
    if env_key:
        env["MANAGERD_AUTHKEY"] = KEY
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                       timeout=timeout)
    return r.returncode, r.stdout.decode(), r.stderr.decode()


def ctl_json(address, *args):
    rc, out, err = ctl(address, "--json", *args)
    if rc != 0:
        raise RuntimeError("managerctl %s failed (%d): %s" % (" ".join(args), rc, err))
    return json.loads(out)


def client_address(text):
    """managerd's announced address as Python's address argument."""
    if text.startswith("tcp://"):
        host, port = text[6:].rsplit(":", 1)
        return (host.strip("[]"), int(port))
    if text.startswith("unix:@"):
        return "\0" + text[6:]
    return text[5:]


def tmpdir():
    d = tempfile.mkdtemp(prefix="md-ops-")
    atexit.register(shutil.rmtree, d, True)
    return d
