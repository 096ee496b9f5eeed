#!/bin/sh
# value-memory.sh - a big dict cleared and filled again reuses its memory, which goes back once unused (the case value_memory of hardening.py).
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
exec sh "$top_srcdir/tests/hardening/run-case.sh" value_memory
