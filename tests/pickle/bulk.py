# bulk.py - big dicts and lists, re-encoded by managerd-pickle, must come
# back byte for byte as CPython pickled them (the encoder writes runs of
# short str and 32-bit ints in one loop: these cases sit on that loop's
# boundaries). Prints "RESULT passed=N failed=M" last. Python 3 only.
#
#   python3 bulk.py      (MD_TOOL: the managerd-pickle to run)
from __future__ import print_function

import os
import pickle
import subprocess
import sys

TOOL = os.environ["MD_TOOL"]
# ints at every opcode width: BININT1, BININT2, BININT, LONG1, and both
# sides of the bound of managerd's pointer-sized ints (62 bits)
INTS = [0, 1, 255, 256, 65535, 65536, 2**31 - 1, 2**31, -1, -2**31, -2**31 - 1,
        2**62 - 1, 2**62, -2**62, -2**62 - 1, 2**63, 10**30]
# At protocol 2 an int of 33 to 64 bits is written as Python 2's cPickle
# writes an 'int' (INT text: managerd's choice for 2.7 clients), so
# those are left out there.
INTS_P2 = [i for i in INTS if -2**31 <= i < 2**31 or not -2**63 <= i < 2**63]


def keyed(n, key_len=8, values=INTS):
    return {("%07d" % i).ljust(key_len, "k"): values[i % len(values)] for i in range(n)}


def shared_values(ints):
    twice = "twice" * 3
    key = "a key and a value"
    d = keyed(1500, 10, ints)
    d["first"] = twice
    d[key] = 7
    d["\u00e9t\u00e9"] = twice
    d["then"] = key
    d["yes"] = True
    d["half"] = 0.5
    d["none"] = None
    del d["0000500kkk"]
    return d


def cases(ints):
    for n in (1, 2, 999, 1000, 1001, 2000, 2001):
        yield "dict of %d" % n, keyed(n, values=ints)
    for key_len in (253, 254, 255, 256, 257):
        yield "300 keys of %d bytes" % key_len, keyed(300, key_len, values=ints)
    yield "non-ASCII keys of 255 and 256 bytes", {"\u00e9" * 127 + "a": 1, "\u00e9" * 128: 2,
                                                   "\u00e9" * 127 + "ab": 3}
    yield "9,000 entries across frames", keyed(9000, 9, values=ints)
    yield "values met twice", shared_values(ints)
    big = keyed(3000, 12, values=ints)
    yield "keys", list(big)
    yield "keys with one met twice", list(big) + [next(iter(big))]
    yield "items", list(big.items())
    yield "values", list(big.values())
    for n in (1, 1000, 1001):
        yield "%d items" % n, list(keyed(n, values=ints).items())
    pair = ("shared", 1)
    yield "a pair met twice", [pair, ("x", 2), pair]
    yield "pairs of other kinds", [("a", 1.5), (1, "a"), ("b", True), ("c", None), ("d", "e"),
                                   ("f", (1, 2)), ("g", 2**80), ("h", [1]), ("i",)]
    yield "a dict of dicts", {"k%d" % i: {"v": i} for i in range(1200)}
    yield "texts of 255 and 256 bytes", ["x" * 255, "y" * 256] * 300
    yield "a request", (1, "update", (keyed(1000, values=ints),), {})
    for n in (999, 1000, 1001, 2000):
        yield "set of %d" % n, set(range(n))
        yield "frozenset of %d" % n, frozenset("k%d" % i for i in range(n))
        yield "list of %d" % n, list(range(n))


def main():
    passed = failed = 0
    for proto in (2, 3, 4, 5):
        for name, value in cases(INTS_P2 if proto == 2 else INTS):
            want = pickle.dumps(value, proto)
            got = subprocess.run([TOOL, "--protocol", str(proto)], input=want,
                                 stdout=subprocess.PIPE, timeout=60).stdout
            if got == want:
                passed += 1
                continue
            failed += 1
            at = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                      min(len(got), len(want)))
            print("FAIL: %s at protocol %d: %d bytes, CPython %d; first difference at %d"
                  % (name, proto, len(got), len(want), at))
    print("RESULT passed=%d failed=%d" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
