#!/bin/sh
# run-case.sh CASE - runs one case of tests/hardening/hardening.py (see its
# docstring) with the Python 3 of make check. The other .sh files here
# each run one case. By hand:  top_builddir=BUILD sh tests/hardening/X.sh
. "$(cd "$(dirname "$0")/../lib" && pwd)/driver.sh"
md_run_driver tests/hardening/hardening.py "$1"
