#!/bin/sh
# The typeids (issue 9): managerd --help, a running managerd, the README's
# lists and managerd(1) agree with the registry's table
# (tests/ops/typeids_test.py).
set -u
: "${top_builddir:?}" "${top_srcdir:?}" "${PYTHON:?}"
exec "$PYTHON" "$top_srcdir/tests/ops/typeids_test.py"
