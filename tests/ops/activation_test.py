"""Socket activation: managerd serves the sockets passed in LISTEN_FDS,
from a small launcher here (TCP and Unix, LISTEN_FDNAMES) and from
systemd's own systemd-socket-activate; variables meant for another
process are ignored and malformed ones refused. READY=1 reaches
NOTIFY_SOCKET once managerd serves (the unit is Type=notify)."""
import fcntl
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import (KEY, builddir, check, ctl_json, finish, read_addresses, server_env,  # noqa: E402
                    stop, tmpdir)

CLIENT = r"""
import sys
from multiprocessing.managers import SyncManager
a = sys.argv[1]
addr = (a.rsplit(':', 1)[0], int(a.rsplit(':', 1)[1])) if ':' in a else a
m = SyncManager(address=addr, authkey=sys.argv[2].encode()); m.connect()
d = m.dict(); d['x'] = 41; d['x'] += 1
assert d['x'] == 42
"""


def client_ok(address):
    r = subprocess.run([sys.executable, "-c", CLIENT, address, KEY], timeout=60)
    return r.returncode == 0


def managerd():
    return os.path.join(builddir(), "managerd")


def launch(socks, names, pid_ok=True, extra=()):
    """managerd with socks at descriptors 3.. and the LISTEN_* variables."""
    fds = [s.fileno() for s in socks]

    def place():
        # out of the way first, so that no dup2 overwrites another one
        # (and none is a no-op that keeps close-on-exec)
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
        for i, fd in enumerate(high):
            os.dup2(fd, 3 + i)
            os.close(fd)
    pid = "$$" if pid_ok else "1"
    script = 'LISTEN_PID=%s LISTEN_FDS=%d LISTEN_FDNAMES=%s exec "$0" "$@"' % (
        pid, len(socks), names)
    return subprocess.Popen(["sh", "-c", script, managerd()] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server_env(),
                            preexec_fn=place, close_fds=False)


def with_launcher(d):
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    path = os.path.join(d, "act.sock")
    un = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    un.bind(path)
    un.listen(16)
    port = tcp.getsockname()[1]
    proc = launch([tcp, un], "pickle:managerd.socket")
    tcp.close()
    un.close()
    try:
        addrs = read_addresses(proc, 2)
        check(addrs == ["tcp://127.0.0.1:%d" % port, "unix:" + path],
              "both passed sockets are served: %r" % addrs)
        check(client_ok("127.0.0.1:%d" % port), "a Python client over the passed TCP socket")
        check(client_ok(path), "a Python client over the passed Unix socket")
        st = ctl_json("unix:" + path, "stats")
        server = {r["name"]: r["value"] for r in st["server"]}
        check(server["objects"] == 0 and server["connections_total"] > 4,
              "managerctl over the passed socket")
    finally:
        stop(proc)
    out = proc.stdout.read().decode()
    check("127.0.0.1:50000" not in out, "no default listener when sockets are passed")
    check(os.path.exists(path), "the passed socket's file is left to the service manager")


def foreign_variables(d):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    proc = launch([s], "", pid_ok=False, extra=["--listen", "unix:%s/own.sock" % d])
    s.close()
    try:
        addrs = read_addresses(proc, 1)
        check(addrs == ["unix:%s/own.sock" % d], "LISTEN_PID of another process: ignored")
    finally:
        stop(proc)


def malformed():
    env = server_env()
    script = 'LISTEN_PID=$$ LISTEN_FDS=many exec "$0"'
    r = subprocess.run(["sh", "-c", script, managerd()], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=30)
    check(r.returncode != 0 and b"LISTEN_FDS" in r.stderr, "a malformed LISTEN_FDS is refused")


