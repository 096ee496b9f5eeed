#!/bin/sh
# docs-examples.sh - the manager examples of Python's multiprocessing
# documentation, every Python 3.6-3.13 found, against managerd and CPython's
# own server; see run_docs_examples.py. By hand:
#   top_builddir=BUILD sh tests/cpython/docs-examples.sh
. "$(cd "$(dirname "$0")" && pwd)/common.sh"
cpy_run run_docs_examples.py
