# driver.sh - sourced by the .sh wrappers that make check runs for the
# Python test drivers: where the sources and the build are, and the one
# reading of a driver's verdict.
# make check sets top_srcdir, top_builddir and PYTHON; run by hand, a
# wrapper works out top_srcdir from its own path and takes top_builddir to
# be the same folder.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PYTHON:=python3}"
PYTHONDONTWRITEBYTECODE=1
export top_srcdir top_builddir PYTHONDONTWRITEBYTECODE

# md_run_driver SCRIPT [ARG...]: run the driver top_srcdir/SCRIPT and exit
# with its verdict. A driver prints 'N passed, M failed' last (tests/lib/
# tally.py) and exits 0 only when nothing failed; a Python that cannot run
# it is one failure, said the same way.
md_run_driver() {
    md_script=$1
    shift
    "$PYTHON" "$top_srcdir/$md_script" "$@"
    case $? in
        0) exit 0 ;;
        126|127) echo "$PYTHON could not run"; echo "0 passed, 1 failed"; exit 1 ;;
        *) exit 1 ;;
    esac
}
