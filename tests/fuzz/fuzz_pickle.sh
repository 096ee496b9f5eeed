#!/bin/sh
# fuzz_pickle.sh - runs the libFuzzer target tests/fuzz/fuzz_pickle (built
# by `make check` with $FUZZ_CC) for MD_FUZZ_SECONDS seconds (default 60),
# starting from a corpus of every wire fixture and a dictionary of pickle
# opcodes. Any crash, leak, timeout, out-of-memory or sanitizer report
# fails the test; the offending input is printed in hex so it can be
# replayed with `tests/fuzz/fuzz_pickle FILE`.
. "$(cd "$(dirname "$0")/../pickle" && pwd)/common.sh"

fuzzer=$top_builddir/tests/fuzz/fuzz_pickle
seconds=${MD_FUZZ_SECONDS:-60}
[ -x "$fuzzer" ] ||
    md_fatal "$fuzzer is missing: make check builds it with FUZZ_CC='${FUZZ_CC:-}'" \
        "(clang with libFuzzer)"
[ -d "$MD_FIXTURES" ] || md_fatal "no fixture folder $MD_FIXTURES"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/md-fuzz.XXXXXX") || md_fatal "mktemp failed"
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/corpus" "$tmp/artifacts"
n=0
for f in "$MD_FIXTURES"/*.bin; do
    cp "$f" "$tmp/corpus/" && n=$((n + 1))
done
[ "$n" -gt 0 ] || md_fatal "no fixtures in $MD_FIXTURES"

# Opcodes and the globals the decoder treats specially.
cat >"$tmp/pickle.dict" <<'EOF'
proto2="\x80\x02"
proto3="\x80\x03"
proto4="\x80\x04"
proto5="\x80\x05"
frame="\x95\x10\x00\x00\x00\x00\x00\x00\x00"
stop="."
mark="("
pop="0"
pop_mark="1"
dup="2"
none="N"
true="\x88"
false="\x89"
int="I42\x0a"
int_true="I01\x0a"
long="L12345678901234567890L\x0a"
binint="J\xff\xff\xff\xff"
binint1="K\x01"
binint2="M\x00\x01"
long1="\x8a\x02\x00\x80"
long4="\x8b\x01\x00\x00\x00\xff"
float="F1.5\x0a"
float_nan="Fnan\x0a"
binfloat="G\x7f\xf8\x00\x00\x00\x00\x00\x00"
string="S'abc'\x0a"
binstring="T\x01\x00\x00\x00a"
short_binstring="U\x01\xe9"
unicode="V\\u20ac\x0a"
binunicode="X\x01\x00\x00\x00a"
short_binunicode="\x8c\x01a"
binunicode8="\x8d\x01\x00\x00\x00\x00\x00\x00\x00a"
binbytes="B\x01\x00\x00\x00a"
short_binbytes="C\x01a"
binbytes8="\x8e\x01\x00\x00\x00\x00\x00\x00\x00a"
bytearray8="\x96\x01\x00\x00\x00\x00\x00\x00\x00a"
empty_tuple=")"
tuple="t"
tuple1="\x85"
tuple2="\x86"
tuple3="\x87"
empty_list="]"
list="l"
append="a"
appends="e"
empty_dict="}"
dict="d"
setitem="s"
setitems="u"
empty_set="\x8f"
additems="\x90"
frozenset="\x91"
put="p0\x0a"
binput="q\x00"
long_binput="r\x00\x00\x00\x00"
memoize="\x94"
get="g0\x0a"
binget="h\x00"
long_binget="j\x00\x00\x00\x00"
reduce="R"
build="b"
newobj="\x81"
newobj_ex="\x92"
stack_global="\x93"
obj="o"
inst="i__main__\x0aPoint\x0a"
global_set="c__builtin__\x0aset\x0a"
global_frozenset="cbuiltins\x0afrozenset\x0a"
global_bytearray="cbuiltins\x0abytearray\x0a"
global_complex="cbuiltins\x0acomplex\x0a"
global_slice="cbuiltins\x0aslice\x0a"
global_encode="c_codecs\x0aencode\x0a"
global_reconstructor="ccopy_reg\x0a_reconstructor\x0a"
global_newobj="ccopyreg\x0a__newobj__\x0a"
global_odict="ccollections\x0aOrderedDict\x0a"
global_keyerror="cexceptions\x0aKeyError\x0a"
global_empty="c_queue\x0aEmpty\x0a"
global_token="cmultiprocessing.managers\x0aToken\x0a"
global_proxy="cmultiprocessing.managers\x0aRebuildProxy\x0a"
global_array="carray\x0aarray\x0a"
global_point="c__main__\x0aPoint\x0a"
name_builtins="\x8c\x08builtins"
name_managers="\x8c\x18multiprocessing.managers"
latin1="\x8c\x06latin1"
EOF

echo "fuzzing for $seconds s from $n fixtures"
(
    cd "$tmp" &&
        ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
        UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
            -max_len=65536 -dict="$tmp/pickle.dict" -artifact_prefix="$tmp/artifacts/" \
            -print_final_stats=1 "$tmp/corpus"
) >"$tmp/log" 2>&1
rc=$?
tail -n 40 "$tmp/log"

[ "$rc" -eq 0 ] && md_pass "fuzzer exit status" || md_fail "the fuzzer exited with status $rc"
report='ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer|UndefinedBehaviorSanitizer)'
report="$report|runtime error:|fuzz_pickle: "
if grep -E "$report" "$tmp/log" >/dev/null; then
    grep -E 'ERROR: |runtime error:|SUMMARY:|fuzz_pickle: ' "$tmp/log" | head -n 20
    md_fail "the fuzzer reported a problem"
else
    md_pass "no sanitizer or fuzzer report"
fi
grep -q '^Done [0-9]* runs' "$tmp/log" && md_pass "the fuzzer ran to its time limit" ||
    md_fail "the fuzzer did not finish its run"
for a in "$tmp"/artifacts/*; do
    [ -f "$a" ] || continue
    md_fail "input that broke the codec: $(basename "$a"), hex:"
    od -An -tx1 -v "$a" | head -n 64
done
md_summary
