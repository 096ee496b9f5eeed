#!/bin/sh
# fd-exhaustion.sh - issue 8, point 3: out of descriptors, and the log (the case fd_exhaustion of hardening.py).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
exec sh "$top_srcdir/tests/hardening/run-case.sh" fd_exhaustion
