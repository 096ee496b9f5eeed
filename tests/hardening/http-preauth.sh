#!/bin/sh
# http-preauth.sh - issue 8, point 1: unauthenticated HTTP bodies and headers (the case http_preauth of hardening.py).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
exec sh "$top_srcdir/tests/hardening/run-case.sh" http_preauth
