#!/bin/sh
# badinput.sh - hostile and broken pickles: managerd-pickle refuses each one
# cleanly (exit status 1, exactly one stderr line "managerd-pickle:
# <problem> at byte <offset>" naming the problem), or, where the pickle is
# valid, handles it without executing anything and within bounds. Never a
# crash (death by a signal), a hang, or a sanitizer report.
#
# Cases: every prefix of a few fixtures; random byte mutations of the
# fixtures (fixed seed, MD_SEED overrides); lengths of 4 GiB and more
# inside BINBYTES and friends; bombs (a million MARKs, nesting at and one
# past MD_MAX_DEPTH, LONG_BINPUT 4000000000, a billion-laughs list and a
# tuple hash bomb built from memo GETs); the message size at and one past
# MD_MAX_MESSAGE_DEFAULT; `GLOBAL posix system` + REDUCE with a `touch`
# command (must stay an opaque value: the file must never appear);
# persistent ids, out-of-band buffers, extension codes; usage errors (exit
# status 2). The limits are read from core/base/limits.h.
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

md_require_tool
md_pythons

tmp=$(mktemp -d "${TMPDIR:-/tmp}/md-badinput.XXXXXX") || md_fatal "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

"$MD_PY3" - "$tmp" "$MD_FIXTURES" "$top_srcdir/core/base/limits.h" >"$tmp/log" 2>&1 <<'EOF'
import os, random, re, struct, sys, time, pickletools
sys.path.insert(0, os.environ["MD_PICKLE_TESTS"])
import mdpickle
from mdpickle import run_tool, stream, ToolError

tmp, fixtures, limits_h = sys.argv[1:4]
tally = mdpickle.Tally("badinput")
SEED = int(os.environ.get("MD_SEED") or 4242)
LINE = re.compile(rb"\Amanagerd-pickle: (.+) at byte (\d+)\n\Z")


def limit(name):
    m = re.search(r"#define\s+%s\s+\(?\s*(\d+)u?\s*\*?\s*(\d*)\s*\*?\s*(\d*)" % name,
                  open(limits_h).read())
    value = 1
    for g in m.groups():
        if g:
            value *= int(g)
    return value


MAX_DEPTH = limit("MD_MAX_DEPTH")
MAX_MESSAGE = limit("MD_MAX_MESSAGE_DEFAULT")
# A bomb must be refused (or handled) quickly; a hang shows as a timeout.
BOMB_SECONDS = 10


def signal_or_hang(rc):
    if rc == 124:
        return "did not finish in time (a hang?)"
    if rc < 0 or rc > 128:
        return "died by signal %d" % (rc - 128 if rc > 128 else -rc)
    return None


def expect_error(name, data, pattern, args=(), timeout=60):
    """Exit status 1, nothing on stdout, one stderr line naming the
    problem (pattern, a regex) and a byte offset within the input."""
    rc, out, err = run_tool(list(args), data, timeout)
    bad = signal_or_hang(rc)
    if bad:
        return tally.fail("%s: %s; stderr %s" % (name, bad, mdpickle.short(err)))
    m = LINE.match(err)
    if rc != 1 or out or not m:
        return tally.fail("%s: want exit 1, no output, one 'at byte N' line; got exit %d, "
                          "%d bytes out, stderr %s" % (name, rc, len(out), mdpickle.short(err)))
    if not re.search(pattern, m.group(1).decode("utf-8", "replace"), re.I):
        return tally.fail("%s: the message does not name the problem (/%s/): %s" % (
            name, pattern, m.group(1)))
    if int(m.group(2)) > len(data):
        return tally.fail("%s: offset %s is past the input (%d bytes)" % (
            name, m.group(2), len(data)))
    tally.ok()


def expect_ok(name, data, args=(), timeout=60):
    """Exit status 0, nothing on stderr; returns stdout (or None)."""
    rc, out, err = run_tool(list(args), data, timeout)
    bad = signal_or_hang(rc)
    if bad or rc != 0 or err:
        tally.fail("%s: want exit 0 and an empty stderr; got %s, stderr %s" % (
            name, bad or "exit %d" % rc, mdpickle.short(err)))
        return None
    tally.ok()
    return out


