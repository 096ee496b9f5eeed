#!/bin/sh
# python-package.sh - the managerd Python package (clients/python) under
# every Python found: offline pip install, its unit tests, and
# `python -m managerd run` on unmodified programs (tests/python/run.py).
# Run by make check (top_srcdir, top_builddir and PYTHON come from there) or by hand:
#   top_builddir=BUILD sh tests/python/python-package.sh
# Honours MD_INTEROP_PYTHONS (space-separated interpreters to use).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PYTHON:=python3}"
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
"$PYTHON" "$top_srcdir/tests/python/run.py" --managerd "$top_builddir/managerd"
status=$?
case $status in
    0) exit 0 ;;
    126|127) echo "$PYTHON could not run"; echo "0 passed, 1 failed"; exit 1 ;;
    *) exit 1 ;;    # run.py printed 'N passed, M failed' last
esac
