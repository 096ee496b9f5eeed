#!/bin/sh
# faults.sh - managerd under killed clients, malformed frames and handshakes,
# pickle bombs, its size and connection limits, and 2,000 concurrent
# connections (scenario 7), with the newest Python 3.
# Run by make check (top_srcdir, top_builddir and PYTHON come from there) or by hand:
#   top_builddir=BUILD sh tests/interop/faults.sh
# Honours MD_SERVER_WRAPPER (e.g. valgrind ...).
. "$(cd "$(dirname "$0")/../lib" && pwd)/driver.sh"
md_run_driver tests/interop/faults.py --managerd "$top_builddir/managerd"
