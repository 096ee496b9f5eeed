# roundtrip.py - random values pickled by this Python at every protocol it
# has, re-encoded by managerd-pickle, load back equal: same types, same
# shared references and cycles.
#
#   python roundtrip.py [COUNT]
#
# COUNT values (default 10000, or MD_ROUNDTRIP_COUNT) are generated for
# each protocol 0..pickle.HIGHEST_PROTOCOL from a fixed seed (printed;
# MD_SEED overrides). The values of protocol p are pickled at p and sent
# through ONE `managerd-pickle --stream --protocol P` process, P =
# max(2, p) (always 2 under Python 2.7); each result is loaded and
# compared with the original by mdpickle.compare (canonical forms: exact
# types, NaN equal to NaN, -0.0 apart from 0.0, the identity structure of
# every container; and == on the rebuilt values where Python's == means
# something).
#
# Notes on what "equal" means:
#  - Python 2.7: int and long are one type (managerd, like Python 3, has
#    one int; 2.7 reads LONG1 as long; tests/docs/protocol.md 5.6). str and unicode
#    are distinct, and must stay so.
#  - Python 3 loads the results with encoding='bytes': at protocol 2,
#    managerd writes bytes as a Python 2 str (for 2.7 clients), which
#    Python 3 reads back as bytes only with that encoding.
#  - Python 3 cannot pickle a __slots__ class without __getstate__ at
#    protocols 0 and 1, so Slotted only appears from protocol 2.
#  - Instances of the test's classes (dict and __slots__ states) also
#    appear as members of sets and frozensets and as dict keys (Python
#    hashes them by identity; managerd structurally, value_ops.c), and the
#    standard-library values managerd gives Python's semantics
#    (value_std.c) appear everywhere: datetime's types (timezone-aware
#    ones from Python 3), Decimal, Fraction, UUID, OrderedDict, deque,
#    Counter, defaultdict, array, range (Python 3).
from __future__ import print_function

import array
import collections
import datetime
import decimal
import fractions
import os
import random
import struct
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdpickle  # noqa: E402
from mdpickle import PY2, pickle, ToolError  # noqa: E402

DEFAULT_SEED = 20240611

if PY2:
    unichr_ = unichr  # noqa: F821
    long_ = long  # noqa: F821
else:
    unichr_ = chr
    long_ = int


# ---------------------------------------------------------------------------
# The test's own classes (pickled by reference as __main__.X)
# ---------------------------------------------------------------------------

class Plain(object):
    """A plain class: NEWOBJ (or copyreg._reconstructor) + BUILD __dict__."""

    def __init__(self, **attrs):
        self.__dict__.update(attrs)


class Slotted(object):
    """BUILD with a (None, slots) state."""
    __slots__ = ("a", "b")


class Reduced(object):
    """__reduce__: REDUCE of the class with arguments, BUILD state."""

    def __init__(self, a, b):
        self.a = a
        self.b = b

    def __reduce__(self):
        return (Reduced, (self.a, None), {"b": self.b})


class Bag(list):
    """A list subclass: the items come as APPENDS on the object."""


if not PY2:
    class KwNew(object):
        """__getnewargs_ex__: NEWOBJ_EX at protocol 4 and up."""

        def __new__(cls, a, b=None):
            self = object.__new__(cls)
            self.a = a
            self.b = b
            return self

        def __getnewargs_ex__(self):
            return ((self.a,), {"b": self.b})
else:
    class Old:
        """A Python 2 old-style class: OBJ (INST at protocol 0)."""

        def __init__(self, x=None):
            self.x = x


# ---------------------------------------------------------------------------
# Generator
# ---------------------------------------------------------------------------

SPECIAL_FLOATS = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), 1.5, -2.25,
                  1e308, -1e-308, 5e-324, 2.0 ** 53, 0.1, 1e16, 1e-5]
