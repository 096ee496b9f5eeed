#!/bin/sh
# The XML-RPC-over-HTTP request path under libFuzzer (fuzz_http.c): raw
# bytes to a loopback endpoint, seeded with requests made from the wire
# fixtures.
. "$(cd "$(dirname "$0")" && pwd)/fuzz_run.sh"
md_fuzz_run http http 16384
