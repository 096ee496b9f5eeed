#!/bin/sh
# python-package.sh - the managerd Python package (clients/python) under
# every Python found: offline pip install, its unit tests, and
# `python -m managerd run` on unmodified programs (tests/python/run.py).
# Run by make check (top_srcdir, top_builddir and PYTHON come from there) or by hand:
#   top_builddir=BUILD sh tests/python/python-package.sh
# Honours MD_TEST_PYTHONS (space-separated interpreters to use).
. "$(cd "$(dirname "$0")/../lib" && pwd)/driver.sh"
md_run_driver tests/python/run.py --managerd "$top_builddir/managerd"
