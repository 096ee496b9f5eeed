# repr.py - managerd prints builtin values exactly as Python 3 does:
# `managerd-pickle --repr --stream` gives repr(value) and `--str --stream`
# gives str(value), byte for byte (UTF-8; lone surrogates as Python's
# 'surrogatepass' writes them), for random builtin values.
#
#   python3 repr.py [COUNT]        (the newest Python 3; default 3000)
#
# The reference is the Python running this script: repr of str depends on
# its Unicode database (which code points are printable), of floats on its
# shortest-repr algorithm.
#
# Sets: repr(set) lists the items in iteration order, which depends on
# CPython's hash table (and, for str, on PYTHONHASHSEED). pickle writes a
# set's items in that same iteration order (ADDITEMS batches at protocol
# 4+, `set([items])` below), managerd keeps sets in insertion order, so
# managerd's repr follows Python's for any set. The sets of str here make
# iteration order differ from the order the generator inserted them, so a
# managerd that sorted or rehashed would fail.
#
# Standard-library values (datetime, Decimal, Fraction, UUID, OrderedDict,
# deque, Counter, defaultdict, range, array) print as Python 3.13 prints
# them, and instances of this file's classes (dict and __slots__ states,
# also inside sets, frozensets and as dict keys) in Python's default shape
# '<userclasses.Point object at 0x...>': the address is managerd's own, so
# both sides' addresses are masked before comparing.
from __future__ import print_function

import array
import collections
import datetime
import decimal
import fractions
import os
import random
import re
import struct
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
# The client classes of the interop scenario scen_stdvalues.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop"))
import mdpickle  # noqa: E402
from userclasses import Point, Slotted  # noqa: E402
from mdpickle import pickle, ToolError  # noqa: E402

DEFAULT_SEED = 7310

SPECIAL_FLOATS = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 0.1, 0.1 + 0.2, 1.5,
                  1e16, 1e15, 123456789012345678.0, 1e-4, 1e-5, 5e-324, -5e-324,
                  2.2250738585072014e-308, 1.7976931348623157e308, 9007199254740993.0,
                  1e22, 1e23, 100.0, 0.5, 1 / 3.0, 2.0 ** 63, -2.0 ** 1023]
EXC_CLASSES = [KeyError, ValueError, RuntimeError, IndexError, TypeError, AttributeError,
               StopIteration, ZeroDivisionError, Exception, LookupError, NotImplementedError,
               AssertionError, OverflowError]
QUOTES = ["'", '"', "\\", "\t", "\n", "\r", "\x00", "\x7f", " "]
ADDRESS = re.compile(rb" object at 0x[0-9a-f]+>")


