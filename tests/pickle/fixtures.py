# fixtures.py - every pickle fixture, re-encoded by managerd-pickle, loads
# in this Python to the same value as the original fixture does.
#
#   python fixtures.py reference OUT.json FIXTURE_DIR   (newest Python 3)
#   python fixtures.py check REF.json FIXTURE_DIR       (every Python)
#
# check: one `managerd-pickle --stream --protocol P` process per protocol
# P from 2 to this Python's pickle.HIGHEST_PROTOCOL re-encodes every
# fixture (each must decode: '+'); this Python loads each result and the
# original fixture and compares them (mdpickle.compare: canonical forms
# with exact types and identity structure, plus ==).
#
# Classes the test will not import (__main__.Point, the old-style
# __main__.OldStylePoint, multiprocessing's Token, RebuildProxy and proxy
# classes: rebuilding a proxy would connect to the captured server) load as
# mdpickle.StandIn objects that record their arguments and state, in both
# loads; so does any class this Python lacks (threading.BrokenBarrierError
# in 2.7).
#
# Text of Python 2 origin. A Python 2 str is a byte string; managerd sends
# an ASCII one to Python 3 as str and any other as bytes (tests/docs/protocol.md
# 5.6), while Python 3 cannot load a non-ASCII SHORT_BINSTRING with its
# default encoding. So Python 3 loads fixtures that hold Python 2 strings
# (STRING, BINSTRING, SHORT_BINSTRING opcodes) with encoding='latin1' in
# both loads, and the comparison reads any bytes as latin-1 text on both
# sides (Python 2 had no other bytes). Every other fixture is loaded with
# encoding='bytes' in both loads: managerd writes bytes at protocol 2 as a
# Python 2 str (for 2.7 clients), which encoding='bytes' reads back as
# bytes. Python 2.7 loads everything natively; int and long are one type
# for the comparison (2.7 reads every LONG1 as long; tests/docs/protocol.md 5.6).
#
# A fixture this Python cannot load itself (2.7 and protocol 3 or 4) is
# compared with the canonical form the newest Python 3 made of the
# original (the reference file), with dicts compared regardless of order.
from __future__ import print_function

import json
import os
import pickletools
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mdpickle  # noqa: E402
from mdpickle import PY2, ToolError  # noqa: E402

PY2_STRING_OPS = frozenset(["STRING", "BINSTRING", "SHORT_BINSTRING"])


def has_py2_strings(data):
    try:
        return any(op.name in PY2_STRING_OPS for op, _, _ in pickletools.genops(data))
    except Exception:
        return False


def encoding_for(data):
    """(encoding, latin1) for loading this fixture in this Python."""
    latin1 = not PY2 and has_py2_strings(data)
    enc = None if PY2 else ("latin1" if latin1 else "bytes")
    return enc, latin1


def reference(out_path, folder):
    ref = {}
    for path in mdpickle.fixture_files(folder):
        data = open(path, "rb").read()
        enc, latin1 = encoding_for(data)
        value = mdpickle.load_safe(data, enc)
        form, _ = mdpickle.canon(value, latin1, sort_dicts=True)
        ref[os.path.basename(path)] = form
    with open(out_path, "w") as f:
        json.dump(ref, f)
    print("reference: %d fixtures" % len(ref))
    return 0


def check(ref_path, folder):
    label = "fixtures %d.%d" % sys.version_info[:2]
    tally = mdpickle.Tally(label)
    with open(ref_path) as f:
        ref = json.load(f)
    paths = mdpickle.fixture_files(folder)
    if not paths:
        tally.fail("no fixtures in %s" % folder)
        return tally.finish()
    originals = [open(p, "rb").read() for p in paths]
    protocols = list(range(2, mdpickle.pickle.HIGHEST_PROTOCOL + 1))
    reencoded = {}
    for proto in protocols:
        try:
            reencoded[proto] = mdpickle.stream(["--protocol", str(proto)], originals)
            tally.ok()
        except ToolError as e:
            tally.fail("protocol %d: %s" % (proto, e))
    via_reference = 0
    for i, path in enumerate(paths):
        name = os.path.basename(path)
        data = originals[i]
        enc, latin1 = encoding_for(data)
        try:
            orig = mdpickle.load_safe(data, enc)
            ref_form = None
        except Exception as e:
            if name not in ref:
                tally.fail("%s: this Python cannot load it (%r) and there is no reference" % (
                    name, e))
                continue
            orig = None
            ref_form = ref[name]
            via_reference += 1
        for proto in protocols:
            if proto not in reencoded:
                continue
            ok, out = reencoded[proto][i]
            what = "%s at protocol %d" % (name, proto)
            if not ok:
                tally.fail("%s: managerd-pickle refused it: %s" % (
                    what, out.decode("utf-8", "replace")))
                continue
            try:
                loaded = mdpickle.load_safe(out, enc)
            except Exception as e:
                tally.fail("%s: the re-encoded pickle does not load: %r; pickle: %s" % (
                    what, e, mdpickle.short(out)))
                continue
            if ref_form is None:
                diff = mdpickle.compare(orig, loaded, latin1)
            else:
                form, _ = mdpickle.canon(loaded, latin1, sort_dicts=True)
                diff = None if form == ref_form else "differs from the reference: " + (
                    mdpickle.first_diff(ref_form, form) or "?")
            if diff:
                tally.fail("%s: %s" % (what, diff))
            else:
                tally.ok()
    print("%s: %d fixtures, protocols %s, %d compared with the Python 3 reference" % (
        label, len(paths), protocols, via_reference))
    return tally.finish()


def main(argv):
    if len(argv) == 4 and argv[1] == "reference":
        return reference(argv[2], argv[3])
    if len(argv) == 4 and argv[1] == "check":
        return check(argv[2], argv[3])
    print("usage: fixtures.py reference|check FILE FIXTURE_DIR", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
