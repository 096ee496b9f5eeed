"""attacks.py - the hardening points of issue 8 that need a running
managerd, each written as the attack (tests/security/security.sh runs it).

  cycles      100,000 requests carrying a 1 KiB cyclic argument leave the
              server's RSS flat (point 9)
  idents      two runs of the server never start at the same ident (10)
  keyfolder   a world-writable XDG_RUNTIME_DIR is refused; the generated
              key sits in a private folder, mode 0600, removed at exit (12)
  emptykey    an empty authkey is refused, a short one warned about (13)
  sockmode    Unix socket files are 0600 unless ?mode= says otherwise, in
              a folder no one else can write (14)
  longspec    a --register value longer than 256 bytes (19)

Usage: attacks.py --managerd PATH [TEST...]. Prints one line per check and
"RESULT passed=N failed=M"; exits 1 when anything failed. Loopback and
Unix sockets only; every wait is bounded.
"""
import argparse
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from multiprocessing.managers import BaseManager, SyncManager

KEY = b"security-test-key-0123456789"
passed = 0
failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
        print("ok: " + what)
    else:
        failed += 1
        print("FAIL: " + what)
    sys.stdout.flush()


class Server(object):
    """managerd on a Unix socket in its own folder; env adds to os.environ."""

    def __init__(self, managerd, args=(), env=None, key=KEY, folder=None):
        self.folder = folder or tempfile.mkdtemp(prefix="md-sec-")
        self.address = os.path.join(self.folder, "s.sock")
        e = dict(os.environ)
        e.pop("XDG_RUNTIME_DIR", None)
        if key is not None:
            e["MANAGERD_AUTHKEY"] = key.decode()
        e.update(env or {})
        listen = list(args) if any(a == "--listen" for a in args) else \
            ["--listen", "unix:" + self.address] + list(args)
        wrapper = os.environ.get("MD_SERVER_WRAPPER", "").split()
        self.proc = subprocess.Popen(wrapper + [managerd] + listen, env=e,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = []

    def wait_listening(self, timeout=10.0):
        """True once the server printed 'listening'; False if it exited."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                return False
            self.lines.append(line)
            if "listening on" in line:
                return True
        return False

    def exit_status(self, timeout=10.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stderr(self):
        return self.proc.stderr.read().decode(errors="replace")

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            if self.exit_status(10) is None:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def connect(srv, cls=SyncManager):
    m = cls(address=srv.address, authkey=KEY)
    m.connect()
    return m


def test_cycles(managerd):
    # Under AddressSanitizer freed memory waits in a quarantine (256 MB by
    # default) before it is reused, so RSS rises by what the requests free
    # (7.9-8.5 MB over these 80,000), which is not what this looks for: a
    # small quarantine keeps the sanitizer's checks and lets RSS settle.
    # Ignored by a build without it.
    asan = os.environ.get("ASAN_OPTIONS", "")
    srv = Server(managerd, env={"ASAN_OPTIONS": (asan + ":" if asan else "") +
                                "quarantine_size_mb=4"})
    try:
        check(srv.wait_listening(), "server started")
        lp = connect(srv).list()
        # A 1 KiB list that contains itself: garbage once the call is done.
        arg = [b"x" * 1000]
        arg.append(arg)
        for _ in range(20000):
            lp._callmethod("count", (arg,))
        before = srv.rss_kib()
        for _ in range(80000):
            lp._callmethod("count", (arg,))
        after = srv.rss_kib()
        print("RSS after 20,000 requests %d KiB, after 100,000 %d KiB" % (before, after))
        # Leaking would be about 1 KiB a request: 80 MB here.
        check(after - before < 8 * 1024, "RSS flat over 80,000 cyclic requests")
    finally:
        srv.stop()


def first_ident(managerd):
    srv = Server(managerd)
    try:
        if not srv.wait_listening():
            return None
        return connect(srv).dict()._token.id
    finally:
        srv.stop()


def test_idents(managerd):
    ids = [first_ident(managerd) for _ in range(3)]
    print("first idents of three runs: %s" % ids)
    check(None not in ids and len(set(ids)) == 3, "each run starts at a different ident")
    check(all(len(i) == 12 for i in ids if i), "idents have 12 hex digits, like CPython's")


def test_keyfolder(managerd):
    tmp = tempfile.mkdtemp(prefix="md-sec-xdg-")
    try:
        open_dir = os.path.join(tmp, "open")
        os.mkdir(open_dir)
        os.chmod(open_dir, 0o777)
        srv = Server(managerd, key=None, env={"XDG_RUNTIME_DIR": open_dir})
        status = srv.exit_status(5)
        err = srv.stderr() if status is not None else ""
        srv.stop()
        check(status not in (None, 0) and "XDG_RUNTIME_DIR" in err,
              "a world-writable XDG_RUNTIME_DIR is refused: %r" % err.strip())
        check(os.listdir(open_dir) == [], "no key was written into it")

        srv = Server(managerd, key=None)
        ok = srv.wait_listening()
        keyfile = None
        for line in srv.lines:
            if "authkey file" in line:
                keyfile = line.split("authkey file", 1)[1].strip()
        check(ok and keyfile, "without a key the server generates one")
        if keyfile:
            folder = os.path.dirname(keyfile)
            fst, dst = os.lstat(keyfile), os.lstat(folder)
            check(stat.S_IMODE(fst.st_mode) == 0o600 and fst.st_uid == os.getuid(),
                  "the key file is ours, mode 0600")
            check(stat.S_ISDIR(dst.st_mode) and stat.S_IMODE(dst.st_mode) == 0o700 and
                  dst.st_uid == os.getuid(), "its folder %s is ours, mode 0700" % folder)
            key = open(keyfile, "rb").read()
            m = SyncManager(address=srv.address, authkey=key)
            m.connect()
            check(len(m.dict()._token.id) > 0, "the key in the file works")
        srv.stop()
        check(keyfile and not os.path.exists(keyfile), "the key file is removed at exit")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_emptykey(managerd):
    srv = Server(managerd, key=b"")
    status = srv.exit_status(5)
    err = srv.stderr() if status is not None else ""
    srv.stop()
    check(status not in (None, 0) and "empty" in err, "MANAGERD_AUTHKEY='' is refused")

    tmp = tempfile.mkdtemp(prefix="md-sec-key-")
    try:
        kf = os.path.join(tmp, "key")
        with open(kf, "w") as f:
            f.write("\n")
        srv = Server(managerd, key=None, args=["--authkey-file", kf])
        status = srv.exit_status(5)
        err = srv.stderr() if status is not None else ""
        srv.stop()
        check(status not in (None, 0) and "empty" in err, "an empty key file is refused")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    srv = Server(managerd, key=b"short")
    ok = srv.wait_listening()
    srv.proc.send_signal(signal.SIGTERM)
    srv.exit_status(10)
    err = srv.stderr()
    srv.stop()
    check(ok and "only 5 bytes" in err, "a 5-byte key starts with a warning")


def test_sockmode(managerd):
    srv = Server(managerd)
    try:
        check(srv.wait_listening(), "server started")
        mode = stat.S_IMODE(os.lstat(srv.address).st_mode)
        check(mode == 0o600, "the socket file is 0600 (it is %04o)" % mode)
    finally:
        srv.stop()
    folder = tempfile.mkdtemp(prefix="md-sec-")
    sock = os.path.join(folder, "g.sock")
    srv = Server(managerd, args=["--listen", "unix:%s?mode=0660" % sock], folder=folder)
    try:
        check(srv.wait_listening(), "server started with ?mode=0660")
        mode = stat.S_IMODE(os.lstat(sock).st_mode)
        check(mode == 0o660, "?mode=0660 gives 0660 (it is %04o)" % mode)
    finally:
        srv.stop()
    folder = tempfile.mkdtemp(prefix="md-sec-")
    os.chmod(folder, 0o777)
    srv = Server(managerd, folder=folder)
    status = srv.exit_status(5)
    err = srv.stderr() if status is not None else ""
    srv.stop()
    check(status not in (None, 0) and "writable" in err,
          "a socket in a world-writable folder (not sticky) is refused")


def test_longspec(managerd):
    name = "t" * 300
    srv = Server(managerd, args=["--register", name + "=dict"])
    try:
        ok = srv.wait_listening()
        check(ok, "a 300-byte --register NAME starts (status %s)" % srv.proc.poll())
        if ok:
            class M(BaseManager):
                pass
            M.register(name)
            d = getattr(connect(srv, M), name)()
            d.update(a=1)
            check(d.get("a") == 1, "and its typeid works")
    finally:
        srv.stop()


TESTS = {
    "cycles": test_cycles,
    "idents": test_idents,
    "keyfolder": test_keyfolder,
    "emptykey": test_emptykey,
    "sockmode": test_sockmode,
    "longspec": test_longspec,
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--managerd", required=True)
    ap.add_argument("tests", nargs="*")
    a = ap.parse_args()
    for name in a.tests or sorted(TESTS):
        print("== %s" % name)
        try:
            TESTS[name](a.managerd)
        except Exception as e:   # one broken attack must not hide the others
            check(False, "%s raised %r" % (name, e))
    print("RESULT passed=%d failed=%d" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
