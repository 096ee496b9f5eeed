"""Logs: a line per connection opened and closed, --log-format json (every
line one JSON object), --log-file and SIGHUP reopening it after a
rotation, as logrotate does (move, then signal)."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from opslib import KEY, check, finish, start_managerd, stop, tmpdir  # noqa: E402

CLIENT = r"""
import sys
from multiprocessing.managers import SyncManager
h, p = sys.argv[1].rsplit(':', 1)
m = SyncManager(address=(h, int(p)), authkey=sys.argv[2].encode()); m.connect()
d = m.dict(); d['x'] = 1
"""


def run_client(hostport):
    return subprocess.run([sys.executable, "-c", CLIENT, hostport, KEY]).returncode == 0


def read_json_lines(path):
    with open(path) as f:
        lines = f.read().splitlines()
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(None)
    return lines, parsed


def wait_for(path, text, deadline=10.0):
    end = time.time() + deadline
    while time.time() < end:
        if os.path.exists(path) and text in open(path).read():
            return True
        time.sleep(0.05)
    return False


def main():
    d = tmpdir()
    log = os.path.join(d, "managerd.log")
    proc, addrs = start_managerd(["--listen", "127.0.0.1:0", "--log-format", "json",
                                  "--log-file", log], 1)
    hostport = addrs[0][len("tcp://"):]
    try:
        check(run_client(hostport), "a Python client ran")
        check(wait_for(log, "connection closed"), "the log file gets the connection lines")
        lines, parsed = read_json_lines(log)
        check(lines and all(p is not None for p in parsed), "every line is one JSON object")
        check(all(set(p) >= {"time", "level", "msg"} for p in parsed if p),
              "each has time, level and msg")
        opened = [p for p in parsed if p and "connection opened" in p["msg"]]
        closed = [p for p in parsed if p and "connection closed" in p["msg"]]
        check(len(opened) >= 3 and all(p["level"] == "info" for p in opened),
              "a line per connection opened, at info (%d)" % len(opened))
        check(len(closed) >= 2, "a line per connection closed (%d)" % len(closed))
        before = len(lines)
        os.rename(log, log + ".1")
        proc.send_signal(signal.SIGHUP)
        check(wait_for(log, "log file reopened"), "SIGHUP makes a new log file")
        check(run_client(hostport), "a second client ran")
        check(wait_for(log, "connection opened"), "new lines go to the new file")
        with open(log + ".1") as f:
            check(len(f.read().splitlines()) == before, "the rotated file gets nothing more")
        check(proc.poll() is None, "managerd still runs after SIGHUP")
    finally:
        stop(proc)
    lines, parsed = read_json_lines(log)
    check(any(p and p["msg"] == "stopped" for p in parsed), "the last line says stopped")
    finish()


if __name__ == "__main__":
    main()
