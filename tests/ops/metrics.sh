#!/bin/sh
# --metrics (issue 12): the Prometheus endpoint under a load of Python
# clients, checked by promtool and against the load (tests/ops/metrics_test.py).
set -u
: "${top_builddir:?}" "${top_srcdir:?}" "${PYTHON:?}"
exec "$PYTHON" "$top_srcdir/tests/ops/metrics_test.py"
