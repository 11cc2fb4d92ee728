#!/bin/sh
# Sizes (bytes, bits/byte) of paq8px -8 on the given files, for comparison tables only:
# paq8px is GPL and never part of llmzip. Build it from https://github.com/hxim/paq8px
# (build/build-linux-with-gcc.sh) and pass its path in PAQ8PX.
set -eu
PAQ8PX=${PAQ8PX:-paq8px}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in "$@"; do
    n=$(wc -c < "$f")
    "$PAQ8PX" -8 "$f" "$tmp/out" > /dev/null
    z=$(wc -c < "$tmp/out")
    printf '%s\t%s\t%s\t%.3f\n' "$(basename "$f")" "$n" "$z" "$(echo "$z * 8 / $n" | bc -l)"
    rm -f "$tmp/out"
done
