#!/bin/sh
# The C client library (clients/mdc.c) against managerd, and against
# CPython's own manager servers: the newest Python 3 at protocol 4 and,
# when found, Python 2.7 at protocol 2.
set -u
: "${top_builddir:?}" "${top_srcdir:?}" "${PYTHON:?}"
exec "$PYTHON" "$top_srcdir/tests/client/run_mdc.py" \
    --managerd "$top_builddir/managerd" --test-mdc "$top_builddir/tests/client/test_mdc"