# A valid pickle whose repr() or str() is refused by a limit: there is no
# byte offset to name, only the limit.
LIMIT_LINE = re.compile(rb"\Amanagerd-pickle: [^\n]*(limit|longer than|MemoryError|too)[^\n]*\n\Z",
                        re.I)


def expect_clean(name, data, args=(), timeout=60, limit_ok=False):
    """A valid or invalid input: exit 0 with an empty stderr, or exit 1
    with the one-line message (or, with limit_ok, one line naming a
    limit)."""
    rc, out, err = run_tool(list(args), data, timeout)
    bad = signal_or_hang(rc)
    if bad:
        return tally.fail("%s: %s; stderr %s" % (name, bad, mdpickle.short(err)))
    if rc == 0 and not err:
        return tally.ok()
    if rc == 1 and not out and (LINE.match(err) or (limit_ok and LIMIT_LINE.match(err))):
        return tally.ok()
    tally.fail("%s: exit %d, stderr %s" % (name, rc, mdpickle.short(err)))


def stream_checked(name, args, payloads, timeout=300):
    try:
        return stream(args, payloads, timeout)
    except ToolError as e:
        tally.fail("%s: %s" % (name, e))
        return None


def fixture(name):
    return open(os.path.join(fixtures, name), "rb").read()


MSG = re.compile(rb"\A[^\n]+ at byte (\d+)\Z")

# ---- every prefix of a few fixtures --------------------------------------
for fname in ["py313-setitem-payload.request.bin", "py27-getitem-payload.reply.bin",
              "py312-setitem-autoproxy.request.bin", "py27-py2-oldstyle-instance.request.bin",
              "py37-setitem-userobj.request.bin"]:
    data = fixture(fname)
    prefixes = [data[:n] for n in range(len(data))]
    res = stream_checked("prefixes of " + fname, [], prefixes)
    if res is None:
        continue
    for n, (ok, out) in enumerate(res):
        m = MSG.match(out)
        if ok or not m or int(m.group(1)) > n:
            tally.fail("%s[:%d]: want '-' and 'at byte N' (N <= %d): %s %s" % (
                fname, n, n, "+" if ok else "-", mdpickle.short(out)))
        else:
            tally.ok()
# The same in single mode (one process each: slow under sanitizers, so
# two short fixtures).
for fname in ["py313-dict-getitem.reply.bin", "py27-dict-getitem.reply.bin"]:
    data = fixture(fname)
    for n in range(len(data)):
        expect_error("%s[:%d]" % (fname, n), data[:n],
                     r"truncated|past the end|newline|stack|mark|empty")

# ---- random mutations of the fixtures -------------------------------------
rng = random.Random(SEED)
names = mdpickle.fixture_files(fixtures)
mutants = []
for i in range(1500):
    data = bytearray(open(rng.choice(names), "rb").read())
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(len(data))
        op = rng.random()
        if op < 0.4:
            data[pos] ^= 1 << rng.randrange(8)
        elif op < 0.7:
            data[pos] = rng.choice([0, 0xff, 0x7f, 0x80, rng.randrange(256)])
        elif op < 0.85:
            del data[pos]
        else:
            data.insert(pos, rng.randrange(256))
    mutants.append(bytes(data))
for args in ([], ["--protocol", "2"], ["--protocol", "5"], ["--repr"], ["--str"]):
    res = stream_checked("mutants %s" % args, args, mutants)
    if res is None:
        continue
    again = []
    for i, (ok, out) in enumerate(res):
        if not ok and not MSG.match(out):
            tally.fail("mutant %d %s: bad error message %s" % (i, args, mdpickle.short(out)))
            continue
        tally.ok()
        if ok and "--repr" not in args and "--str" not in args:
            again.append(out)
    # managerd must read back whatever it wrote.
    if again:
        res2 = stream_checked("re-decoding mutants %s" % args, [], again)
        for i, (ok, out) in enumerate(res2 or []):
            if not ok:
                tally.fail("managerd cannot read its own output (%s): %s; pickle %s" % (
                    args, out, mdpickle.short(again[i])))
            else:
                tally.ok()