SPECIAL_INTS = [0, 1, -1, 255, 256, -256, 65535, 65536, 2 ** 31 - 1, -2 ** 31,
                2 ** 31, 2 ** 32, 2 ** 63 - 1, -2 ** 63, 2 ** 63, 2 ** 64,
                2 ** 1000, -2 ** 1000, 2 ** 1000 - 1, -(2 ** 2048) + 1]
EXC_CLASSES = [KeyError, ValueError, RuntimeError, IndexError, TypeError,
               AttributeError, StopIteration, ZeroDivisionError, Exception]


class Gen(object):
    def __init__(self, rng, proto):
        self.rng = rng
        self.proto = proto
        self.maxuni = sys.maxunicode

    # -- scalars ------------------------------------------------------------

    def integer(self):
        rng = self.rng
        r = rng.random()
        if r < 0.35:
            return rng.randint(-300, 300)
        if r < 0.6:
            return rng.choice(SPECIAL_INTS)
        if r < 0.8:
            return rng.randint(-2 ** 64, 2 ** 64)
        bits = rng.choice([100, 1000, 1001, 2047, 4000])
        v = rng.getrandbits(bits)
        return -v if rng.random() < 0.5 else v

    def floating(self):
        rng = self.rng
        r = rng.random()
        if r < 0.3:
            return rng.choice(SPECIAL_FLOATS)
        if r < 0.6:
            return rng.uniform(-1e6, 1e6)
        # Any bit pattern: subnormals, huge, NaNs with payloads.
        return struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]

    def below(self, n):
        """A random int in [0, n): cheaper than randint, which dominates."""
        return int(self.rng.random() * n)

    def codepoint(self):
        r = self.rng.random()
        if r < 0.45:
            return 0x20 + self.below(0x5f)
        if r < 0.55:
            return (0, 9, 10, 13, 0x1b, 0x7f, 0x5c, 0x27, 0x22)[self.below(9)]
        if r < 0.7:
            return 0x80 + self.below(0x80)
        if r < 0.85:
            c = 0x100 + self.below(0xfefe)
            return c if not 0xd800 <= c <= 0xdfff else 0x20ac
        if r < 0.95 and self.maxuni > 0xffff:
            return 0x10000 + self.below(0x100000)
        if not PY2:
            return 0xd800 + self.below(0x800)  # lone surrogate
        return 0x263a

    def length(self):
        r = self.rng.random()
        if r < 0.85:
            return self.below(13)
        if r < 0.995:
            return 80 + self.below(221)
        return 66000 + self.below(4000)  # written outside any FRAME

    def text(self):
        n = self.length()
        if n > 1000:   # a big one: a random chunk repeated
            chunk = u"".join(unichr_(self.codepoint()) for _ in range(100))
            return (chunk * (n // 100 + 1))[:n]
        return u"".join(unichr_(self.codepoint()) for _ in range(n))

    def raw(self):
        n = self.length()
        data = bytearray(self.below(256) for _ in range(min(n, 300)))
        if self.rng.random() < 0.5:
            data = bytearray(0x20 + b % 0x5f for b in data)
        if n > len(data):
            data = (data * (n // len(data) + 1))[:n]
        return bytes(data)

    def ascii_text(self):
        return "".join(chr(self.rng.randint(0x20, 0x7e)) for _ in range(self.rng.randint(0, 10)))

    def date_like(self):
        rng = self.rng
        r = rng.random()
        if r < 0.33:
            return datetime.date(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28))
        if r < 0.66:
            return datetime.datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28),
                                     rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59),
                                     rng.choice([0, rng.randint(0, 999999)]))
        return datetime.timedelta(days=rng.randint(-999999, 999999),
                                  seconds=rng.randint(0, 86399),
                                  microseconds=rng.randint(0, 999999))

    def stdlib(self):
        """A hashable standard-library value."""
        rng = self.rng
        r = self.below(7)
        if r == 0:
            # (no NaN: Decimal('NaN') != itself, so == could not judge)
            return decimal.Decimal(rng.choice(["1.10", "-0", "0E-8", "1E+100", "-Infinity",
                                               "2", "0.000001"]))
        if r == 1:
            # (2.7's Fraction.__hash__ overflows on huge numerators)
            num = rng.randint(-10 ** 9, 10 ** 9) if PY2 else self.integer()
            return fractions.Fraction(num, rng.choice([1, 2, 3, 10 ** 20 + 7]))
        if r == 2:
            return uuid.UUID(int=rng.getrandbits(128))
        if r == 3:
            return datetime.time(self.below(24), self.below(60), self.below(60),
                                 rng.choice([0, self.below(1000000)]))
        if PY2:
            return self.date_like()
        tz = rng.choice([datetime.timezone.utc,
                         datetime.timezone(datetime.timedelta(minutes=rng.randint(-1439, 1439))),
                         datetime.timezone(datetime.timedelta(hours=1), "CET")])
        if r == 4:
            return tz
        if r == 5:
            return datetime.datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28),
                                     self.below(24), self.below(60), tzinfo=tz)
        return range(rng.randint(-5, 5), rng.randint(-50, 50), rng.choice([1, 2, -3]))

    def instance(self, depth):
        """An instance to put in a set or use as a dict key. Each has its
        own serial number: managerd compares instances by their state, so
        two with equal states would be one set member there (README)."""
        self.serial = getattr(self, "serial", 0) + 1
        if self.proto >= 2 and self.rng.random() < 0.4:
            s = Slotted()
            s.a = (self.serial, self.hashable(depth + 1))
            return s
        p = Plain(n=self.serial)
        for i in range(self.below(3)):
            setattr(p, "a%d" % i, self.hashable(depth + 1))
        return p

    def dec(self):
        rng = self.rng
        return decimal.Decimal("%s%d.%dE%d" % (rng.choice(["", "-"]), rng.randint(0, 10 ** 20),
                                               rng.randint(0, 999), rng.randint(-50, 50)))

    def exception(self):
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            return KeyError("x")
        if r < 0.5:
            return ValueError(1, 2)
        cls = rng.choice(EXC_CLASSES)
        e = cls(*[self.hashable(2) for _ in range(rng.randint(0, 3))])
        if rng.random() < 0.2:
            e.extra = self.scalar_plain()   # BUILD state on an exception
        return e

    def scalar_plain(self):
        rng = self.rng
        r = rng.random()
        if r < 0.05:
            return None
        if r < 0.1:
            return rng.random() < 0.5
        if r < 0.35:
            return self.integer()
        if r < 0.5:
            return self.floating()
        if r < 0.7:
            return self.text()
        if r < 0.8 and PY2:
            return self.raw()   # Python 2 str
        if r < 0.8:
            return self.raw()   # bytes
        if r < 0.85:
            return complex(self.floating(), self.floating())
        if r < 0.9:
            return self.date_like()
        if r < 0.93:
            return self.dec()
        if r < 0.95:
            return self.stdlib()
        if PY2:
            return self.ascii_text()   # ASCII Python 2 str
        return self.text()

    def scalar(self):
        r = self.rng.random()
        if r < 0.85:
            return self.scalar_plain()
        if r < 0.9:
            return bytearray(self.raw())
        if r < 0.95:
            return slice(self.hashable(1), self.scalar_plain(), self.rng.choice([None, 1, -1, 2]))
        return self.exception()

    def hashable(self, depth):
        rng = self.rng
        r = rng.random()
        if depth >= 3 or r < 0.75:
            v = self.scalar_plain()
            while isinstance(v, float) and v != v and rng.random() < 0.9:
                v = self.scalar_plain()
            return v
        if r < 0.85:
            return tuple(self.hashable(depth + 1) for _ in range(rng.randint(0, 4)))
        if r < 0.9:
            return self.instance(depth)
        return frozenset(self.hashable(depth + 1) for _ in range(rng.randint(0, 4)))

    # -- containers ---------------------------------------------------------

    def value(self):
        """A new top-level value."""
        self.shared = []     # mutable containers made so far: shared refs
        self.ancestors = []  # lists being filled: cycles
        # > 0 while generating the arguments of an object Python 2 rebuilds
        # with a call (REDUCE): no cycle or shared reference may reach back
        # into them there (a documented limitation, README).
        self.acyclic = 0
        self.budget = self.rng.randint(1, 60)
        return self.any(0)

    def any(self, depth):
        rng = self.rng
        self.budget -= 1
        r = rng.random()
        if depth >= 5 or self.budget <= 0 or r < 0.4:
            return self.scalar()
        if r < 0.47 and self.shared and not self.acyclic:
            return rng.choice(self.shared)    # the same object again
        if r < 0.5 and self.ancestors and not self.acyclic:
            return rng.choice(self.ancestors)  # a cycle
        return self.container(depth)

    def items(self, depth, lo=0, hi=6):
        return [self.any(depth + 1) for _ in range(self.rng.randint(lo, hi))]

    def container(self, depth):
        rng = self.rng
        kind = rng.choice(["list", "list", "tuple", "tuple", "dict", "dict", "set",
                           "frozenset", "odict", "plain", "slotted", "reduced", "bag",
                           "kwnew", "old", "special", "collections"])
        if kind == "list":
            lst = []
            self.ancestors.append(lst)
            lst.extend(self.items(depth))
            self.ancestors.pop()
            self.shared.append(lst)
            return lst
        if kind == "tuple":
            t = tuple(self.items(depth))
            self.shared.append(t)
            return t
        if kind == "dict":
            d = {}
            self.ancestors.append(d)
            for _ in range(rng.randint(0, 6)):
                d[self.hashable(1)] = self.any(depth + 1)
            self.ancestors.pop()
            self.shared.append(d)
            return d
        if kind in ("set", "frozenset"):
            items = [self.hashable(1) for _ in range(rng.randint(0, 6))]
            return set(items) if kind == "set" else frozenset(items)
        if kind == "odict":
            od = collections.OrderedDict()
            # Python 2 pickles an OrderedDict as REDUCE(cls, ([items],)):
            # a cycle from its items back to a container around it is a
            # cycle through the arguments of a call, which managerd keeps
            # as data but cannot replay in Python's order (a documented
            # limitation, README). Python 3 uses SETITEMS: cycles allowed.
            self.acyclic += PY2
            for _ in range(rng.randint(0, 5)):
                od[self.hashable(1)] = self.any(depth + 1)
            self.acyclic -= PY2
            if not PY2 and rng.random() < 0.1:
                od["me"] = od   # a cycle through SETITEMS on an opaque object
            self.shared.append(od)
            return od
        if kind == "plain":
            p = Plain()
            self.ancestors.append(p)
            for i in range(rng.randint(0, 4)):
                setattr(p, "a%d" % i, self.any(depth + 1))
            self.ancestors.pop()
            if rng.random() < 0.1:
                p.me = p
            self.shared.append(p)
            return p
        if kind == "slotted" and self.proto >= 2:
            s = Slotted()
            s.a = self.any(depth + 1)
            if rng.random() < 0.7:
                s.b = self.any(depth + 1)
            self.shared.append(s)
            return s
        if kind == "reduced":
            self.acyclic += 1
            r = Reduced(self.any(depth + 1), self.any(depth + 1))
            self.acyclic -= 1
            return r
        if kind == "bag":
            # below protocol 2 a list subclass is pickled as
            # copyreg._reconstructor(Bag, list, [items]): a call again
            call = self.proto < 2
            self.acyclic += call
            b = Bag(self.items(depth))
            self.acyclic -= call
            if rng.random() < 0.5:
                b.tag = self.scalar()
            if self.proto >= 2 and rng.random() < 0.1:
                b.append(b)
            self.shared.append(b)
            return b
        if kind == "collections":
            return self.collection(depth)
        if kind == "kwnew" and not PY2:
            k = KwNew(self.any(depth + 1), b=self.any(depth + 1))
            self.shared.append(k)
            return k
        if kind == "old" and PY2:
            o = Old(self.any(depth + 1))
            self.shared.append(o)
            return o
        return self.special(depth)

    def collection(self, depth):
        """deque, Counter, defaultdict or array. Their items come as the
        arguments of a call (REDUCE) in some Pythons: no cycle or shared
        reference reaches back into them (README)."""
        rng = self.rng
        r = self.below(4)
        self.acyclic += 1
        try:
            if r == 0:
                return collections.deque(self.items(depth), rng.choice([None, 0, 2, 10]))
            if r == 1:
                return collections.Counter(dict((self.hashable(1), rng.choice(
                    [self.below(5), -1, 2.5])) for _ in range(rng.randint(0, 5))))
            if r == 2:
                # (not int under 2.7: managerd, like Python 3, writes the
                # global int as __builtin__.long at protocol 2)
                d = collections.defaultdict(rng.choice([list, set, None] + ([] if PY2 else [int])))
                for _ in range(rng.randint(0, 5)):
                    d[self.hashable(1)] = self.any(depth + 1)
                return d
            code = rng.choice("bBhHiIlLfd")
            if code in "fd":
                return array.array(code, [rng.choice([0.5, -1.25, 1e10, float("inf")])
                                          for _ in range(self.below(5))])
            return array.array(code, [self.below(100) for _ in range(self.below(5))])
        finally:
            self.acyclic -= 1

    def special(self, depth):
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            lst = [self.scalar()]
            lst.append(lst)               # a list containing itself
            return lst
        if r < 0.5:
            t = ([], self.scalar())       # a recursive tuple (POP / BINGET)
            t[0].append(t)
            return t
        if r < 0.7:
            lst = self.items(depth, 0, 3)
            return (lst, lst, [lst])      # the same list twice
        if r < 0.85:
            d = {"k": self.scalar()}
            d["self"] = d
            return d
        return self.exception()


