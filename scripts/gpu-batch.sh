#!/bin/bash
# Model calls merged across blocks (src/model/batcher.rs) on a GPU machine: the same bytes for
# -jN merged and -jN unmerged (the CUDA integer engine must be batch invariant), times,
# and the GPU's utilisation (nvidia-smi dmon, 1 s samples, in $OUT/dmon.log).
# Run from the repository root with $C (default carry/batch) holding llmzip.xz (+ .json, from
# scripts/carry-binary.py and an int8-cuda build), carry-binary.py and bench/*.txt.
set -u
C=${C:-carry/batch}
OUT=${OUT:-/tmp/out}
W=/tmp/w
mkdir -p $W $OUT
python3 $C/carry-binary.py unpack $C/llmzip.xz $W/llmzip || exit 1
Z=$W/llmzip
cat $C/bench/*.txt > $W/all.txt
N=$(stat -c %s $W/all.txt)
nvidia-smi -L; echo "input: $N bytes"
nvidia-smi dmon -s u -d 1 -o T > $OUT/dmon.log 2>&1 &
DMON=$!
t() { # tag command...
  local tag=$1; shift
  local s=$(date +%s.%N)
  echo "$(date +%T) start $tag" >> $OUT/phases.log
  "$@" 2>> $OUT/stderr.log
  local rc=$?
  local e=$(date +%s.%N)
  echo "$(date +%T) end $tag" >> $OUT/phases.log
  python3 -c "print('$tag rc=$rc %.2f s %.3f MB/s' % ($e-$s, $N/1e6/($e-$s)))"
}
$Z --device cuda -q compress -f -o $W/warm.llmz $C/bench/alice29.txt
B="--block-size 131072"

LLMZIP_PROFILE=1 t c.j16.merged $Z --device cuda -q compress -f -5 $B -j16 -o $W/m.llmz $W/all.txt
LLMZIP_BATCH_BLOCKS=0 t c.j16.unmerged $Z --device cuda -q compress -f -5 $B -j16 -o $W/u.llmz $W/all.txt
cmp $W/m.llmz $W/u.llmz && echo "SAME BYTES -j16 merged / unmerged: $(stat -c %s $W/m.llmz) B"
t d.j16.merged $Z --device cuda -q decompress -f -j16 -o $W/m.out $W/m.llmz
LLMZIP_BATCH_BLOCKS=0 t d.j16.unmerged $Z --device cuda -q decompress -f -j16 -o $W/u.out $W/m.llmz
cmp $W/m.out $W/all.txt && cmp $W/u.out $W/all.txt && echo "ROUNDTRIP exact (merged and unmerged decoders)"
t c.default $Z --device cuda -q compress -f -5 -o $W/d.llmz $W/all.txt
t d.default $Z --device cuda -q decompress -f -o $W/d.out $W/d.llmz
cmp $W/d.out $W/all.txt && echo "ROUNDTRIP default blocks exact: $(stat -c %s $W/d.llmz) B"
kill $DMON
cp $W/m.llmz $W/d.llmz $OUT/
grep -E "merged|engine calls" $OUT/stderr.log | tail -3
cat $OUT/phases.log
