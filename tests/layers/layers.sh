#!/bin/sh
# Issue 9's layering, counted from the objects' symbol tables: no folder uses
# a folder above it in tests/layers/layers.py's ORDER, and no cycle of files
# spans two folders. Prints the order on success.
set -u
: "${top_builddir:?}" "${top_srcdir:?}" "${PYTHON:?}"
exec "$PYTHON" "$top_srcdir/tests/layers/layers.py" "$top_builddir" --check --order
