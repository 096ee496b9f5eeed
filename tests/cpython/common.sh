# common.sh - sourced by tests/cpython/*.sh: runs one of this folder's
# Python drivers against the build's managerd (tests/lib/driver.sh reads
# its verdict). MD_SERVER_WRAPPER and MD_TEST_PYTHONS are honoured as the
# interop tests do.
. "$(cd "$(dirname "$0")/../lib" && pwd)/driver.sh"

# cpy_run DRIVER: exit with the driver's verdict.
cpy_run() {
    md_run_driver "tests/cpython/$1" --managerd "$top_builddir/managerd"
}
