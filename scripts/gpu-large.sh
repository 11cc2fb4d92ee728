#!/bin/bash
# llmzip-large-1 (the GPU model, integer only) on a GPU machine: kernels bit for bit against
# the CPU engine and forward time, the whole program on all bench texts (MB/s, GPU utilisation,
# exact round trips), the GPU's files against this project's CPU's, the GPU machine's CPU speed,
# and --device errors (scripts/gpu-device-errors.sh).
# Run from the repository root with $C (default carry/large) holding: llmzip.xz (+ .json, from
# scripts/carry-binary.py and an int8-cuda build), int8_gpu.gz, bench/*.txt and cpu/ (a20k.txt and
# the files a20k.L.cpu.llmz that another machine's CPU made at each level L of $LEVELS).
# Usage: gpu-large.sh [QUICK]  (QUICK=1: a rehearsal on a few kB)
set -u
C=${C:-carry/large}
QUICK=${1:-0}
OUT=${OUT:-/tmp/out}
LEVELS=${LEVELS:-"5 9"}
W=/tmp/w
mkdir -p $W $OUT
source "$(dirname "$0")/gpu-libs.sh"
python3 $C/carry-binary.py unpack $C/llmzip.xz $W/llmzip || exit 1
gunzip -c $C/int8_gpu.gz > $W/int8_gpu && chmod +x $W/int8_gpu
Z=$W/llmzip
M="--model llmzip-large-1"
nvidia-smi -L 2>/dev/null; lscpu | grep -E "Model name"; echo "cores: $(nproc)"
if [ "$QUICK" = 1 ]; then head -c 20000 $C/bench/alice29.txt > $W/all.txt; else cat $C/bench/*.txt > $W/all.txt; fi
N=$(stat -c %s $W/all.txt)

echo "== kernels: bit for bit against the CPU engine, forward time"
$W/int8_gpu check data/llmzip-large-1 $C/bench/alice29.txt $([ "$QUICK" = 1 ] && echo 5 || echo 100) 5 2>&1 |
  grep -v "^residual after [0-9] layers: [0-9]* values, 0 differ$"

source "$(dirname "$0")/gpu-timed.sh"
echo "== whole program, all bench texts ($N B), levels $LEVELS with $M"
$Z --device cuda -q compress -f $M -o $W/warm.llmz $C/bench/sample.txt
for l in $LEVELS; do
  timed c.large-1.$l $N $Z --device cuda -v compress -$l -f $M -o $W/all.$l.llmz $W/all.txt
  timed d.large-1.$l $N $Z --device cuda -v decompress -f -o $W/all.$l.out $W/all.$l.llmz
  cmp $W/all.$l.out $W/all.txt && echo "ROUNDTRIP -$l exact: $(stat -c %s $W/all.$l.llmz) B"
done

echo "== the GPU machine's CPU (--device cpu), alice29 at -5 with $M"
A=$C/bench/alice29.txt
timed cpu.c.large-1.5 $(stat -c %s $A) $Z --device cpu -v compress -5 -f $M -o $W/a.cpu.llmz $A
timed cpu.d.large-1.5 $(stat -c %s $A) $Z --device cpu -v decompress -f -o $W/a.cpu.out $W/a.cpu.llmz
cmp $W/a.cpu.out $A && echo "ROUNDTRIP CPU alice29 exact: $(stat -c %s $W/a.cpu.llmz) B"

echo "== cross-decoding (20 kB of alice29)"
for l in $LEVELS; do
  $Z --device cuda compress -$l -c $M $C/cpu/a20k.txt > $W/a20k.$l.gpu.llmz
  cmp $W/a20k.$l.gpu.llmz $C/cpu/a20k.$l.cpu.llmz && echo "CROSS -$l: GPU file = the other machine's CPU file"
  $Z --device cuda decompress -c $C/cpu/a20k.$l.cpu.llmz | cmp - $C/cpu/a20k.txt && echo "CROSS -$l: CPU file on GPU: exact"
  # the scalar kernels are slow: the -5 file only
  for isa in avx512vnni avx2 $([ $l = 5 ] && echo scalar); do
    LLMZIP_ISA=$isa $Z --device cpu decompress -c $W/a20k.$l.gpu.llmz | cmp - $C/cpu/a20k.txt && echo "CROSS -$l: GPU file on CPU $isa: exact"
  done
done

echo "== --device errors"
Z=$Z bash "$(dirname "$0")/gpu-device-errors.sh"
lscpu | grep -o -w -E "avx512_vnni|avx512vnni|avx2" | sort -u | tr '\n' ' '; echo
