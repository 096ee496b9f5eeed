#!/bin/sh
# faults.sh - managerd under killed clients, malformed frames and handshakes,
# pickle bombs, its size and connection limits, and 2,000 concurrent
# connections (scenario 7), with the newest Python 3.
# Run by make check (top_srcdir, top_builddir and PYTHON come from there) or by hand:
#   top_builddir=BUILD sh tests/interop/faults.sh
# Honours MD_SERVER_WRAPPER (e.g. valgrind ...).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PYTHON:=python3}"
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
"$PYTHON" "$top_srcdir/tests/interop/faults.py" --managerd "$top_builddir/managerd"
status=$?
case $status in
    0) exit 0 ;;
    126|127) echo "$PYTHON could not run"; echo "0 passed, 1 failed"; exit 1 ;;
    *) exit 1 ;;    # the script printed 'N passed, M failed' last
esac
