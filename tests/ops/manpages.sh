#!/bin/sh
# The manual pages (issue 12): --help and the pages agree, mdc(3) covers
# mdc.h, man -l renders them without warnings (tests/ops/manpages_test.py).
set -u
: "${top_builddir:?}" "${top_srcdir:?}" "${PYTHON:?}"
exec "$PYTHON" "$top_srcdir/tests/ops/manpages_test.py"
