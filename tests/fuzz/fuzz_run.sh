# fuzz_run.sh - sourced by the fuzz_*.sh tests (but fuzz_xmlrpc.sh): runs
# a libFuzzer target tests/fuzz/fuzz_NAME (built by `make check` with
# $FUZZ_CC) for MD_FUZZ_SECONDS seconds (default 60; `make fuzz` sets
# FUZZ_SECONDS) from seeds made out of the wire fixtures. Any crash,
# leak, timeout, out-of-memory or sanitizer report fails the test; the
# offending input is printed in hex so it can be replayed with
# `tests/fuzz/fuzz_NAME FILE`.
. "$(cd "$(dirname "$0")/../pickle" && pwd)/common.sh"

# A fresh $tmp with corpus/ and artifacts/, removed at exit.
md_fuzz_setup() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/md-fuzz.XXXXXX") || md_fatal "mktemp failed"
    trap 'rm -rf "$tmp"' EXIT
    mkdir "$tmp/corpus" "$tmp/artifacts"
}

# Runs tests/fuzz/fuzz_NAME on $tmp/corpus and reports; extra arguments
# go to libFuzzer.
md_fuzz_go() { # NAME MAX-LEN [LIBFUZZER-ARG...]
    name=$1 maxlen=$2
    shift 2
    fuzzer=$top_builddir/tests/fuzz/fuzz_$name
    seconds=${MD_FUZZ_SECONDS:-60}
    [ -x "$fuzzer" ] ||
        md_fatal "$fuzzer is missing: make check builds it with FUZZ_CC='${FUZZ_CC:-}'" \
            "(clang with libFuzzer)"
    echo "fuzzing fuzz_$name for $seconds s"
    (
        cd "$tmp" &&
            ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
            UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
            "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
                -max_len="$maxlen" -artifact_prefix="$tmp/artifacts/" -print_final_stats=1 \
                "$@" "$tmp/corpus"
    ) >"$tmp/log" 2>&1
    rc=$?
    tail -n 30 "$tmp/log"
    [ "$rc" -eq 0 ] && md_pass "fuzzer exit status" || md_fail "the fuzzer exited with status $rc"
    report="ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)"
    report="$report|runtime error:|fuzz_$name: "
    if grep -E "$report" "$tmp/log" >/dev/null; then
        grep -E "ERROR: |runtime error:|SUMMARY:|fuzz_$name: " "$tmp/log" | head -n 20
        md_fail "the fuzzer reported a problem"
    else
        md_pass "no sanitizer or fuzzer report"
    fi
    grep -q '^Done [0-9]* runs' "$tmp/log" && md_pass "the fuzzer ran to its time limit" ||
        md_fail "the fuzzer did not finish its run"
    for a in "$tmp"/artifacts/*; do
        [ -f "$a" ] || continue
        md_fail "input that broke fuzz_$name: $(basename "$a"), hex:"
        od -An -tx1 -v "$a" | head -n 64
    done
    md_summary
}

# Seeds from tests/fuzz/seeds.py KIND, then md_fuzz_go.
md_fuzz_run() { # NAME SEED-KIND MAX-LEN
    [ -n "${PYTHON:-}" ] || md_fatal "PYTHON is not set"
    md_fuzz_setup
    "$PYTHON" "$top_srcdir/tests/fuzz/seeds.py" "$2" "$MD_FIXTURES" "$tmp/corpus" ||
        md_fatal "no seeds from $MD_FIXTURES"
    md_fuzz_go "$1" "$3"
}
