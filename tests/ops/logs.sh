#!/bin/sh
# Logs (issue 12): connection lines, --log-format json, --log-file and
# SIGHUP after a rotation (tests/ops/logs_test.py).
set -u
: "${top_builddir:?}" "${top_srcdir:?}" "${PYTHON:?}"
exec "$PYTHON" "$top_srcdir/tests/ops/logs_test.py"
