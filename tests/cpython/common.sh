# common.sh - sourced by tests/cpython/*.sh: runs one of this folder's
# Python drivers against the build's managerd and maps its exit status.
# make check sets top_srcdir, top_builddir and PYTHON; run by hand, the
# scripts work out top_srcdir from their own path and take top_builddir to
# be the same folder. MD_SERVER_WRAPPER and MD_TEST_PYTHONS are honoured
# as the interop tests do.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PYTHON:=python3}"
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE

# cpy_run DRIVER: exit with the driver's verdict (it prints 'N passed, M failed' last).
cpy_run() {
    "$PYTHON" "$top_srcdir/tests/cpython/$1" --managerd "$top_builddir/managerd"
    case $? in
        0) exit 0 ;;
        126|127) echo "$PYTHON could not run"; echo "0 passed, 1 failed"; exit 1 ;;
        *) exit 1 ;;
    esac
}
