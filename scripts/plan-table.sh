#!/usr/bin/env bash
# Bits per byte and speed of one model over a grid of reveal plans: for every file and plan,
# LM alone (--no-mix) and mixed with the adaptive token model, compressed and decompressed
# (each round trip checked with cmp), timed by the wall clock.
#
# Usage: scripts/plan-table.sh [MODEL] [FILE...]
#   MODEL  a model directory or built-in name (default: llmzip-default)
#   FILE   texts to measure (default: ../shared/bench/alice29.txt and the first 64 KiB of
#          ../shared/corpus/valid.txt.xz, written to a temporary file)
# The grid comes from the environment (space-separated lists; defaults shown):
#   ROUNDS="1 2 4" WINDOWS="32 64" CONTEXTS="8 16 32 64" SHAPES="uniform geometric"
#   MIXES="nomix mix" LANES=32 THREADS=  (empty: llmzip's default)  LLMZIP=target/release/llmzip
# One round has a single group, so its shapes are the same plan: it is measured once.
# Writes a markdown table to stdout and, with TSV=FILE, the same rows tab-separated.
# A plan the model cannot hold (window + context beyond its positions) is reported and skipped.
set -euo pipefail
model=${1:-llmzip-default}
shift || true
bin=${LLMZIP:-target/release/llmzip}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  files=(../shared/bench/alice29.txt)
  xz -dc ../shared/corpus/valid.txt.xz | head -c 65536 > "$tmp/valid-64k.txt"
  files+=("$tmp/valid-64k.txt")
fi
threads=()
[ -n "${THREADS:-}" ] && threads=(--threads "$THREADS")
tsv=${TSV:-/dev/null}
header="file	rounds	window	context	shape	mix	bytes_in	bytes_out	bits_per_byte	compress_kb_s	decompress_kb_s"
echo "$header" > "$tsv"
echo "model: \`$model\` ($("$bin" --version 2>/dev/null || echo llmzip)), lanes ${LANES:-32}"
echo
echo "| file | rounds | window | context | shape | mix | bytes out | bits/byte | compress KB/s | decompress KB/s |"
echo "|---|---:|---:|---:|---|---|---:|---:|---:|---:|"
now() { date +%s.%N; }
for f in "${files[@]}"; do
  name=$(basename "$f")
  n=$(stat -c %s "$f")
  for r in ${ROUNDS:-1 2 4}; do
    for w in ${WINDOWS:-32 64}; do
      for c in ${CONTEXTS:-8 16 32 64}; do
        shapes=(${SHAPES:-uniform geometric})
        [ "$r" = 1 ] && shapes=("${shapes[0]}")
        for s in "${shapes[@]}"; do
          shape=$s
          [ "$r" = 1 ] && shape=-
          for mix in ${MIXES:-nomix mix}; do
            flags=(--rounds "$r" --window "$w" --context "$c" --shape "$s" --lanes "${LANES:-32}")
            [ "$mix" = nomix ] && flags+=(--no-mix)
            t0=$(now)
            if ! "$bin" compress -q -f "${threads[@]}" --model "$model" "${flags[@]}" "$f" -o "$tmp/x.llmz" 2> "$tmp/err"; then
              echo "| $name | $r | $w | $c | $shape | $mix | – | $(head -c 120 "$tmp/err" | tr '\n|' '  ') | | |"
              continue
            fi
            t1=$(now)
            "$bin" decompress -q -f "${threads[@]}" --model "$model" "$tmp/x.llmz" -o "$tmp/x.out"
            t2=$(now)
            cmp -s "$tmp/x.out" "$f" || { echo "round trip differs: $name ${flags[*]}" >&2; exit 1; }
            out=$(stat -c %s "$tmp/x.llmz")
            awk -v f="$name" -v r="$r" -v w="$w" -v c="$c" -v s="$shape" -v m="$mix" -v n="$n" -v o="$out" \
              -v a="$t0" -v b="$t1" -v d="$t2" -v tsv="$tsv" 'BEGIN {
                bpb = o * 8 / n; cs = n / 1000 / (b - a); ds = n / 1000 / (d - b)
                printf "| %s | %d | %d | %d | %s | %s | %d | %.3f | %.1f | %.1f |\n", f, r, w, c, s, m, o, bpb, cs, ds
                printf "%s\t%d\t%d\t%d\t%s\t%s\t%d\t%d\t%.4f\t%.2f\t%.2f\n", f, r, w, c, s, m, n, o, bpb, cs, ds >> tsv
              }'
          done
        done
      done
    done
  done
done
