#!/bin/bash
# The README's level table: compresses FILE at each level -1 … -9 with the installed llmzip
# (or $LLMZIP), decompresses and compares; prints size and "wall user system" seconds of
# both. Usage: [LEVELS="1 2 …"] scripts/level-table.sh FILE [REPS]
set -euo pipefail
B=${LLMZIP:-llmzip}
F=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for rep in $(seq "${2:-1}"); do
  for n in ${LEVELS:-1 2 3 4 5 6 7 8 9}; do
    c=$( { /usr/bin/time -f "%e %U %S" "$B" compress -c "-$n" "$F" > "$tmp/z"; } 2>&1 | tail -1)
    d=$( { /usr/bin/time -f "%e %U %S" "$B" decompress -c "$tmp/z" > "$tmp/out"; } 2>&1 | tail -1)
    cmp -s "$tmp/out" "$F" && ok=exact || ok=DIFFERS
    echo "rep $rep level $n: $(stat -c %s "$F") -> $(stat -c %s "$tmp/z") bytes, compress [$c] decompress [$d] $ok, load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
