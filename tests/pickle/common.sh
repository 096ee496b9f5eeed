# common.sh - sourced by the pickle test scripts (tests/pickle/*.sh,
# tests/fuzz/fuzz_pickle.sh): where the sources, the build and the tool
# are, which Python interpreters the machine has, and the pass/fail tally.
#
# make check sets top_srcdir, top_builddir, PYTHON and FUZZ_CC; run by
# hand, the scripts work out top_srcdir from their own path and take
# top_builddir to be the same folder. MD_TOOL names another
# managerd-pickle to test (default: $top_builddir/managerd-pickle).
#
# A tool the tests need and the machine lacks is a failure, never a skip.

set -u

md_here=$(cd "$(dirname "$0")" && pwd)
: "${top_srcdir:=$(cd "$md_here/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PYTHON:=}"
: "${MD_TOOL:=$top_builddir/managerd-pickle}"
export top_srcdir top_builddir MD_TOOL
# The test modules are imported from the (maybe read-only) source tree;
# Python 2.7 would write .pyc files beside them.
PYTHONDONTWRITEBYTECODE=1
PYTHONIOENCODING=utf-8
export PYTHONDONTWRITEBYTECODE PYTHONIOENCODING
MD_PICKLE_TESTS=$top_srcdir/tests/pickle
MD_FIXTURES=$top_srcdir/tests/fixtures/wire
export MD_PICKLE_TESTS MD_FIXTURES

md_passed=0
md_failed=0

md_fail() { # MESSAGE...
    echo "FAIL: $*"
    md_failed=$((md_failed + 1))
}

md_pass() { # MESSAGE...
    [ -n "${MD_VERBOSE:-}" ] && echo "ok: $*"
    md_passed=$((md_passed + 1))
}

# Stop now: a tool or file the test needs is missing.
md_fatal() { # MESSAGE...
    echo "FATAL: $*" >&2
    echo "FATAL: $*"
    echo "$md_passed passed, $((md_failed + 1)) failed"
    exit 1
}

# Print the summary line and exit with the verdict.
md_summary() {
    echo "$md_passed passed, $md_failed failed"
    [ "$md_failed" -eq 0 ]
    exit $?
}

# Add the counts of a Python driver's last line "RESULT passed=N failed=M"
# (in file $1) to the tally; a run without that line is one failure.
md_add_result() { # LOGFILE WHAT
    local line p f
    line=$(grep '^RESULT passed=[0-9]* failed=[0-9]*$' "$1" | tail -n 1)
    if [ -z "$line" ]; then
        md_fail "$2: the driver ended without a RESULT line"
        return
    fi
    p=${line#RESULT passed=}
    p=${p%% *}
    f=${line##*failed=}
    md_passed=$((md_passed + p))
    md_failed=$((md_failed + f))
}

# Show a Python driver's log (file $1), add its RESULT counts, and count
# its exit status $3 as one failure when it is not 0 and the log counted
# no failed check (the driver died).
md_report_driver() { # LOGFILE WHAT STATUS
    cat "$1"
    md_add_result "$1" "$2"
    if [ "$3" -ne 0 ] && ! grep -q '^RESULT .* failed=[1-9]' "$1"; then
        md_fail "$2: the driver exited with status $3"
    fi
}

md_require_tool() {
    [ -f "$MD_TOOL" ] && [ -x "$MD_TOOL" ] ||
        md_fatal "managerd-pickle not found or not executable at $MD_TOOL (run make first)"
    command -v timeout >/dev/null 2>&1 ||
        md_fatal "the tests need coreutils' timeout"
}

# Every interpreter tests/lib/pythons.py finds ($(pyenv root)/versions and
# PATH), one "X.Y PATH" line each, oldest first, each real interpreter once;
# fails (naming them on stderr) when one the suite promises is missing.
md_find_pythons() {
    "${PYTHON:-python3}" "$top_srcdir/tests/lib/pythons.py"
}

# Sets MD_PYTHONS (the lines above), MD_PY27 and MD_PY3 (the newest 3.x).
md_pythons() {
    MD_PYTHONS=$(md_find_pythons) ||
        md_fatal "a Python interpreter the tests promise is missing (tests/lib/pythons.py said which)"
    [ -n "$MD_PYTHONS" ] || md_fatal "no Python interpreter found (pyenv root or PATH)"
    MD_PY27=$(echo "$MD_PYTHONS" | awk '$1 == "2.7" { print $2; exit }')
    MD_PY3=$(echo "$MD_PYTHONS" | awk '$1 ~ /^3\./ { p = $2 } END { print p }')
    [ -n "$MD_PY3" ] || md_fatal "no Python 3 interpreter found (pyenv root or PATH)"
    echo "interpreters:"
    echo "$MD_PYTHONS" | sed 's/^/  /'
}

md_require_py27() {
    [ -n "$MD_PY27" ] || md_fatal "no Python 2.7 interpreter found (pyenv root or PATH)"
}
