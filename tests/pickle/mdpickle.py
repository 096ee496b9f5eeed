# mdpickle.py - helpers shared by the pickle test drivers (fixtures.py,
# roundtrip.py, repr.py, badinput.sh): running managerd-pickle in --stream
# mode, loading pickles safely, and comparing values exactly.
#
# Runs under Python 2.7 and 3.6+ alike.
#
# Comparing two values (an original and what came back through managerd)
# uses two views:
#  - canon(): a canonical form that spells out every type exactly (bool is
#    not int, str is not bytes, float by float.hex so -0.0 != 0.0 and NaN
#    equals NaN), and the identity structure: every container (list, dict,
#    set, tuple, bytearray, object) gets a number the first time the walk
#    meets it and is written as a reference after that. Two values have
#    equal forms only if the map id(original container) -> id(loaded
#    container) is one-to-one and consistent: shared references stay
#    shared, nothing becomes shared that was not, and cycles close on the
#    same container.
#  - norm(): the value rebuilt so that Python's own == is meaningful
#    (exceptions, stand-ins and instances compare by their parts instead of
#    by identity, NaN equals NaN); the drivers check norm(a) == norm(b) too
#    (for acyclic values: == on two distinct cyclic values recurses).
from __future__ import print_function

import collections
import datetime
import decimal
import fractions
import io
import json
import os
import struct
import subprocess
import sys
import types
import uuid

PY2 = sys.version_info[0] == 2
if PY2:
    import cPickle as pickle
    TEXT = unicode  # noqa: F821 (Python 2 name)
    INTS = (int, long)  # noqa: F821
    BYTES = str
else:
    import pickle
    TEXT = str
    INTS = (int,)
    BYTES = bytes

try:
    import array
except ImportError:  # pragma: no cover
    array = None


# ---------------------------------------------------------------------------
# Running the tool
# ---------------------------------------------------------------------------

class ToolError(Exception):
    """managerd-pickle misbehaved as a process: crashed, wrote to stderr,
    exited non-zero, or broke the --stream record format."""


def tool_path():
    path = os.environ.get("MD_TOOL")
    if not path:
        raise ToolError("MD_TOOL is not set (run through the .sh scripts)")
    return path


def run_tool(args, data, timeout=300):
    """Run managerd-pickle ARGS with DATA on stdin, under coreutils'
    timeout. Returns (exit status, stdout, stderr); a status above 128 or
    negative is a signal, 124 the timeout."""
    cmd = ["timeout", "-k", "5", str(int(timeout)), tool_path()] + list(args)
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out, err = p.communicate(data)
    return p.returncode, out, err


def stream(args, payloads, timeout=300):
    """Send every payload as one --stream record to ONE managerd-pickle
    process; returns [(ok, result bytes)] in order. Raises ToolError when
    the process fails as a process (any stderr output counts: sanitizer
    reports go there)."""
    chunks = []
    for p in payloads:
        chunks.append(struct.pack(">I", len(p)))
        chunks.append(p)
    rc, out, err = run_tool(list(args) + ["--stream"], b"".join(chunks), timeout)
    what = "managerd-pickle %s --stream" % " ".join(args)
    if rc != 0:
        raise ToolError("%s exited with status %d%s; stderr: %s" % (
            what, rc, " (timeout)" if rc == 124 else
            " (signal)" if rc < 0 or rc > 128 else "", err[-2000:]))
    if err:
        raise ToolError("%s wrote to stderr: %s" % (what, err[-2000:]))
    results = []
    pos = 0
    while pos < len(out):
        if len(out) - pos < 5:
            raise ToolError("%s: truncated record header at output byte %d" % (what, pos))
        status = out[pos:pos + 1]
        (n,) = struct.unpack(">I", out[pos + 1:pos + 5])
        if status not in (b"+", b"-"):
            raise ToolError("%s: bad status byte %r at output byte %d" % (what, status, pos))
        if pos + 5 + n > len(out):
            raise ToolError("%s: truncated record at output byte %d" % (what, pos))
        results.append((status == b"+", out[pos + 5:pos + 5 + n]))
        pos += 5 + n
    if len(results) != len(payloads):
        raise ToolError("%s: %d records in, %d out" % (what, len(payloads), len(results)))
    return results


# ---------------------------------------------------------------------------
# Loading with stand-ins
# ---------------------------------------------------------------------------