# ---------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------

def describe(value, data, out):
    return "value %s; pickle %s; managerd %s" % (
        mdpickle.short(value, 200), mdpickle.short(data, 200), mdpickle.short(out, 200))


def run_protocol(tally, seed, proto, count):
    gen = Gen(random.Random(seed * 10 + proto), proto)
    values, payloads = [], []
    for i in range(count):
        v = gen.value()
        try:
            payloads.append(pickle.dumps(v, proto))
        except Exception as e:
            tally.fail("protocol %d value %d: this Python cannot pickle the generated value "
                       "(a generator bug): %r: %s" % (proto, i, e, mdpickle.short(v)))
            continue
        values.append(v)
    target = 2 if PY2 else max(2, proto)
    try:
        results = mdpickle.stream(["--protocol", str(target)], payloads)
    except ToolError as e:
        tally.fail("protocol %d: %s" % (proto, e))
        return
    for i, (v, data, (ok, out)) in enumerate(zip(values, payloads, results)):
        what = "protocol %d -> %d value %d" % (proto, target, i)
        if not ok:
            tally.fail("%s: managerd-pickle refused it: %s; %s" % (
                what, out.decode("utf-8", "replace"), describe(v, data, b"")))
            continue
        try:
            loaded = mdpickle.loads(out, None if PY2 else "bytes")
        except Exception as e:
            tally.fail("%s: the result does not load: %r; %s" % (what, e, describe(v, data, out)))
            continue
        diff = mdpickle.compare(v, loaded)
        if diff:
            tally.fail("%s: %s; %s" % (what, diff, describe(v, data, out)))
        else:
            tally.ok()


def main(argv):
    seed = int(os.environ.get("MD_SEED") or DEFAULT_SEED)
    count = int(argv[1]) if len(argv) > 1 else int(os.environ.get("MD_ROUNDTRIP_COUNT") or 10000)
    label = "roundtrip %d.%d" % sys.version_info[:2]
    print("%s: seed %d (MD_SEED overrides), %d values per protocol 0..%d" % (
        label, seed, count, pickle.HIGHEST_PROTOCOL))
    sys.stdout.flush()
    tally = mdpickle.Tally(label)
    sys.setrecursionlimit(10000)
    mdpickle.selftest(tally)
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        run_protocol(tally, seed, proto, count)
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
