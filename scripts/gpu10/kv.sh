#!/usr/bin/env bash
set -u
C=${C:-carry/c10}
python3 $C/carry-binary.py unpack $C/int8_gpu.xz /tmp/int8_gpu --partial >/dev/null
cat $C/bench/*.txt > /tmp/all.txt
for l in ${LANES:-32 512 1024}; do
  LLMZIP_GPU_PROFILE=${PROF:-1} /tmp/int8_gpu kvspeed data/llmzip-causal-1 /tmp/all.txt $l ${STEPS:-200}
done
