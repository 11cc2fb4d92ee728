#!/usr/bin/env bash
# Measures bits per byte and compress/decompress KB/s for several reveal-plan settings on one
# file (default ../shared/bench/alice29.txt), with the model given (default: built-in).
# Usage: scripts/plan-table.sh [FILE] [MODEL]
set -euo pipefail
f=${1:-../shared/bench/alice29.txt}
model=${2:-llmzip-default}
bin=${LLMZIP:-target/release/llmzip}
n=$(stat -c %s "$f")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| setting | bytes out | bits/byte | compress KB/s | decompress KB/s |"
echo "|---|---:|---:|---:|---:|"
while IFS= read -r s; do
  [ -z "$s" ] && continue
  t0=$(date +%s.%N)
  $bin compress -q -f --model "$model" $s "$f" -o "$tmp/x.llmz"
  t1=$(date +%s.%N)
  $bin decompress -q -f "$tmp/x.llmz" -o "$tmp/x.out" --model "$model"
  t2=$(date +%s.%N)
  cmp -s "$tmp/x.out" "$f" || { echo "round trip failed for: $s" >&2; exit 1; }
  out=$(stat -c %s "$tmp/x.llmz")
  awk -v s="$s" -v n="$n" -v o="$out" -v a="$t0" -v b="$t1" -v c="$t2" \
    'BEGIN { printf "| `%s` | %d | %.3f | %.1f | %.1f |\n", s, o, o*8/n, n/1000/(b-a), n/1000/(c-b) }'
done <<'SETTINGS'
--rounds 4 --shape geometric --window 64 --context 32 --lanes 32
--rounds 4 --shape geometric --window 64 --context 32 --lanes 32 --no-mix
--rounds 1 --window 64 --context 32 --lanes 32
--rounds 2 --shape geometric --window 64 --context 32 --lanes 32
--rounds 8 --shape geometric --window 64 --context 32 --lanes 32
--rounds 4 --shape uniform --window 64 --context 32 --lanes 32
--rounds 4 --shape geometric --window 64 --context 16 --lanes 0
--rounds 4 --shape geometric --window 32 --context 32 --lanes 32
--method mask --mask-rate 0.15
--method mask --mask-rate 0.5
--method mask --mask-rate 1.0
SETTINGS
