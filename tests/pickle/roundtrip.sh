#!/bin/sh
# roundtrip.sh - random values from Python 2.7 and the newest Python 3
# (MD_ROUNDTRIP_COUNT per protocol, default 10000; the two run side by
# side), and a smaller number from every other interpreter found
# (MD_ROUNDTRIP_OTHERS, default 300), go through managerd-pickle and come
# back equal (details in roundtrip.py). MD_SEED picks another seed.
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

md_require_tool
md_pythons
md_require_py27
count=${MD_ROUNDTRIP_COUNT:-10000}
others=${MD_ROUNDTRIP_OTHERS:-300}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/md-roundtrip.XXXXXX") || md_fatal "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

run() { # VERSION PYTHON COUNT
    "$2" "$MD_PICKLE_TESTS/roundtrip.py" "$3" >"$tmp/$1.log" 2>&1
    echo $? >"$tmp/$1.rc"
}

report() { # VERSION
    md_report_driver "$tmp/$1.log" "roundtrip.py under Python $1" "$(cat "$tmp/$1.rc")"
}

v27=2.7
v3=$(echo "$MD_PYTHONS" | awk -v p="$MD_PY3" '$2 == p { print $1 }')
run "$v27" "$MD_PY27" "$count" &
run "$v3" "$MD_PY3" "$count"
wait
report "$v27"
report "$v3"

echo "$MD_PYTHONS" | {
    while read -r version py; do
        [ "$py" = "$MD_PY27" ] || [ "$py" = "$MD_PY3" ] && continue
        run "$version" "$py" "$others"
        report "$version"
    done
    md_summary
}
