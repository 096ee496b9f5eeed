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
md_report_driver "$tmp/log" "bulk.py" $?
md_summary
