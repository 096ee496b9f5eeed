#!/bin/sh
# http-longkey.sh - issue 8, point 15: HTTP Basic with the longest key (the case http_longkey of hardening.py).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
exec sh "$top_srcdir/tests/hardening/run-case.sh" http_longkey