def with_systemd(d):
    tool = shutil.which("systemd-socket-activate")
    if not tool:
        print("FAIL systemd-socket-activate not found (Debian package systemd)")
        failures_add()
        return
    path = os.path.join(d, "sd.sock")
    proc = subprocess.Popen([tool, "-l", path, "-E", "MANAGERD_AUTHKEY", managerd()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=server_env())
    try:
        end = time.time() + 10
        while not os.path.exists(path) and time.time() < end:
            time.sleep(0.05)
        check(client_ok(path), "systemd-socket-activate: the first client starts managerd")
        clients = ctl_json("unix:" + path, "clients")["clients"]
        check(clients and all(c["listener"] == "unix:" + path for c in clients),
              "systemd-socket-activate: managerd serves the passed socket")
    finally:
        stop(proc)


def unit_files(d):
    """The installed unit: systemd-analyze accepts it, it carries the
    hardening, and its ExecStart (the build's managerd for bindir, the
    credential in a folder of ours) serves the socket systemd passes."""
    unit = os.path.join(builddir(), "contrib", "managerd.service")
    sock = os.path.join(os.environ["top_srcdir"], "contrib", "managerd.socket")
    text = open(unit).read()
    for opt in ("Type=notify", "DynamicUser=yes", "NoNewPrivileges=yes", "PrivateTmp=yes", "ProtectHome=yes",
                "ProtectSystem=strict", "LoadCredential=authkey:"):
        check(opt in text, "the unit sets " + opt)
    execstart = [l for l in text.splitlines() if l.startswith("ExecStart=")][0][10:].split()
    local = os.path.join(d, "unit")
    os.mkdir(local)
    with open(os.path.join(local, "managerd.service"), "w") as f:
        f.write(text.replace(execstart[0], managerd()))
    shutil.copy(sock, local)
    analyze = shutil.which("systemd-analyze")
    if analyze:
        r = subprocess.run([analyze, "verify", "--man=no", "managerd.socket", "managerd.service"],
                           cwd=local, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        check(r.returncode == 0, "systemd-analyze verify accepts the units " + r.stdout.decode())
    creds = os.path.join(d, "creds")
    os.mkdir(creds, 0o700)
    with open(os.path.join(creds, "authkey"), "w") as f:
        f.write(KEY + "\n")
    notify = os.path.join(d, "unit-notify")
    rx = notify_socket(notify)
    env = dict(os.environ, CREDENTIALS_DIRECTORY=creds, NOTIFY_SOCKET=notify)
    env.pop("MANAGERD_AUTHKEY", None)
    args = [a.replace("${CREDENTIALS_DIRECTORY}", creds) for a in execstart[1:]]
    path = os.path.join(d, "unit.sock")
    proc = subprocess.Popen([shutil.which("systemd-socket-activate") or "systemd-socket-activate",
                             "-l", path, "-E", "CREDENTIALS_DIRECTORY", "-E", "NOTIFY_SOCKET",
                             managerd()] + args,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        end = time.time() + 10
        while not os.path.exists(path) and time.time() < end:
            time.sleep(0.05)
        check(client_ok(path), "the unit's ExecStart serves the passed socket with the credential")
        check(ready_message(rx) == b"READY=1", "the unit's ExecStart sends READY=1 (Type=notify)")
    finally:
        stop(proc)
        rx.close()


def notify_socket(where):
    """A datagram socket at where ('@' first: the abstract namespace, as
    systemd's own NOTIFY_SOCKET), as a service manager listens."""
    rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.bind("\0" + where[1:] if where.startswith("@") else where)
    rx.settimeout(30)
    return rx


def ready_message(rx):
    try:
        return rx.recv(256)
    except socket.timeout:
        return None


def readiness(d):
    for i, where in enumerate((os.path.join(d, "notify"), "@md-ops-notify-%d" % os.getpid())):
        rx = notify_socket(where)
        path = os.path.join(d, "ready%d.sock" % i)
        proc = subprocess.Popen([managerd(), "--listen", "unix:" + path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=dict(server_env(), NOTIFY_SOCKET=where))
        try:
            check(ready_message(rx) == b"READY=1", "READY=1 at NOTIFY_SOCKET=" + where)
            # ready means serving: no wait for the address line
            check(client_ok(path), "a client right after READY=1 (%s)" % where)
        finally:
            stop(proc)
            rx.close()
    # a service manager that is gone: a warning, and managerd serves
    path = os.path.join(d, "ready-gone.sock")
    proc = subprocess.Popen([managerd(), "--listen", "unix:" + path],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=dict(server_env(), NOTIFY_SOCKET=os.path.join(d, "gone")))
    try:
        read_addresses(proc, 1)
        check(client_ok(path), "a NOTIFY_SOCKET with nobody there does not stop managerd")
    finally:
        stop(proc)
    check(b"ready" in proc.stderr.read(), "... and it is warned about")


def failures_add():
    from opslib import failures
    failures.append("systemd-socket-activate")


def main():
    d = tmpdir()
    with_launcher(d)
    foreign_variables(d)
    malformed()
    with_systemd(d)
    readiness(d)
    unit_files(d)
    finish()


if __name__ == "__main__":
    main()
