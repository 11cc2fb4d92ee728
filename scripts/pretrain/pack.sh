#!/usr/bin/env bash
# Puts ../shared/corpus's shards into carry/p1 … carry/p4 (ignored by git), each small enough
# to travel with the working tree to the device machine (64 MiB per call, the tree included).
set -euo pipefail
cd "$(dirname "$0")/../.."
C=${CORPUS:-../shared/corpus}
rm -rf carry/p1 carry/p2 carry/p3 carry/p4
mkdir -p carry/p1 carry/p2 carry/p3 carry/p4
i=0
for f in "$C"/train-*.txt.xz; do
  cp "$f" "carry/p$((i / 4 + 1))/"
  i=$((i + 1))
done
cp "$C/valid.txt.xz" carry/p4/
du -sh carry/p*