print("mutants: seed %d (MD_SEED overrides), %d inputs" % (SEED, len(mutants)))
for i in range(25):
    expect_clean("mutant %d (single mode)" % i, mutants[i])

# ---- lengths of 4 GiB and more ---------------------------------------------
LEN = r"past the end|exceeds|negative|too|truncated|invalid"
cases = [
    ("BINBYTES 0xffffffff", b"\x80\x03B\xff\xff\xff\xffabc."),
    ("BINBYTES 0x80000000", b"\x80\x03B\x00\x00\x00\x80abc."),
    ("BINBYTES8 4 GiB", b"\x80\x04\x8e" + struct.pack("<Q", 1 << 32) + b"x."),
    ("BINBYTES8 2**64-1", b"\x80\x04\x8e" + b"\xff" * 8 + b"x."),
    ("BINUNICODE 0xffffffff", b"\x80\x02X\xff\xff\xff\xffabc."),
    ("BINUNICODE8 2**63", b"\x80\x04\x8d" + struct.pack("<Q", 1 << 63) + b"x."),
    ("BYTEARRAY8 4 GiB", b"\x80\x05\x96" + struct.pack("<Q", 1 << 32) + b"x."),
    ("BINSTRING -1", b"\x80\x02T\xff\xff\xff\xffabc."),
    ("SHORT_BINBYTES 255 of 3", b"\x80\x03C\xffabc."),
    ("LONG4 0x7fffffff", b"\x80\x02\x8b\xff\xff\xff\x7f\x01."),
    ("LONG4 negative", b"\x80\x02\x8b\xff\xff\xff\xff\x01."),
    ("FRAME 2**62", b"\x80\x04\x95" + struct.pack("<Q", 1 << 62) + b"N."),
]
for name, data in cases:
    expect_error(name, data, LEN)

# ---- bombs ----------------------------------------------------------------
expect_error("a million MARKs", b"\x80\x02" + b"(" * 1000000 + b".", r"mark|depth")
expect_ok("%d open MARKs (the limit)" % MAX_DEPTH,
          b"\x80\x02" + b"(" * MAX_DEPTH + b"t" * MAX_DEPTH + b".")
expect_error("%d open MARKs (one past)" % (MAX_DEPTH + 1),
             b"\x80\x02" + b"(" * (MAX_DEPTH + 1) + b"t" * (MAX_DEPTH + 1) + b".", r"mark|depth")


def nested_lists(depth):
    """depth lists nested in each other ([] is depth 1, [[]] depth 2)."""
    return b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."


out = expect_ok("lists nested %d deep (the limit)" % MAX_DEPTH, nested_lists(MAX_DEPTH))
if out is not None:
    expect_ok("lists nested %d deep, re-encoded, read back" % MAX_DEPTH, out)
expect_error("lists nested %d deep (one past)" % (MAX_DEPTH + 1), nested_lists(MAX_DEPTH + 1),
             r"depth")
for mode in ("--repr", "--str", "--protocol"):
    args = [mode, "4"] if mode == "--protocol" else [mode]
    expect_clean("lists nested %d deep, %s" % (MAX_DEPTH, mode), nested_lists(MAX_DEPTH), args,
                 limit_ok=True)
expect_error("LONG_BINPUT 4000000000", b"\x80\x02Nr\x00\x28\x6b\xeeN.", r"memo")
expect_error("LONG_BINGET 4000000000", b"\x80\x02Nr\x00\x00\x00\x00j\x00\x28\x6b\xee.",
             r"memo")
expect_error("BINGET of an empty memo", b"\x80\x02h\x05.", r"memo")


