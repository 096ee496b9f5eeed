#!/bin/sh
# fuzz_xmlrpc.sh - run the libFuzzer target of the XML-RPC decoders
# (tests/fuzz/fuzz_xmlrpc.c) for 60 seconds, seeded with the XML wire
# fixtures. Any crash, leak, timeout or sanitizer report fails the test;
# the input that caused it is kept under $top_builddir/tests/fuzz/.
# Run by make check (which builds the target with $FUZZ_CC), or by hand:
#   top_builddir=BUILD sh tests/fuzz/fuzz_xmlrpc.sh
# MD_FUZZ_SECONDS changes the duration.
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
seconds=${MD_FUZZ_SECONDS:-60}
fuzzer="$top_builddir/tests/fuzz/fuzz_xmlrpc"
if [ ! -x "$fuzzer" ]; then
    echo "fuzz_xmlrpc.sh: $fuzzer is missing: build it with 'make tests/fuzz/fuzz_xmlrpc' (needs clang with libFuzzer)"
    echo "0 passed, 1 failed"
    exit 1
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz_xmlrpc.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus"
seeds=0
for f in "$top_srcdir"/tests/fixtures/wire/*.xml; do
    [ -f "$f" ] && cp "$f" "$work/corpus/" && seeds=$((seeds + 1))
done
# a response and a fault as Python's xmlrpc.client.dumps writes them
# (what managerctl reads from the http:// listener)
printf "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n<value><array><data>\n<value><int>1</int></value>\n<value><string>x</string></value>\n</data></array></value>\n</param>\n</params>\n</methodResponse>\n" >"$work/corpus/response.xml"
printf "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n<member>\n<name>faultCode</name>\n<value><int>1</int></value>\n</member>\n<member>\n<name>faultString</name>\n<value><string>KeyError: 'a'</string></value>\n</member>\n</struct></value>\n</fault>\n</methodResponse>\n" >"$work/corpus/fault.xml"
if [ "$seeds" -eq 0 ]; then
    echo "fuzz_xmlrpc.sh: no seeds in $top_srcdir/tests/fixtures/wire"
    echo "0 passed, 1 failed"
    exit 1
fi
mkdir -p "$top_builddir/tests/fuzz"
ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
    "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -dict="$top_srcdir/tests/fuzz/fuzz_xmlrpc.dict" \
    -artifact_prefix="$top_builddir/tests/fuzz/xmlrpc-" \
    "$work/corpus" >"$work/log" 2>&1
status=$?
tail -n 25 "$work/log"
if [ $status -ne 0 ] || grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|fuzz_xmlrpc: ' "$work/log"; then
    echo "fuzz_xmlrpc.sh: the fuzzer failed (status $status); see the artifact under $top_builddir/tests/fuzz/"
    echo "0 passed, 1 failed"
    exit 1
fi
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log")
echo "fuzz_xmlrpc.sh: ${runs:-?} inputs in ${seconds}s from $seeds seeds, no failure"
echo "1 passed, 0 failed"
exit 0