# Globals that are never imported when loading fixtures: the client's own
# classes (__main__), everything of multiprocessing (rebuilding a proxy
# would connect to the captured server), and anything that runs commands.
STANDIN_MODULES = frozenset([
    "__main__", "multiprocessing.managers", "multiprocessing.process",
    "multiprocessing.connection", "os", "posix", "nt", "subprocess", "sys",
    "shutil", "socket", "importlib",
])
STANDIN_NAMES = frozenset([
    ("builtins", "eval"), ("builtins", "exec"), ("builtins", "getattr"),
    ("builtins", "__import__"), ("builtins", "open"), ("__builtin__", "eval"),
    ("__builtin__", "getattr"), ("__builtin__", "__import__"),
    ("__builtin__", "open"), ("__builtin__", "execfile"),
])


class StandIn(object):
    """An instance of a class the test will not import: records how the
    unpickler built it."""
    md_module = "?"
    md_name = "?"

    def __new__(cls, *args, **kwargs):
        self = object.__new__(cls)
        self.md_args = args
        self.md_kwargs = kwargs
        self.md_state = None
        self.md_list = []
        self.md_dict = []
        return self

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        self.md_state = state

    def append(self, item):
        self.md_list.append(item)

    def extend(self, items):
        self.md_list.extend(items)

    def __setitem__(self, key, value):
        self.md_dict.append((key, value))

    def __repr__(self):
        return "StandIn(%s.%s%r)" % (self.md_module, self.md_name, self.md_args)


_standin_classes = {}


def standin_class(module, name):
    key = (module, name)
    cls = _standin_classes.get(key)
    if cls is None:
        cls = type(str("StandIn_" + name.replace(".", "_")), (StandIn,),
                   {"md_module": module, "md_name": name})
        _standin_classes[key] = cls
    return cls


def _real_or_standin(default_find, module, name):
    if module in STANDIN_MODULES or (module, name) in STANDIN_NAMES:
        return standin_class(module, name)
    try:
        return default_find(module, name)
    except (ImportError, AttributeError):
        return standin_class(module, name)


if PY2:
    def _py2_find(module, name):
        __import__(module)
        return getattr(sys.modules[module], name)

    def load_safe(data, encoding=None):
        u = pickle.Unpickler(io.BytesIO(data))
        u.find_global = lambda m, n: _real_or_standin(_py2_find, m, n)
        return u.load()
else:
    class _SafeUnpickler(pickle.Unpickler):
        def find_class(self, module, name):
            return _real_or_standin(super(_SafeUnpickler, self).find_class, module, name)

    def load_safe(data, encoding="ASCII"):
        return _SafeUnpickler(io.BytesIO(data), encoding=encoding).load()


def loads(data, encoding=None):
    """Plain pickle.loads (the test's own classes are importable)."""
    if PY2 or encoding is None:
        return pickle.loads(data)
    return pickle.loads(data, encoding=encoding)


# ---------------------------------------------------------------------------
# Canonical form
# ---------------------------------------------------------------------------

def _fhex(f):
    if f != f:
        return "nan"
    return float.hex(f)


def _hex(b):
    return "".join("%02x" % c for c in bytearray(b))


def _jkey(form):
    return json.dumps(form, sort_keys=True)


def _type_name(t):
    return getattr(t, "__qualname__", None) or getattr(t, "__name__", repr(t))


def _slots(x):
    out = []
    for klass in type(x).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        if isinstance(slots, (str, TEXT)):
            slots = (slots,)
        for s in slots:
            if s in ("__dict__", "__weakref__"):
                continue
            if hasattr(x, s):
                out.append((s, getattr(x, s)))
    return out


_SCALAR_VALUE_TYPES = (datetime.date, datetime.time, datetime.timedelta, datetime.tzinfo,
                       decimal.Decimal, fractions.Fraction, uuid.UUID) + (() if PY2 else (range,))


def exc_state(x):
    """The state an exception pickles with (its __reduce__), or None.
    Interpreters report the same state differently: 3.12+ add the args
    again under 'args', 2.7 turns attribute names into byte strings, 3.11
    keeps AttributeError's name out of it. The first two are evened out
    here; the comparison is always between loads made by one interpreter
    except where 2.7 meets the 3.x reference."""
    r = x.__reduce__()
    state = r[2] if len(r) > 2 else None
    if type(state) is dict:
        state = dict((k.decode("latin-1") if type(k) is BYTES else k, v)
                     for k, v in state.items()
                     if not (k in ("args", u"args") and v == x.args))
    return state or None