class Gen(object):
    def __init__(self, rng):
        self.rng = rng
        self.proto = 2

    def below(self, n):
        return int(self.rng.random() * n)

    def floating(self):
        r = self.rng.random()
        if r < 0.3:
            return self.rng.choice(SPECIAL_FLOATS)
        if r < 0.55:  # every magnitude, both signs
            v = float("%de%d" % (self.rng.randint(1, 99999), self.rng.randint(-330, 310)))
            return -v if self.rng.random() < 0.5 else v
        if r < 0.7:
            return self.rng.uniform(-1e6, 1e6)
        return struct.unpack("<d", struct.pack("<Q", self.rng.getrandbits(64)))[0]

    def integer(self):
        r = self.rng.random()
        if r < 0.4:
            return self.rng.randint(-1000, 1000)
        if r < 0.7:
            return self.rng.randint(-2 ** 64, 2 ** 64)
        if r < 0.95:
            v = self.rng.getrandbits(self.rng.choice([65, 100, 1000, 5000, 14000]))
            return -v if self.rng.random() < 0.5 else v
        return self.rng.choice([10 ** 4299, -10 ** 4299, 10 ** 4299 - 1])  # 4300 digits

    def codepoint(self):
        r = self.rng.random()
        if r < 0.3:
            return 0x20 + self.below(0x5f)
        if r < 0.45:
            return ord(self.rng.choice(QUOTES))
        if r < 0.55:
            return self.below(0x100)            # C0, C1 controls, latin-1
        if r < 0.7:
            return self.below(0x10000)          # BMP: surrogates, private use
        if r < 0.8:
            return self.rng.choice([0xa0, 0xad, 0x2028, 0x2029, 0x200b, 0xfeff, 0x3000,
                                    0x1680, 0x85, 0xe000, 0xfffe, 0xffff, 0x1f600,
                                    0xe0001, 0xf0000, 0x10ffff, 0x30000, 0x2fa1d])
        return self.below(0x110000)             # anything, mostly unassigned

    def text(self):
        n = self.below(12) if self.rng.random() < 0.9 else self.below(200)
        return "".join(chr(self.codepoint()) for _ in range(n))

    def raw(self):
        n = self.below(12) if self.rng.random() < 0.9 else self.below(300)
        out = bytearray()
        for _ in range(n):
            if self.rng.random() < 0.3:
                out += self.rng.choice(QUOTES).encode()
            else:
                out.append(self.below(256))
        return bytes(out)

    def timezone(self):
        r = self.rng.random()
        if r < 0.3:
            return datetime.timezone.utc
        off = datetime.timedelta(minutes=self.rng.randint(-1439, 1439),
                                 seconds=self.rng.choice([0, 0, 7]),
                                 microseconds=self.rng.choice([0, 0, 0, 5]))
        if r < 0.6:
            return datetime.timezone(off)
        return datetime.timezone(off, self.text()[:5])

    def stdlib_hashable(self):
        """A hashable standard-library value (value_std.c)."""
        rng = self.rng
        r = self.below(9)
        tz = self.timezone() if rng.random() < 0.4 else None
        if r == 0:
            return datetime.date(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28))
        if r == 1:
            return datetime.time(self.below(24), self.below(60), rng.choice([0, self.below(60)]),
                                 rng.choice([0, 0, self.below(1000000)]), tz)
        if r == 2:
            return datetime.datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28),
                                     self.below(24), self.below(60),
                                     rng.choice([0, self.below(60)]),
                                     rng.choice([0, 0, self.below(1000000)]), tz)
        if r == 3:
            return datetime.timedelta(rng.randint(-999999999, 999999999) if rng.random() < 0.2
                                      else rng.randint(-3, 3),
                                      self.below(86400), rng.choice([0, self.below(1000000)]))
        if r == 4:
            return self.timezone()
        if r == 5:
            return decimal.Decimal(rng.choice([
                "1.10", "-0", "0E-8", "1E+100", "NaN", "-Infinity", "0.000001",
                "%d.%dE%d" % (self.integer(), self.below(1000), rng.randint(-30, 30)),
                "%d" % self.integer()]))
        if r == 6:
            return fractions.Fraction(self.integer(), rng.choice([1, 2, 3, 10 ** 20 + 7]))
        if r == 7:
            return uuid.UUID(int=rng.getrandbits(128))
        return range(rng.randint(-5, 5), rng.randint(-50, 50), rng.choice([1, 1, 2, -3]))

    def stdlib_container(self, depth):
        rng = self.rng
        r = self.below(6)
        n = self.below(5)
        if r == 0:
            od = collections.OrderedDict((self.hashable(), self.value(depth + 1)) for _ in range(n))
            if rng.random() < 0.1:
                od["me"] = od          # prints as OrderedDict({..., 'me': ...})
            return od
        if r == 1:
            dq = collections.deque([self.value(depth + 1) for _ in range(n)],
                                   rng.choice([None, None, 0, 2, 10]))
            if dq.maxlen is None and rng.random() < 0.1:
                dq.append(dq)          # prints as deque([..., [...]])
            return dq
        if r == 2:
            return collections.Counter(dict((self.hashable(), rng.choice(
                [self.below(5), -1, 2.5, self.below(5)])) for _ in range(n)))
        if r == 3:
            return collections.defaultdict(rng.choice([int, list, set, None]),
                                           ((self.hashable(), self.value(depth + 1))
                                            for _ in range(n)))
        if r == 4:
            code = rng.choice("bBhHiIlLqQfd")
            if code in "fd":
                items = [self.rng.choice([0.5, -1.25, 1e10, float("inf"), self.floating()])
                         for _ in range(n)]
            else:
                items = [self.below(100) for _ in range(n)]
            return array.array(code, items)
        return self.instance(depth)

    def instance(self, depth):
        # Python pickles a __slots__ class without __getstate__ from
        # protocol 2 only.
        if self.rng.random() < 0.6 or self.proto < 2:
            return Point(self.hashable(), self.value(depth + 1))
        s = Slotted(self.hashable())
        if self.rng.random() < 0.5:
            s.b = self.value(depth + 1)
        return s

    def exception(self):
        cls = self.rng.choice(EXC_CLASSES)
        r = self.rng.random()
        if r < 0.2:
            return KeyError("x")
        if r < 0.3:
            return ValueError(1, 2)
        args = [self.scalar() for _ in range(self.below(4))]
        e = cls(*args)
        if self.rng.random() < 0.1:
            e.note = "state"   # BUILD state: not part of repr or str
        return e

    def scalar(self):
        r = self.rng.random()
        if r < 0.05:
            return None
        if r < 0.1:
            return self.rng.random() < 0.5
        if r < 0.3:
            return self.integer()
        if r < 0.5:
            return self.floating()
        if r < 0.7:
            return self.text()
        if r < 0.82:
            return self.raw()
        if r < 0.9:
            return complex(self.floating(), self.floating())
        if r < 0.94:
            return bytearray(self.raw())
        if r < 0.955:
            return self.stdlib_hashable()
        if r < 0.97:
            return slice(self.rng.choice([None, self.integer()]),
                         self.rng.choice([None, self.integer(), self.text()]),
                         self.rng.choice([None, 1, -1, 0.5]))
        return self.exception()

    def hashable(self, depth=0):
        r = self.rng.random()
        if depth > 2 or r < 0.8:
            while True:
                v = self.scalar()
                if not isinstance(v, (bytearray, slice, BaseException)):
                    return v
        if r < 0.85:
            return tuple(self.hashable(depth + 1) for _ in range(self.below(4)))
        if r < 0.9:
            return self.instance(3)   # an instance as a set member or dict key
        return frozenset(self.hashable(depth + 1) for _ in range(self.below(4)))

    def value(self, depth=0):
        r = self.rng.random()
        if depth > 3 or r < 0.35:
            return self.scalar()
        kind = self.rng.choice(["list", "tuple", "tuple1", "dict", "set", "strset",
                                "frozenset", "empty", "recursive", "stdlib", "stdlib"])
        n = self.below(6)
        if kind == "list":
            return [self.value(depth + 1) for _ in range(n)]
        if kind == "tuple":
            return tuple(self.value(depth + 1) for _ in range(n))
        if kind == "tuple1":
            return (self.value(depth + 1),)
        if kind == "dict":
            return dict((self.hashable(), self.value(depth + 1)) for _ in range(n))
        if kind == "set":
            return set(self.hashable() for _ in range(n))
        if kind == "strset":
            return set("%s%d" % (self.text()[:3], i) for i in range(n + 3))
        if kind == "frozenset":
            return frozenset(self.hashable() for _ in range(n))
        if kind == "stdlib":
            return self.stdlib_container(depth)
        if kind == "empty":
            return self.rng.choice([[], (), {}, set(), frozenset(), "", b"", bytearray()])
        lst = [self.scalar()]
        if self.rng.random() < 0.5:
            lst.append(lst)                  # [x, [...]]
            return lst
        d = {"k": lst}
        d["me"] = d                          # {'k': [...], 'me': {...}}
        return d


