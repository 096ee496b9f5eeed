#!/bin/sh
# install.sh - libmanagerd-client as a packager installs it and a user
# links it: `make install` into a DESTDIR, then tests/client/install_prog.c
# built with `pkg-config managerd-client` (shared) and with
# `pkg-config --static` against the archive (so Requires.private and
# Libs.private must list everything the library's objects use), each run
# and its output checked; and `nm -D`: the shared library exports mdc_*
# and nothing else.
# Run by make check (top_srcdir, top_builddir, MD_CC, MAKE come from there).
set -u
: "${top_builddir:?}" "${top_srcdir:?}"
: "${MD_CC:=cc}" "${MD_SANITIZER_FLAGS:=}" "${MAKE:=make}"
passed=0
failed=0
ok() { echo "PASS: $1"; passed=$((passed + 1)); }
bad() { echo "FAIL: $1"; failed=$((failed + 1)); }
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
    exit $?
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/md-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
dest="$tmp/dest"
if ! $MAKE -s -C "$top_builddir" install DESTDIR="$dest" >"$tmp/install.log" 2>&1; then
    tail -n 30 "$tmp/install.log"
    bad "make install DESTDIR=..."
    finish
fi
ok "make install DESTDIR=..."

pc=$(find "$dest" -name managerd-client.pc | head -n 1)
lib=$(find "$dest" -name 'libmanagerd-client.so.*.*.*' | head -n 1)
archive=$(find "$dest" -name libmanagerd-client.a | head -n 1)
for f in "$pc" "$lib" "$archive"; do
    [ -n "$f" ] || { bad "installed: .pc, shared library and archive"; finish; }
done
ok "installed: $(basename "$pc") $(basename "$lib") $(basename "$archive")"
libdir=$(dirname "$lib")

# pkg-config as a packager's build sees the staged tree.
PKG_CONFIG_SYSROOT_DIR=$dest
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_SYSROOT_DIR PKG_CONFIG_PATH
unset PKG_CONFIG_LIBDIR

# Only mdc_* in the dynamic symbol table (defined symbols).
others=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $2 ~ /[A-Z]/ && $3 !~ /^mdc_/ { print $3 }')
count=$(nm -D --defined-only "$lib" | awk 'NF == 3 && $3 ~ /^mdc_/' | wc -l)
if [ -z "$others" ] && [ "$count" -ge 30 ]; then
    ok "nm -D: $count mdc_* symbols and nothing else"
else
    bad "nm -D exports more than mdc_* ($count mdc_*; others: $(echo $others | cut -c1-300))"
fi

# mdc.h names none of the library's internal types (md_*).
header=$(find "$dest" -name mdc.h | head -n 1)
if [ -n "$header" ] && ! grep -n '\bmd_[a-z]' "$header"; then
    ok "mdc.h has no md_* name"
else
    bad "mdc.h names internal md_* types"
fi

expect="('answer', 42)"
cflags=$(pkg-config --cflags managerd-client) || { bad "pkg-config --cflags"; finish; }
libs=$(pkg-config --libs managerd-client) || { bad "pkg-config --libs"; finish; }
# shared
if $MD_CC $MD_SANITIZER_FLAGS $cflags "$top_srcdir/tests/client/install_prog.c" \
        -o "$tmp/prog" $libs >"$tmp/cc.log" 2>&1 &&
   out=$(LD_LIBRARY_PATH=$libdir "$tmp/prog") && [ "$out" = "$expect" ]; then
    ok "shared: pkg-config --cflags --libs builds and runs"
else
    cat "$tmp/cc.log"; bad "shared: pkg-config --cflags --libs (output: ${out:-none})"
fi
# static: the whole archive (every object, as a program using all of
# mdc.h would pull in) in place of -lmanagerd-client, the rest from --static
slibs=$(pkg-config --static --libs managerd-client | sed 's/-lmanagerd-client//')
out=""
if $MD_CC $MD_SANITIZER_FLAGS $cflags "$top_srcdir/tests/client/install_prog.c" \
        -o "$tmp/prog-static" -Wl,--whole-archive "$archive" -Wl,--no-whole-archive $slibs >"$tmp/cc-static.log" 2>&1 &&
   out=$("$tmp/prog-static") && [ "$out" = "$expect" ]; then
    ok "static: pkg-config --static --libs is enough to link the archive"
else
    cat "$tmp/cc-static.log"; bad "static: pkg-config --static --libs (output: ${out:-none})"
fi
finish
