#!/bin/sh
# fixtures.sh - every pickle fixture of tests/fixtures/wire, re-encoded by
# managerd-pickle at each protocol from 2 to what each interpreter reads,
# loads in every Python found to the value the original loads to
# (details in fixtures.py).
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

md_require_tool
md_pythons
[ -d "$MD_FIXTURES" ] || md_fatal "no fixture folder $MD_FIXTURES"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/md-fixtures.XXXXXX") || md_fatal "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

if ! "$MD_PY3" "$MD_PICKLE_TESTS/fixtures.py" reference "$tmp/ref.json" "$MD_FIXTURES" \
    >"$tmp/ref.log" 2>&1; then
    cat "$tmp/ref.log"
    md_fatal "the newest Python 3 ($MD_PY3) could not load the fixtures"
fi
cat "$tmp/ref.log"

# One line per interpreter: "X.Y PATH".
echo "$MD_PYTHONS" | {
    while read -r version py; do
        log=$tmp/check-$version.log
        "$py" "$MD_PICKLE_TESTS/fixtures.py" check "$tmp/ref.json" "$MD_FIXTURES" >"$log" 2>&1
        md_report_driver "$log" "fixtures.py under Python $version" $?
    done
    md_summary
}
