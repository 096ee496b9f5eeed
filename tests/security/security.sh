#!/bin/sh
# The hardening points of issue 8 that need a running managerd, each as
# the attack (tests/security/attacks.py says which).
set -u
: "${top_builddir:?}" "${top_srcdir:?}" "${PYTHON:?}"
exec "$PYTHON" "$top_srcdir/tests/security/attacks.py" --managerd "$top_builddir/managerd"
