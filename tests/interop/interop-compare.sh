#!/bin/sh
# interop-compare.sh - real Python clients against managerd: scenarios 1, 2, 5,
# 8, 9 and 10 under every Python found, each compared step by step with CPython's own
# server of the same interpreter.
# Run by make check (top_srcdir, top_builddir and PYTHON come from there) or by hand:
#   top_builddir=BUILD sh tests/interop/interop-compare.sh
# Honours MD_SERVER_WRAPPER (e.g. valgrind ...) and MD_TEST_PYTHONS.
. "$(cd "$(dirname "$0")/../lib" && pwd)/driver.sh"
md_run_driver tests/interop/run.py --managerd "$top_builddir/managerd" --scenarios types,exceptions,custom,iterables,stdvalues,nested
