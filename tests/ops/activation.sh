#!/bin/sh
# Socket activation and the systemd unit (issue 12): LISTEN_FDS from a
# launcher and from systemd-socket-activate, and the unit's own ExecStart
# (tests/ops/activation_test.py).
set -u
: "${top_builddir:?}" "${top_srcdir:?}" "${PYTHON:?}"
exec "$PYTHON" "$top_srcdir/tests/ops/activation_test.py"
