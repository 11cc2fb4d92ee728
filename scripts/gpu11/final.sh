#!/usr/bin/env bash
# merged main on the GPU: cache test, alice and the structured texts GPU file == CPU file and
# GPU round trips, all seven bench texts together at -5 -j16 (MB/s, SM busy)
set -u
export C=${C:-carry/c11}
bash $C/gpu.sh test 2>&1 | tail -3
bash $C/gpu.sh alice 2>&1 | tail -4
B=/tmp/llmzip; export LLMZIP_INT8_CUDA=0
for f in logs-dpkg.log csv-dpkg-events.csv; do
  /usr/bin/time -f "$f compress %e s" $B compress -5 -c data/bench-texts/$f > /tmp/$f.llmz
  cmp /tmp/$f.llmz $C/$f.llmz && echo "$f: GPU file == CPU file ($(stat -c %s /tmp/$f.llmz) B)"
  /usr/bin/time -f "$f decompress %e s" $B decompress -c /tmp/$f.llmz | cmp - data/bench-texts/$f && echo "$f GPU round trip exact"
done
MODES=kv bash $C/gpu.sh bench 2>&1 | tail -5