class Canon(object):
    """One walk; see canon()."""

    def __init__(self, latin1=False, sort_dicts=PY2):
        self.latin1 = latin1
        self.sort_dicts = sort_dicts
        self.ids = {}
        self.keep = []
        self.active = set()
        self.cyclic = False
        self.nan = False

    def fresh(self):
        c = Canon(self.latin1, self.sort_dicts)
        return c

    def merge(self, other):
        self.cyclic = self.cyclic or other.cyclic
        self.nan = self.nan or other.nan

    def walk(self, x):
        t = type(x)
        if x is None:
            return ["none"]
        if t is bool:
            return ["bool", bool(x)]
        if t in INTS:
            return ["int", "%d" % x]
        if t is float:
            if x != x:
                self.nan = True
            return ["float", _fhex(x)]
        if t is complex:
            if x != x:
                self.nan = True
            return ["complex", _fhex(x.real), _fhex(x.imag)]
        if t is TEXT:
            return ["str", x]
        if t is BYTES:
            if self.latin1:
                return ["str", x.decode("latin-1")]
            return ["bytes", _hex(x)]
        if t is slice:
            return ["slice", self.walk(x.start), self.walk(x.stop), self.walk(x.step)]
        if isinstance(x, _SCALAR_VALUE_TYPES):
            return ["value", _type_name(t), repr(x)]
        if isinstance(x, type) and issubclass(x, StandIn):
            return ["global", x.md_name.rsplit(".", 1)[-1]]
        if isinstance(x, type) or (PY2 and t is types.ClassType):
            return ["global", _type_name(x).rsplit(".", 1)[-1]]
        if isinstance(x, (types.FunctionType, types.BuiltinFunctionType)):
            return ["global", getattr(x, "__name__", "?")]
        if (t is tuple or t is frozenset) and not x:
            # Empty immutables: CPython may or may not share them (2.7's
            # tuple(<empty generator>) makes a new one), so their identity
            # means nothing.
            return [t.__name__, None, []]
        # Everything else is a container: identity matters.
        key = id(x)
        n = self.ids.get(key)
        if n is not None:
            if key in self.active:
                self.cyclic = True
            return ["ref", n]
        n = len(self.ids)
        self.ids[key] = n
        self.keep.append(x)
        self.active.add(key)
        try:
            return self.container(x, t, n)
        finally:
            self.active.discard(key)

    def items_form(self, pairs):
        if self.sort_dicts:
            keyed = []
            for k, v in pairs:
                c = self.fresh()
                keyed.append((_jkey(c.walk(k)), k, v))
                self.merge(c)
            keyed.sort(key=lambda e: e[0])
            pairs = [(k, v) for _, k, v in keyed]
        return [[self.walk(k), self.walk(v)] for k, v in pairs]

    def set_form(self, items):
        forms = []
        for item in items:
            c = self.fresh()
            forms.append(_jkey(c.walk(item)))
            self.merge(c)
        forms.sort()
        return forms

    def container(self, x, t, n):
        if t is list:
            return ["list", n, [self.walk(i) for i in x]]
        if t is tuple:
            return ["tuple", n, [self.walk(i) for i in x]]
        if t is dict:
            return ["dict", n, self.items_form(list(x.items()))]
        if t is set:
            return ["set", n, self.set_form(x)]
        if t is frozenset:
            return ["frozenset", n, self.set_form(x)]
        if t is bytearray:
            return ["bytearray", n, _hex(x)]
        if t is collections.OrderedDict:
            return ["odict", n, [[self.walk(k), self.walk(v)] for k, v in x.items()]]
        if array is not None and t is array.array:
            return ["array", n, x.typecode, [self.walk(i) for i in x.tolist()]]
        if t is collections.deque:
            return ["deque", n, x.maxlen, [self.walk(i) for i in x]]
        if t is collections.Counter:
            return ["counter", n, self.items_form(list(x.items()))]
        if t is collections.defaultdict:
            return ["defaultdict", n, self.walk(x.default_factory),
                    self.items_form(list(x.items()))]
        if isinstance(x, StandIn):
            return ["obj", n, x.md_name.rsplit(".", 1)[-1], self.walk(x.md_args),
                    self.items_form(sorted(x.md_kwargs.items())),
                    self.walk(x.md_state), [self.walk(i) for i in x.md_list],
                    [[self.walk(k), self.walk(v)] for k, v in x.md_dict]]
        if isinstance(x, BaseException):
            return ["obj", n, t.__name__, self.walk(tuple(x.args)), [],
                    self.walk(exc_state(x)), [], []]
        # An instance of a class the test defines (roundtrip), or a
        # Python 2 old-style instance.
        form = ["inst", n, _type_name(getattr(x, "__class__", t))]
        d = getattr(x, "__dict__", None)
        form.append(self.walk(d) if d is not None else None)
        form.append([[s, self.walk(v)] for s, v in _slots(x)])
        form.append([self.walk(i) for i in x] if isinstance(x, list) else None)
        form.append(self.items_form(list(x.items())) if isinstance(x, dict) else None)
        if not hasattr(x, "__dict__") and not _slots(x) and not isinstance(x, (list, dict)):
            form.append(["unknown", repr(x)])
        return form


