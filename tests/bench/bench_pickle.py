#!/usr/bin/env python3
"""bench_pickle.py - decode and encode throughput of managerd's pickle codec
next to CPython's C pickle (pickle.loads / pickle.dumps), on the same bytes.
A program that prints figures, not a test: it never fails on time.

How to run (from the build folder):

    make bench                               # builds tests/bench/bench_pickle
    python3 $(top_srcdir)/tests/bench/bench_pickle.py [--seconds S] [--build DIR]

--build is the build folder holding tests/bench/bench_pickle (default: the
current folder, then this script's tree). --seconds is the time spent on
each measurement (default 1). The Python that runs this script is the
CPython being compared; run it with another interpreter to compare that
one.

The messages, a realistic mix for a manager server:
  - small request tuples as 3.8+ clients send them, e.g.
    ('7fa6d73f0c40', '__setitem__', ('k', 1), {}) at protocol 4, and the
    same from a 2.7-style protocol 2 pickle;
  - a reply carrying a 100 000-entry dict, one carrying a 100 000-entry
    list of str and one a 100 000-entry list of small (int, str) tuples;
  - m.list(big)'s request: create of a 1 000 000-entry list of ints;
  - a request carrying a 1 MiB bytes payload;
  - a list nested 10 000 deep (managerd's depth limit; built by hand,
    since CPython's pickler cannot write it without a deep recursion).
For each: bytes, then managerd's and CPython's decode rate (MB/s and
messages/s) and the ratio managerd / CPython, then the same for encoding
the decoded value again at the message's protocol. managerd is timed
inside one bench_pickle process (clock_gettime, no process start-up);
CPython with timeit in this process.
"""
import argparse
import os
import pickle
import subprocess
import sys
import tempfile
import timeit


def messages():
    """(name, pickle bytes, protocol) for each message of the mix."""
    out = []
    small = ("7fa6d73f0c40", "__setitem__", ("k", 1), {})
    out.append(("request (p4)", pickle.dumps(small, 4), 4))
    out.append(("request (p2)", pickle.dumps(small, 2), 2))
    getitem = ("7fa6d73f0c40", "__getitem__", ("payload",), {})
    out.append(("getitem req (p4)", pickle.dumps(getitem, 4), 4))
    reply = ("#RETURN", (1, 2.5, "text", b"bytes", [1, 2, 3], {"k": "v"}, None, True))
    out.append(("mixed reply (p4)", pickle.dumps(reply, 4), 4))
    big = {"key%d" % i: (i if i % 3 == 0 else i * 0.5 if i % 3 == 1 else "v%d" % i)
           for i in range(100000)}
    out.append(("100k dict (p4)", pickle.dumps(("#RETURN", big), 4), 4))
    strs = ["item%06d" % i for i in range(100000)]
    out.append(("100k str list (p4)", pickle.dumps(("#RETURN", strs), 4), 4))
    tups = [(i, "t%d" % i) for i in range(100000)]
    out.append(("100k tuple list (p4)", pickle.dumps(("#RETURN", tups), 4), 4))
    # m.list(big) as bench_bulk.py sends it: a create request of 1M ints.
    create = (None, "create", ("list", list(range(1000000))), {})
    out.append(("1M int list req (p4)", pickle.dumps(create, 4), 4))
    blob = ("7fa6d73f0c40", "__setitem__", ("blob", os.urandom(1 << 20)), {})
    out.append(("1 MiB bytes (p4)", pickle.dumps(blob, 4), 4))
    depth = 10000
    deep = b"\x80\x04" + b"]" * depth + b"a" * (depth - 1) + b"."
    out.append(("10k-deep list (p4)", deep, 4))
    return out


def time_python(fn, seconds):
    """(runs, elapsed seconds) like bench_pickle's loop: batches of
    doubling size until the budget is spent."""
    timer = timeit.Timer(fn)
    runs, batch, elapsed = 0, 1, 0.0
    while elapsed < seconds:
        elapsed += timer.timeit(batch)
        runs += batch
        batch = min(batch * 2, 1 << 20)
    return runs, elapsed


def time_managerd(binary, data, protocol, seconds):
    with tempfile.NamedTemporaryFile(suffix=".pickle", delete=False) as f:
        f.write(data)
        path = f.name
    try:
        p = subprocess.run([binary, path, str(seconds), str(protocol)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    finally:
        os.unlink(path)
    if p.returncode != 0:
        return None, p.stderr.decode(errors="replace").strip()
    fields = dict(kv.split("=") for kv in p.stdout.decode().split())
    return fields, None


def rate(nbytes, runs, secs):
    """(MB/s, messages/s)"""
    if not runs or secs <= 0:
        return None
    per_s = runs / secs
    return nbytes * per_s / 1e6, per_s


def fmt(r):
    return "%9.1f %11.0f" % r if r else "%9s %11s" % ("n/a", "n/a")


def ratio(a, b):
    return "%6.2fx" % (a[1] / b[1]) if a and b else "%7s" % "n/a"


def find_binary(build):
    here = os.path.dirname(os.path.abspath(__file__))
    for folder in ([build] if build else []) + [os.getcwd(), os.path.join(here, "..", "..")]:
        path = os.path.join(folder, "tests", "bench", "bench_pickle")
        if os.access(path, os.X_OK):
            return path
    sys.exit("bench_pickle.py: tests/bench/bench_pickle not found; run `make bench` "
             "in the build folder (or pass --build DIR)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--build")
    args = ap.parse_args()
    binary = find_binary(args.build)
    sys.setrecursionlimit(100000)
    print("managerd: %s" % binary)
    print("CPython:  %s (%s)" % (sys.version.split()[0], sys.executable))
    print()
    head = "%-19s %9s | %-21s %-21s %7s | %-21s %-21s %7s" % (
        "message", "bytes", "decode managerd", "decode CPython", "ratio",
        "encode managerd", "encode CPython", "ratio")
    print(head)
    print("%-19s %9s | %-21s %-21s %7s | %-21s %-21s %7s" % (
        "", "", "MB/s       msg/s", "MB/s       msg/s", "", "MB/s       msg/s",
        "MB/s       msg/s", ""))
    print("-" * len(head))
    notes = []
    for name, data, protocol in messages():
        md, error = time_managerd(binary, data, protocol, args.seconds)
        if md is None:
            md_dec = md_enc = None
            notes.append("%s: managerd: %s" % (name, error))
        else:
            md_dec = rate(len(data), int(md["decode_runs"]), float(md["decode_s"]))
            md_enc = rate(int(md["encoded_bytes"]), int(md["encode_runs"]), float(md["encode_s"]))
        value = pickle.loads(data)
        py_dec = rate(len(data), *time_python(lambda: pickle.loads(data), args.seconds))
        try:
            encoded = pickle.dumps(value, protocol)
            py_enc = rate(len(encoded), *time_python(lambda: pickle.dumps(value, protocol),
                                                     args.seconds))
        except RecursionError as e:
            py_enc = None
            notes.append("%s: CPython cannot encode it: RecursionError (%s)" % (name, e))
        print("%-19s %9d | %s %s %s | %s %s %s" % (
            name, len(data), fmt(md_dec), fmt(py_dec), ratio(md_dec, py_dec),
            fmt(md_enc), fmt(py_enc), ratio(md_enc, py_enc)))
        sys.stdout.flush()
    print()
    print("ratio: managerd's messages/s divided by CPython's (above 1: managerd is faster).")
    for n in notes:
        print("note: " + n)


if __name__ == "__main__":
    main()
