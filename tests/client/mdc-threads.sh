#!/bin/sh
# The client library under ThreadSanitizer (tests/client/test_mdc_threads,
# built by make check with $FUZZ_CC): one client per thread against a
# managerd on a Unix socket, distinct error codes, connect within the
# timeout. A data race makes the program exit 66, which fails the test.
set -u
: "${top_builddir:?}"
prog=$top_builddir/tests/client/test_mdc_threads
[ -x "$prog" ] || { echo "FAIL: $prog is missing (make check builds it)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/md-threads.XXXXXX") || exit 1
key=threads-test-key-0123456789
MANAGERD_AUTHKEY=$key "$top_builddir/managerd" --listen "unix:$tmp/s.sock" >"$tmp/out" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
i=0
while ! grep -q "listening on" "$tmp/out" && [ "$i" -lt 100 ]; do
    sleep 0.1
    i=$((i + 1))
done
grep -q "listening on" "$tmp/out" || { cat "$tmp/out"; echo "FAIL: managerd did not start"; exit 1; }
TSAN_OPTIONS=${TSAN_OPTIONS:-exitcode=66} "$prog" "unix:$tmp/s.sock" "$key"