def canon(x, latin1=False, sort_dicts=PY2):
    """(canonical form, walker) of x; walker.cyclic / walker.nan say
    whether the value holds a cycle or a NaN. latin1: read bytes as
    latin-1 text (for Python 2 str loaded by Python 3, see fixtures.py).
    sort_dicts: compare dicts regardless of order (Python 2 dicts are not
    ordered; Python 3 ones are, and managerd keeps the order)."""
    c = Canon(latin1, sort_dicts)
    return c.walk(x), c


def first_diff(a, b, path="value"):
    """Where two canonical forms first differ, as a readable string."""
    if type(a) is list and type(b) is list:
        if len(a) != len(b):
            return "%s: length %d != %d: %s vs %s" % (path, len(a), len(b),
                                                       short(a), short(b))
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_diff(x, y, "%s[%d]" % (path, i))
        return None
    if a != b:
        return "%s: %s != %s" % (path, short(a), short(b))
    return None


def short(x, limit=300):
    s = repr(x)
    return s if len(s) <= limit else s[:limit] + "..."


# ---------------------------------------------------------------------------
# A view for ==
# ---------------------------------------------------------------------------

class View(object):
    """Compares equal to another View with an equal key."""

    def __init__(self, key):
        self.key = key

    def __eq__(self, other):
        return isinstance(other, View) and self.key == other.key

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.key[:2])

    def __repr__(self):
        return "View%r" % (self.key,)


def norm(x, latin1=False):
    """x rebuilt for a meaningful ==; x must be acyclic."""
    t = type(x)
    if t is float and x != x:
        return View(("nan", 0))
    if t is complex and x != x:
        return View(("complex", _fhex(x.real), _fhex(x.imag)))
    if t is BYTES and latin1:
        return x.decode("latin-1")
    if t in (list, tuple):
        return t(norm(i, latin1) for i in x)
    if t is dict:
        return dict((norm(k, latin1), norm(v, latin1)) for k, v in x.items())
    if t in (set, frozenset):
        return t(norm(i, latin1) for i in x)
    if t is collections.OrderedDict:
        return collections.OrderedDict((norm(k, latin1), norm(v, latin1)) for k, v in x.items())
    if t is slice:
        return View(("slice", norm(x.start, latin1), norm(x.stop, latin1), norm(x.step, latin1)))
    if t is collections.deque:
        return View(("deque", x.maxlen, norm(list(x), latin1)))
    if t is collections.Counter:
        return View(("counter", norm(dict(x), latin1)))
    if t is collections.defaultdict:
        return View(("defaultdict", x.default_factory, norm(dict(x), latin1)))
    # A stand-in and an exception compare alike (as in canon()): a Python
    # that lacks an exception class loads it as a stand-in.
    if isinstance(x, StandIn):
        return View(("obj", x.md_name.rsplit(".", 1)[-1], norm(x.md_args, latin1),
                     norm(x.md_kwargs, latin1), norm(x.md_state, latin1),
                     norm(x.md_list, latin1), norm(x.md_dict, latin1)))
    if isinstance(x, BaseException):
        return View(("obj", t.__name__, norm(tuple(x.args), latin1), {},
                     norm(exc_state(x), latin1), [], []))
    if (x is None or t in (bool, float, complex, TEXT, BYTES, bytearray) or t in INTS
            or isinstance(x, _SCALAR_VALUE_TYPES) or isinstance(x, type)
            or (array is not None and t is array.array)
            or (PY2 and t is types.ClassType)
            or isinstance(x, (types.FunctionType, types.BuiltinFunctionType))):
        return x
    d = getattr(x, "__dict__", None)
    return View(("inst", _type_name(getattr(x, "__class__", t)),
                 norm(d, latin1) if d is not None else None,
                 [(s, norm(v, latin1)) for s, v in _slots(x)],
                 norm(list(x), latin1) if isinstance(x, list) else None,
                 norm(dict(x), latin1) if isinstance(x, dict) else None))


