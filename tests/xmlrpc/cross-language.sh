#!/bin/sh
# cross-language.sh - runs tests/xmlrpc/cross_language.py (see its docstring) with the newest
# Python 3. Run by make check (top_srcdir, top_builddir and PYTHON come
# from there) or by hand:  top_builddir=BUILD sh tests/xmlrpc/cross-language.sh
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PYTHON:=python3}"
PYTHONDONTWRITEBYTECODE=1
export top_srcdir top_builddir PYTHONDONTWRITEBYTECODE
"$PYTHON" "$top_srcdir/tests/xmlrpc/cross_language.py"
status=$?
case $status in
    0) exit 0 ;;
    126|127) echo "$PYTHON could not run"; echo "0 passed, 1 failed"; exit 1 ;;
    *) exit 1 ;;    # the script printed 'N passed, M failed' last
esac
