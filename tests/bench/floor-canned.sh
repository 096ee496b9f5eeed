#!/bin/sh
# The floor server's canned replies (floor_server --canned METHOD=FILE):
# sent byte for byte, every other call still answered None; then
# bench_bulk.py end to end at 100,000 items, one round
# (tests/bench/floor_canned_test.py). Prints no timing verdict: the bench
# figures are not checked, only that every row has them.
. "$(cd "$(dirname "$0")/../lib" && pwd)/driver.sh"
md_run_driver tests/bench/floor_canned_test.py "$top_builddir"
