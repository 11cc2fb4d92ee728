#!/bin/bash
# The integer engine against candle's float CUDA path on one GPU, and two builds of the
# integer engine side by side. Run from the repository root after scripts/gpu-int8.sh's
# set-up, with $C (default carry/int) holding llmzip.xz and llmzip-old.xz (--features cuda
# builds packed by scripts/carry-binary.py), int8_gpu.gz (the same build's example),
# bench/*.txt and small-1-float/ (llmzip-small-1's config, tokenizer and float weights only,
# so that the float path loads it). Results go to stdout and $OUT.
set -u
C=${C:-carry/int}
OUT=${OUT:-/tmp/out}
W=/tmp/w
mkdir -p $W $OUT
source "$(dirname "$0")/gpu-libs.sh"
python3 $C/carry-binary.py unpack $C/llmzip.xz $W/llmzip || exit 1
python3 $C/carry-binary.py unpack $C/llmzip-old.xz $W/llmzip-old || exit 1
gunzip -c $C/int8_gpu.gz > $W/int8_gpu && chmod +x $W/int8_gpu
nvidia-smi -L
cat $C/bench/*.txt > $W/all.txt
N=$(stat -c %s $W/all.txt)
source $C/gpu-timed.sh

echo "== forward: CPU int8, GPU int8 (simple, dp4a), GPU float (candle), the same calls"
for m in small-1 medium-1; do
  echo "-- llmzip-$m"
  $W/int8_gpu check data/llmzip-$m $C/bench/alice29.txt 100 5 2>&1 | grep -E "W32|forward|compress|ready"
done

echo "== whole program, all bench texts ($N B): float small-1 on the GPU"
$W/llmzip --device cuda -q compress -f --model $C/small-1-float -o $W/warm.llmz $C/bench/sample.txt
timed f.c.small-1 $N $W/llmzip --device cuda -v compress -f --model $C/small-1-float -o $W/f.llmz $W/all.txt
timed f.d.small-1 $N $W/llmzip --device cuda -v decompress -f --model $C/small-1-float -o $W/f.out $W/f.llmz
cmp $W/f.out $W/all.txt && echo "ROUNDTRIP float small-1 exact"

echo "== integer small-1 on the GPU: old and new build alternating"
for r in 1 2; do
  for b in old new; do
    Z=$W/llmzip; [ $b = old ] && Z=$W/llmzip-old
    timed i.c.$b.$r $N $Z --device cuda -v compress -f --model llmzip-small-1 -o $W/i.$b.llmz $W/all.txt
  done
done
cmp $W/i.old.llmz $W/i.new.llmz && echo "SAME BYTES old and new build"
for b in old new; do
  Z=$W/llmzip; [ $b = old ] && Z=$W/llmzip-old
  timed i.d.$b $N $Z --device cuda -v decompress -f -o $W/i.$b.out $W/i.new.llmz
  cmp $W/i.$b.out $W/all.txt && echo "ROUNDTRIP $b exact"
done
