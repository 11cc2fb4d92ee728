#!/usr/bin/env bash
# The built-in models' weights (data/*/model*.safetensors, about 50 MB) fill most of the 64 MiB
# that travels to the device machine with each call. A call that needs none of them (staging
# corpus pieces, pretraining, fetching a checkpoint) can leave them behind:
#
#   scripts/device-slim.sh out    move them to $HOLD (outside the repository)
#   ... device calls carrying up to ~55 MB each (SHARDS=6 scripts/pretrain/pack.sh) ...
#   scripts/device-slim.sh back   put them back and check them against git
#
# What travels is the files present in the working tree, so the tracked tree shrinks to ~7 MB
# while they are out. Nothing may build in the meantime (the binary includes them).
set -euo pipefail
cd "$(dirname "$0")/.."
HOLD=${HOLD:-../llmzip-device-hold}
case "${1:-}" in
out)
  mkdir -p "$HOLD"
  for f in data/*/model*.safetensors; do
    mkdir -p "$HOLD/$(dirname "$f")"
    mv "$f" "$HOLD/$f"
  done
  echo "tracked files left: $(git ls-files | while read -r f; do [ -f "$f" ] && stat -c %s "$f"; done | awk '{s += $1} END {print s}') bytes"
  ;;
back)
  (cd "$HOLD" && find data -type f) | while read -r f; do mv "$HOLD/$f" "$f"; done
  git diff --quiet -- data && echo "data/ restored, identical to git"
  ;;
*)
  echo "usage: $0 out | back" >&2
  exit 2
  ;;
esac
