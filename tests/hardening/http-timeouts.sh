#!/bin/sh
# http-timeouts.sh - issue 8, point 2: HTTP timeouts and the connection count (the case http_timeouts of hardening.py).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
exec sh "$top_srcdir/tests/hardening/run-case.sh" http_timeouts
