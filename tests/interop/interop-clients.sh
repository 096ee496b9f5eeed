#!/bin/sh
# interop-clients.sh - real Python clients against managerd: scenarios 3, 4, 6
# and 8 under every Python found: blocking calls, child processes, stored
# proxies and reference counts, TCP/Unix/abstract listeners and wrong keys,
# and values exchanged between old and new Pythons on one server.
# Run by make check (top_srcdir, top_builddir and PYTHON come from there) or by hand:
#   top_builddir=BUILD sh tests/interop/interop-clients.sh
# Honours MD_SERVER_WRAPPER (e.g. valgrind ...) and MD_TEST_PYTHONS.
. "$(cd "$(dirname "$0")/../lib" && pwd)/driver.sh"
md_run_driver tests/interop/run.py --managerd "$top_builddir/managerd" --scenarios blocking,refs,transports,cross