def laughs(levels, width):
    """levels nested lists, each holding width references to the one
    below: width**levels leaves from a few hundred bytes."""
    out = bytearray(b"\x80\x02]r\x00\x00\x00\x00(" + b"K\x01" * width + b"e")
    for i in range(1, levels):
        out += b"0]r" + struct.pack("<I", i) + b"(" + (b"j" + struct.pack("<I", i - 1)) * width
        out += b"e"
    return bytes(out + b".")


bomb = laughs(10, 10)   # 10**10 leaves
out = expect_ok("billion laughs, re-encoded", bomb, timeout=BOMB_SECONDS)
if out is not None and len(out) > 4 * len(bomb):
    tally.fail("billion laughs: the re-encoding is %d bytes for %d in: shared references "
               "were expanded" % (len(out), len(bomb)))
for mode in ("--repr", "--str"):
    expect_clean("billion laughs, %s (must stop at a limit)" % mode, bomb, [mode],
                 timeout=BOMB_SECONDS, limit_ok=True)


def tuple_hash_bomb(levels, width):
    """Tuples of width references to the tuple below, the top one used as
    a dict key: hashing it naively visits width**levels tuples."""
    out = bytearray(b"\x80\x02K\x01r\x00\x00\x00\x00")
    for i in range(1, levels):
        out += b"0(" + (b"j" + struct.pack("<I", i - 1)) * width + b"tr" + struct.pack("<I", i)
    out += b"0}j" + struct.pack("<I", levels - 1) + b"Ns."
    return bytes(out)


expect_clean("tuple hash bomb (10**11 tuples by reference) as a dict key",
             tuple_hash_bomb(12, 10), timeout=BOMB_SECONDS)

# ---- message size ------------------------------------------------------------


def exact_size(n):
    """A valid pickle of exactly n bytes: one BINBYTES8."""
    payload = n - 2 - 9 - 1
    return b"\x80\x04\x8e" + struct.pack("<Q", payload) + b"\0" * payload + b"."


out = expect_ok("a message of %d bytes (the limit)" % MAX_MESSAGE, exact_size(MAX_MESSAGE),
                ["--protocol", "4"])
if out is not None and len(out) < MAX_MESSAGE - 100:
    tally.fail("a message at the limit came back shortened: %d bytes" % len(out))
expect_error("a message of %d bytes (one past)" % (MAX_MESSAGE + 1), exact_size(MAX_MESSAGE + 1),
             r"max_bytes|too (large|big)|exceeds")

# ---- globals are never called ----------------------------------------------
target = os.path.join(tmp, "somefile")
cmd = "touch " + target
evil = ("__import__('os').system('%s')" % cmd).encode()
hostile = [
    ("GLOBAL posix system + REDUCE (protocol 0)",
     ("cposix\nsystem\n(S'%s'\ntR." % cmd).encode()),
    ("GLOBAL os system + REDUCE (protocol 2)",
     b"\x80\x02cos\nsystem\nX" + struct.pack("<I", len(cmd)) + cmd.encode() + b"\x85R."),
    ("STACK_GLOBAL posix system + REDUCE (protocol 4)",
     b"\x80\x04\x8c\x05posix\x8c\x06system\x93\x8c" + bytes([len(cmd)]) + cmd.encode()
     + b"\x85R."),
    ("GLOBAL builtins eval + REDUCE",
     b"\x80\x02cbuiltins\neval\nX" + struct.pack("<I", len(evil)) + evil + b"\x85R."),
    ("GLOBAL subprocess check_call + REDUCE",
     b"\x80\x02csubprocess\ncheck_call\n(X\x05\x00\x00\x00touchX" + struct.pack("<I", len(target))
     + target.encode() + b"l\x85R."),
]
for name, data in hostile:
    callable_name = re.search(rb"(system|eval|check_call)", data).group(1).decode()
    for args in ([], ["--protocol", "2"], ["--protocol", "4"], ["--repr"]):
        out = expect_ok("%s %s" % (name, " ".join(args)), data, args)
        if out is not None and "--repr" not in args and "--str" not in args:
            # The re-encoding names the same callable (disassembled, never
            # loaded).
            try:
                blob = " ".join(str(arg) for op, arg, _ in pickletools.genops(out))
            except Exception as e:
                blob = "(not a pickle: %r)" % e
            if callable_name not in blob:
                tally.fail("%s %s: the re-encoding lost the callable %s: %s" % (
                    name, args, callable_name, mdpickle.short(blob)))
            else:
                tally.ok()
        if os.path.exists(target):
            tally.fail("%s %s: EXECUTED: %s exists" % (name, args, target))
            os.unlink(target)
        else:
            tally.ok()

