#!/bin/sh
# managerctl (issue 12) against managerd over every listener kind (http://
# included) and against CPython's own manager server
# (tests/ops/managerctl_test.py).
set -u
: "${top_builddir:?}" "${top_srcdir:?}" "${PYTHON:?}"
exec "$PYTHON" "$top_srcdir/tests/ops/managerctl_test.py"
