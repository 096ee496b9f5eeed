#!/bin/sh
# fairness.sh - issue 8, point 5: pipelining clients cannot starve the others (the case fairness of hardening.py).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
exec sh "$top_srcdir/tests/hardening/run-case.sh" fairness