# ---- refused opcodes -------------------------------------------------------------
refused = [
    ("PERSID", b"\x80\x02Pfoo\n.", r"persistent"),
    ("BINPERSID", b"\x80\x02X\x03\x00\x00\x00fooQ.", r"persistent"),
    ("NEXT_BUFFER", b"\x80\x05\x97.", r"buffer"),
    ("READONLY_BUFFER", b"\x80\x05C\x01a\x98.", r"buffer"),
    ("EXT1", b"\x80\x02\x82\x01.", r"extension"),
    ("EXT2", b"\x80\x02\x83\x01\x00.", r"extension"),
    ("EXT4", b"\x80\x02\x84\x01\x00\x00\x00.", r"extension"),
    ("invalid opcode 0xff", b"\x80\x02\xff.", r"opcode"),
    ("protocol 6", b"\x80\x06N.", r"protocol"),
    ("empty input", b"", r"truncated|empty|stop"),
    ("STOP on an empty stack", b"\x80\x02.", r"stack|empty"),
    ("bytes after STOP", b"\x80\x02N.N", r"after STOP"),
    ("APPEND on an int", b"\x80\x02K\x01K\x02a.", r"append"),
    ("SETITEM with a list key", b"\x80\x02}]K\x01s.", r"unhashable"),
]
for name, data, pattern in refused:
    expect_error(name, data, pattern)
for args in (["--repr"], ["--str"], ["--protocol", "3"]):
    res = stream_checked("refused opcodes %s" % args, args, [r[1] for r in refused])
    for (name, _, pattern), (ok, out) in zip(refused, res or []):
        m = MSG.match(out)
        if ok or not m or not re.search(pattern.encode(), out, re.I):
            tally.fail("%s %s: want '-' naming the problem (/%s/): %s" % (
                name, args, pattern, mdpickle.short(out)))
        else:
            tally.ok()

# ---- usage errors: exit status 2 --------------------------------------------------
for args in (["--protocol", "1"], ["--protocol", "6"], ["--protocol"], ["--bogus"],
             ["--repr", "--str"], ["--repr", "--protocol", "3"]):
    rc, out, err = run_tool(args, b"\x80\x02N.")
    if rc != 2 or out or not err:
        tally.fail("usage error %s: want exit 2 and a message; got exit %d, stderr %s" % (
            args, rc, mdpickle.short(err)))
    else:
        tally.ok()

# ---- broken --stream framing ------------------------------------------------------
for name, data in [("a truncated record header", b"\x00\x00\x00\x02N.\x00\x00"),
                   ("a truncated record", b"\x00\x00\x00\x02N.\x00\x00\x00\x10N.")]:
    rc, out, err = run_tool(["--stream"], data)
    bad = signal_or_hang(rc)
    if bad or rc == 0 or not out.startswith(b"+\x00\x00\x00"):
        tally.fail("--stream with %s: want the first record answered and a non-zero exit; "
                   "got %s, stdout %s" % (name, bad or "exit %d" % rc, mdpickle.short(out)))
    else:
        tally.ok()
res = stream_checked("--stream with a record over max_bytes, then a good one", [],
                     [b"\0" * (MAX_MESSAGE + 1), b"\x80\x02N."])
if res is not None:
    if res[0][0] or not re.search(rb"max_bytes|too", res[0][1]) or not res[1][0]:
        tally.fail("--stream with a record over max_bytes: want '-' naming the limit, then "
                   "'+'; got %r" % (res,))
    else:
        tally.ok()

sys.exit(tally.finish())
EOF
md_report_driver "$tmp/log" "the badinput driver" $?
md_summary
