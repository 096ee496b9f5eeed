#!/bin/sh
# run-case.sh CASE - runs one case of tests/hardening/hardening.py (see its
# docstring) with the Python 3 of make check. The other .sh files here
# each run one case. By hand:  top_builddir=BUILD sh tests/hardening/X.sh
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PYTHON:=python3}"
PYTHONDONTWRITEBYTECODE=1
export top_srcdir top_builddir PYTHONDONTWRITEBYTECODE
"$PYTHON" "$top_srcdir/tests/hardening/hardening.py" "$1"
status=$?
case $status in
    0) exit 0 ;;
    126|127) echo "$PYTHON could not run"; echo "0 passed, 1 failed"; exit 1 ;;
    *) exit 1 ;;    # the script printed 'N passed, M failed' last
esac
