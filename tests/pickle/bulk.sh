#!/bin/sh
# bulk.sh - big dicts and lists go through managerd-pickle and come back
# byte for byte as the newest Python 3 found pickled them, at protocols
# 2 to 5 (details in bulk.py).
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

md_require_tool
md_pythons

tmp=$(mktemp -d "${TMPDIR:-/tmp}/md-bulk.XXXXXX") || md_fatal "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

"$MD_PY3" "$MD_PICKLE_TESTS/bulk.py" >"$tmp/log" 2>&1
rc=$?
cat "$tmp/log"
md_add_result "$tmp/log" "bulk"
if [ "$rc" -ne 0 ] && ! grep -q '^RESULT .* failed=[1-9]' "$tmp/log"; then
    md_fail "bulk.py exited with status $rc"
fi
md_summary