def compare(orig, loaded, latin1=False, sort_dicts=PY2):
    """None if loaded equals orig (canonical forms and ==), else a
    description of the first difference."""
    fa, ca = canon(orig, latin1, sort_dicts)
    fb, cb = canon(loaded, latin1, sort_dicts)
    if fa != fb:
        return "structure differs: " + (first_diff(fa, fb) or "?")
    if not ca.cyclic:
        try:
            equal = norm(orig, latin1) == norm(loaded, latin1)
        except RuntimeError as e:  # RecursionError
            return "== raised %r" % (e,)
        if not equal:
            return "== is False although the structure is equal"
    return None


def fixture_files(folder):
    """The pickle fixtures: every *.bin of the folder except the handshake
    messages (PYxx-handshake-*), which are raw bytes, not pickles."""
    names = sorted(n for n in os.listdir(folder)
                   if n.endswith(".bin") and "-handshake-" not in n)
    return [os.path.join(folder, n) for n in names]


# ---------------------------------------------------------------------------
# Tally
# ---------------------------------------------------------------------------

class Tally(object):
    """Counts checks and prints the first few failures of each kind."""

    def __init__(self, label, max_shown=15):
        self.label = label
        self.passed = 0
        self.failed = 0
        self.max_shown = max_shown

    def ok(self, n=1):
        self.passed += n

    def fail(self, msg):
        self.failed += 1
        if self.failed <= self.max_shown:
            print("FAIL [%s] %s" % (self.label, msg))
        elif self.failed == self.max_shown + 1:
            print("FAIL [%s] (further failures not shown)" % self.label)
        sys.stdout.flush()

    def finish(self):
        print("%s: %d passed, %d failed" % (self.label, self.passed, self.failed))
        print("RESULT passed=%d failed=%d" % (self.passed, self.failed))
        sys.stdout.flush()
        return 1 if self.failed else 0


def selftest(tally):
    """The comparison must see the differences the drivers rely on it to
    see; a comparison that always said "equal" would pass every test."""
    shared = [1]
    cyc = [0]
    cyc.append(cyc)
    nan = float("nan")
    different = [
        ([shared, shared], [[1], [1]], "a shared list became two"),
        ([[1], [1]], [shared, shared], "two lists became one"),
        (cyc, [0, [0, []]], "a cycle was cut"),
        ([-0.0], [0.0], "-0.0 became 0.0"),
        ([True], [1], "True became 1"),
        ((1,), [1], "a tuple became a list"),
        ({1: 2}, {1: 3}, "a dict value changed"),
        (set([1, 2]), frozenset([1, 2]), "a set became a frozenset"),
        (KeyError("x"), ValueError("x"), "an exception changed class"),
        (KeyError("x"), KeyError("y"), "an exception changed args"),
        (u"a", b"a", "str became bytes"),
        (bytearray(b"a"), b"a", "bytearray became bytes"),
        ([nan], [1.0], "NaN became a number"),
    ]
    if not PY2:
        different.append(({1: 2, 3: 4}, {3: 4, 1: 2}, "dict order changed"))
    for a, b, what in different:
        if compare(a, b) is None:
            tally.fail("self-test: the comparison missed: %s" % what)
        else:
            tally.ok()
    cyc2 = [0]
    cyc2.append(cyc2)
    s2 = [1]
    equal = [
        ([float("nan")], [float("nan")], "NaN"),
        (cyc, cyc2, "a list containing itself"),
        ([shared, shared], [s2, s2], "a shared list"),
        (KeyError("x"), KeyError("x"), "an exception"),
    ]
    for a, b, what in equal:
        diff = compare(a, b)
        if diff is not None:
            tally.fail("self-test: the comparison rejected equal values (%s): %s" % (what, diff))
        else:
            tally.ok()
