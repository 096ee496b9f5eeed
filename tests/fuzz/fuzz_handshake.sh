#!/bin/sh
# The framing and handshake state machine under libFuzzer (fuzz_handshake.c),
# seeded with every captured connection of tests/fixtures/wire.
. "$(cd "$(dirname "$0")" && pwd)/fuzz_run.sh"
md_fuzz_run handshake handshake 4096
