#!/bin/sh
# output-bound.sh - issue 8, point 4: replies a client never reads (the case output_bound of hardening.py).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
exec sh "$top_srcdir/tests/hardening/run-case.sh" output_bound
