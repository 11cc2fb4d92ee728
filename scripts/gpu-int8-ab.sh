#!/bin/bash
# Builds of llmzip side by side on one GPU: integer llmzip-small-1 on all bench texts,
# compress and decompress, the builds alternating. Run from the repository root with $C
# (default carry/int) holding NAME.xz (+ .json) for each NAME given, bench/*.txt, and
# carry-binary.py and gpu-timed.sh. Usage: gpu-int8-ab.sh NAME... (first is the reference)
set -u
C=${C:-carry/int}
OUT=${OUT:-/tmp/out}
W=/tmp/w
mkdir -p $W $OUT
source "$(dirname "$0")/gpu-libs.sh"
for b in "$@"; do python3 $C/carry-binary.py unpack $C/$b.xz $W/$b || exit 1; done
nvidia-smi -L
cat $C/bench/*.txt > $W/all.txt
N=$(stat -c %s $W/all.txt)
source $C/gpu-timed.sh
$W/$1 --device cuda -q compress -f --model llmzip-small-1 -o $W/warm.llmz $C/bench/sample.txt
for r in 1 2; do
  for b in "$@"; do
    timed c.$b.$r $N $W/$b --device cuda -v compress -f --model llmzip-small-1 -o $W/c.$b.llmz $W/all.txt
    cmp $W/c.$b.llmz $W/c.$1.llmz && echo "SAME BYTES $b $1"
  done
done
for b in "$@"; do
  timed d.$b $N $W/$b --device cuda -v decompress -f -o $W/d.$b.out $W/c.$1.llmz
  cmp $W/d.$b.out $W/all.txt && echo "ROUNDTRIP $b exact"
done
