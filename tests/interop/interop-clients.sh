#!/bin/sh
# interop-clients.sh - real Python clients against managerd: scenarios 3, 4, 6
# and 8 under every Python found: blocking calls, child processes, stored
# proxies and reference counts, TCP/Unix/abstract listeners and wrong keys,
# and values exchanged between old and new Pythons on one server.
# Run by make check (top_srcdir, top_builddir and PYTHON come from there) or by hand:
#   top_builddir=BUILD sh tests/interop/interop-clients.sh
# Honours MD_SERVER_WRAPPER (e.g. valgrind ...) and MD_TEST_PYTHONS.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PYTHON:=python3}"
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
"$PYTHON" "$top_srcdir/tests/interop/run.py" --managerd "$top_builddir/managerd" --scenarios blocking,refs,transports,cross
status=$?
case $status in
    0) exit 0 ;;
    126|127) echo "$PYTHON could not run"; echo "0 passed, 1 failed"; exit 1 ;;
    *) exit 1 ;;    # the script printed 'N passed, M failed' last
esac
