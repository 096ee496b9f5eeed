#!/bin/sh
# cross-language.sh - runs tests/xmlrpc/cross_language.py (see its docstring) with the newest
# Python 3. Run by make check (top_srcdir, top_builddir and PYTHON come
# from there) or by hand:  top_builddir=BUILD sh tests/xmlrpc/cross-language.sh
. "$(cd "$(dirname "$0")/../lib" && pwd)/driver.sh"
md_run_driver tests/xmlrpc/cross_language.py
