#!/bin/bash
# --device on a GPU machine: a GPU number that is not there must be one line naming it and the
# GPUs there are, plus a hint, exit 1 and no output file; the GPUs that are there and the CPU
# decode the same integer file exactly. Float models (llmzip-default) are tried too: a `cuda`
# build says "no such GPU", an `int8-cuda` build that it runs only integer models on the GPU.
# Usage, from the repository root: Z=PATH/TO/llmzip scripts/gpu-device-errors.sh
# (Z: a build with --features int8-cuda or cuda; GPUS=N overrides nvidia-smi's count.)
set -u
Z=${Z:?set Z to an llmzip built with --features int8-cuda or cuda}
source "$(dirname "$0")/gpu-libs.sh"
W=$(mktemp -d)
N=${GPUS:-$(nvidia-smi -L 2>/dev/null | wc -l)}
echo "GPUs: $N"
head -c 4000 data/sample/pellucidar.txt > $W/t.txt
$Z compress -q -f --model llmzip-small-1 -o $W/int.llmz $W/t.txt || exit 1
$Z compress -q -f --model llmzip-default -o $W/float.llmz $W/t.txt || exit 1
for dev in cuda:$N cuda:99; do
  for m in int float; do
    model=$([ $m = int ] && echo llmzip-small-1 || echo llmzip-default)
    for cmd in "decompress $W/$m.llmz -o $W/out" "compress --model $model $W/t.txt -o $W/out.llmz"; do
      echo "-- $Z --device $dev $cmd ($m)"
      $Z --device $dev $cmd 2>$W/err
      rc=$?
      cat $W/err
      echo "rc=$rc, stderr lines: $(wc -l < $W/err), output left: $(ls $W/out $W/out.llmz 2>/dev/null | wc -l)"
      grep -q DriverError $W/err && echo "FAIL: the driver's error leaked"
    done
  done
done
for dev in cpu $(seq -f cuda:%g 0 $((N - 1))); do
  $Z --device $dev decompress -c $W/int.llmz | cmp - $W/t.txt && echo "--device $dev decodes the integer file exactly"
done
rm -rf $W
