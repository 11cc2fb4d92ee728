#!/bin/bash
# Run on the GPU machine from the repository root with carry/ holding the CUDA binary
# (target-cuda/llmzip), bench/ (../shared/bench texts) and alice29.cpu.llmz (made on a CPU).
# Checks the tree on a GPU: round trips and speed with one and many blocks, GPU utilisation,
# and that files cross between GPU, this CPU and another machine's CPU as they should.
set -u
for n in libcurand.so.10 libcublas.so.13 libcudart.so.13; do
  export LD_LIBRARY_PATH=$(dirname $(find / -name "$n*" 2>/dev/null | head -1)):${LD_LIBRARY_PATH:-}
done
Z=$PWD/carry/llmzip; chmod +x $Z; W=/tmp/t; mkdir -p $W
cat carry/bench/*.txt > $W/all.txt
ts() { date +%s.%N; }
$Z --device cuda -q compress -f -o $W/warm.llmz carry/bench/sample.txt
echo "== one block, alice29 (default plan)"
s=$(ts); $Z --device cuda -v compress -f -o $W/a.llmz carry/bench/alice29.txt 2>&1 | tail -1
s=$(ts); $Z --device cuda -q decompress -f -o $W/a.out $W/a.llmz; e=$(ts)
cmp $W/a.out carry/bench/alice29.txt && echo "ROUNDTRIP alice29 OK decompress $(python3 -c "print('%.1f KB/s'%(152.089/($e-$s)))")"
for args in "-j 16 --block-size 65536" "-j 32 --block-size 32768"; do
  nvidia-smi --query-gpu=utilization.gpu --format=csv,noheader,nounits -lms 200 > $W/util.txt &
  P=$!; s=$(ts)
  $Z --device cuda -q compress -f $args -o $W/all.llmz $W/all.txt; rc=$?
  e=$(ts); kill $P; wait $P 2>/dev/null
  python3 -c "
import os
u=[int(x) for x in open('$W/util.txt').read().split() if x.strip().isdigit()]
n=os.path.getsize('$W/all.txt'); c=os.path.getsize('$W/all.llmz'); t=$e-$s
print('COMPRESS $args: rc=$rc %.1f KB/s %.3f bpb, util mean %.0f%% median %d%% max %d%% (%d samples)'%(n/1000/t,c*8/n,sum(u)/max(len(u),1),sorted(u)[len(u)//2],max(u),len(u)))"
  s=$(ts); $Z --device cuda -q decompress -f ${args%% --*} -o $W/all.out $W/all.llmz; rc=$?; e=$(ts)
  cmp $W/all.out $W/all.txt && echo "ROUNDTRIP $args rc=$rc OK $(python3 -c "print('%.1f KB/s'%(1339.825/($e-$s)))")"
done
echo "== cross-device"
$Z --device cpu decompress -c $W/a.llmz > /dev/null; echo "GPU file on CPU: rc=$?"
$Z --device cuda decompress -c carry/alice29.cpu.llmz > /dev/null; echo "CPU file (other machine) on GPU: rc=$?"
$Z --device cpu decompress -c carry/alice29.cpu.llmz | cmp - carry/bench/alice29.txt && echo "CPU file (other machine) on this CPU: exact"
$Z --device cpu compress -c carry/bench/alice29.txt > $W/a.cpu.llmz; cmp $W/a.cpu.llmz carry/alice29.cpu.llmz && echo "CPU files of both machines byte-identical ($(stat -c %s $W/a.cpu.llmz) bytes)"
lscpu | grep -E "Model name|Flags" | cut -c1-120
