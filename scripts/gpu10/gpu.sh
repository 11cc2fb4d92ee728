#!/usr/bin/env bash
# Session 10 GPU check: the K/V cache on the GPU (tests), same bytes as the CPU, speed.
set -u
C=${C:-carry/c10}
python3 $C/carry-binary.py unpack $C/llmzip.xz /tmp/llmzip --partial >/dev/null
python3 $C/carry-binary.py unpack $C/causal.xz /tmp/causal --partial >/dev/null
B=/tmp/llmzip
export LLMZIP_INT8_CUDA=0
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
nproc
step=${1:-all}
if [ $step = test ] || [ $step = all ]; then
  timeout 300 /tmp/causal --test-threads 1 the_gpu_cache --nocapture 2>&1 | tail -8
fi
if [ $step = alice ] || [ $step = all ]; then
  for l in 5; do
    /usr/bin/time -f "alice -$l compress %e s %M KB" $B compress -$l -c $C/bench/alice29.txt > /tmp/g$l.llmz
    cmp /tmp/g$l.llmz $C/L$l.llmz && echo "alice -$l: GPU file == CPU file ($(stat -c %s /tmp/g$l.llmz) B)"
    /usr/bin/time -f "alice -$l decompress %e s %M KB" $B decompress -c /tmp/g$l.llmz | cmp - $C/bench/alice29.txt && echo "alice -$l GPU round trip exact"
  done
fi
if [ $step = all ] || [ $step = bench ]; then
  cat $C/bench/*.txt > /tmp/all.txt; ls -l /tmp/all.txt
  for mode in ${MODES:-kv kvbatch}; do
    case $mode in
      kv) E="";; kvbatch) E="LLMZIP_BATCH_BLOCKS=1";; nokv) E="LLMZIP_GPU_KV=0";;
    esac
    (nvidia-smi dmon -s u -d 1 > /tmp/dmon-c.txt 2>&1 &)
    env $E LLMZIP_PROFILE=${PROF:-0} /usr/bin/time -f "$mode all -5 -j16 compress %e s %M KB" $B compress -5 -j16 -c /tmp/all.txt > /tmp/all5.llmz
    pkill -x nvidia-smi; sleep 0.5
    (nvidia-smi dmon -s u -d 1 > /tmp/dmon-d.txt 2>&1 &)
    env $E /usr/bin/time -f "$mode all -5 -j16 decompress %e s %M KB" $B decompress -j16 -c /tmp/all5.llmz | cmp - /tmp/all.txt && echo "$mode all -5 exact, $(stat -c %s /tmp/all5.llmz) B"
    pkill -x nvidia-smi; sleep 0.5
    for f in /tmp/dmon-c.txt /tmp/dmon-d.txt; do awk '!/^#/ && NF>1 {s+=$2; n++} END {printf "%s SM mean %.1f%% over %d s\n", FILENAME, s/n, n}' $f; done
  done
fi