def check(tally, mode, values, payloads):
    fn = repr if mode == "--repr" else str
    try:
        results = mdpickle.stream([mode], payloads)
    except ToolError as e:
        tally.fail("%s: %s" % (mode, e))
        return
    for i, (v, (ok, out)) in enumerate(zip(values, results)):
        want = ADDRESS.sub(b" object at 0x?>", fn(v).encode("utf-8", "surrogatepass"))
        out = ADDRESS.sub(b" object at 0x?>", out) if ok else out
        if not ok:
            tally.fail("%s value %d: managerd-pickle refused it: %s; expected %s" % (
                mode, i, out.decode("utf-8", "replace"), mdpickle.short(want)))
        elif out != want:
            k = next((j for j in range(min(len(out), len(want))) if out[j] != want[j]),
                     min(len(out), len(want)))
            tally.fail("%s value %d differs at byte %d:\n  python:   %s\n  managerd: %s" % (
                mode, i, k, mdpickle.short(want[max(0, k - 40):k + 80]),
                mdpickle.short(out[max(0, k - 40):k + 80])))
        else:
            tally.ok()


def main(argv):
    seed = int(os.environ.get("MD_SEED") or DEFAULT_SEED)
    count = int(argv[1]) if len(argv) > 1 else 3000
    label = "repr %d.%d" % sys.version_info[:2]
    print("%s: seed %d (MD_SEED overrides), %d values" % (label, seed, count))
    tally = mdpickle.Tally(label)
    rng = random.Random(seed)
    gen = Gen(rng)
    values, payloads = [], []
    for i in range(count):
        gen.proto = rng.randint(0, pickle.HIGHEST_PROTOCOL)
        v = gen.value()
        values.append(v)
        payloads.append(pickle.dumps(v, gen.proto))
    check(tally, "--repr", values, payloads)
    check(tally, "--str", values, payloads)
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
