#!/usr/bin/env bash
# Puts ../shared/corpus's shards into carry/p1 … carry/pN (ignored by git), SHARDS per piece
# (default 2), each small enough to travel with the working tree to the device machine
# (64 MiB per call, the tree included). With the built-in models in the tree only one shard
# fits (SHARDS=1); with their weights left behind (scripts/device-slim.sh out) six do (SHARDS=6:
# three calls stage the whole corpus).
# valid.txt.xz goes with the last piece.
set -euo pipefail
cd "$(dirname "$0")/../.."
C=${CORPUS:-../shared/corpus}
K=${SHARDS:-2}
rm -rf carry/p[0-9]*
i=0
for f in "$C"/train-*.txt.xz; do
  p=carry/p$((i / K + 1))
  mkdir -p "$p"
  cp "$f" "$p/"
  i=$((i + 1))
done
cp "$C/valid.txt.xz" "carry/p$(((i - 1) / K + 1))/"
du -sh carry/p*
