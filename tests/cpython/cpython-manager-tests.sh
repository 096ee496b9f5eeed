#!/bin/sh
# cpython-manager-tests.sh - CPython's own manager tests (those of
# test/_test_multiprocessing.py of every Python 3.6-3.13 found) against
# managerd; see run_cpython_tests.py. By hand:
#   top_builddir=BUILD sh tests/cpython/cpython-manager-tests.sh
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
cpy_run run_cpython_tests.py
