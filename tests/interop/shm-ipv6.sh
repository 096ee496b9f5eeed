#!/bin/sh
# SharedMemoryManager requests and an IPv6 listener (see shm_ipv6.py).
set -u
: "${top_builddir:?}" "${top_srcdir:?}" "${PYTHON:?}"
exec "$PYTHON" "$top_srcdir/tests/interop/shm_ipv6.py" --managerd "$top_builddir/managerd"
