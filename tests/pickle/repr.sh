#!/bin/sh
# repr.sh - managerd-pickle --repr and --str print random builtin values
# exactly as the newest Python 3 found prints them (details in repr.py;
# MD_REPR_COUNT values, default 3000; MD_SEED picks another seed).
. "$(cd "$(dirname "$0")" && pwd)/common.sh"

md_require_tool
md_pythons

tmp=$(mktemp -d "${TMPDIR:-/tmp}/md-repr.XXXXXX") || md_fatal "mktemp failed"
trap 'rm -rf "$tmp"' EXIT

"$MD_PY3" "$MD_PICKLE_TESTS/repr.py" "${MD_REPR_COUNT:-3000}" >"$tmp/log" 2>&1
md_report_driver "$tmp/log" "repr.py" $?
md_summary
