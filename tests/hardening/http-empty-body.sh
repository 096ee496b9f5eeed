#!/bin/sh
# http-empty-body.sh - issue 8, point 17: an empty HTTP body (the case http_empty_body of hardening.py).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
exec sh "$top_srcdir/tests/hardening/run-case.sh" http_empty_body
