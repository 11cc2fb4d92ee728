#!/bin/bash
# The integer engine on a GPU machine: kernels against the CPU engine bit for bit, forward time
# (CPU, simple and dp4a kernels, candle's float path where the binary has it), the whole program
# on all bench texts with the GPU's utilisation, and files crossing between CPU and GPU.
# Run from the repository root with $C (default carry/int) holding: llmzip.xz (+ .json, made by
# scripts/carry-binary.py from an int8-cuda or cuda build), int8_gpu.gz, bench/*.txt,
# cpu/ (files compressed on another machine's CPU: all.MODEL.cpu.llmz, a20k.MODEL.cpu.llmz,
# a20k.txt) and gpu-timed.sh. Results and GPU-made files go to $OUT. Usage: gpu-int8.sh [DEV] [QUICK]
# (DEV: --device cuda by default; QUICK=1 for a rehearsal on a few kB).
set -u
C=${C:-carry/int}
DEV=${1:---device cuda}
QUICK=${2:-0}
OUT=${OUT:-/tmp/out}
W=/tmp/w
mkdir -p $W $OUT
source "$(dirname "$0")/gpu-libs.sh"
python3 $C/carry-binary.py unpack $C/llmzip.xz $W/llmzip || exit 1
gunzip -c $C/int8_gpu.gz > $W/int8_gpu && chmod +x $W/int8_gpu
Z=$W/llmzip
nvidia-smi -L 2>/dev/null; lscpu | grep -E "Model name"; echo "cores: $(nproc)"
if [ "$QUICK" = 1 ]; then head -c 30000 $C/bench/alice29.txt > $W/all.txt; else cat $C/bench/*.txt > $W/all.txt; fi
KB=$([ "$QUICK" = 1 ] && echo 5 || echo 100)

echo "== kernels: bit for bit against the CPU engine, forward time"
for m in small-1 medium-1; do
  echo "-- llmzip-$m"
  $W/int8_gpu check data/llmzip-$m $C/bench/alice29.txt $KB 5 2>&1 | grep -v "^residual after [0-9] layers: [0-9]* values, 0 differ$"
done

source $C/gpu-timed.sh

echo "== whole program, all bench texts ($(stat -c %s $W/all.txt) B)"
N=$(stat -c %s $W/all.txt)
$Z $DEV -q compress -f --model llmzip-small-1 -o $W/warm.llmz $C/bench/sample.txt
for m in small-1 medium-1; do
  timed c.$m $N $Z $DEV -v compress -f --model llmzip-$m -o $W/all.$m.gpu.llmz $W/all.txt
  timed d.$m $N $Z $DEV -v decompress -f -o $W/all.$m.out $W/all.$m.gpu.llmz
  cmp $W/all.$m.out $W/all.txt && echo "ROUNDTRIP $m exact"
  [ "$QUICK" = 1 ] || { cmp $W/all.$m.gpu.llmz $C/cpu/all.$m.cpu.llmz && echo "SAME BYTES $m: GPU file = CPU file of the other machine"; }
  cp $W/all.$m.gpu.llmz $OUT/
done
echo "-- many small blocks (-j 16 --block-size 65536), small-1"
timed c.small-1.b64k $N $Z $DEV -v -j 16 compress -f --block-size 65536 --model llmzip-small-1 -o $W/b.llmz $W/all.txt
timed d.small-1.b64k $N $Z $DEV -v -j 16 decompress -f -o $W/b.out $W/b.llmz
cmp $W/b.out $W/all.txt && echo "ROUNDTRIP b64k exact"

echo "== cross-decoding"
if [ "$QUICK" != 1 ]; then
  timed x.cpu-file-on-gpu-envvar $N env LLMZIP_INT8_CUDA=0 $Z -v decompress -f -o $W/x.out $C/cpu/all.small-1.cpu.llmz
  cmp $W/x.out $W/all.txt && echo "CROSS small-1 all: CPU file (other machine) on GPU via LLMZIP_INT8_CUDA=0: exact"
  timed x.gpu-file-on-cpu $N $Z --device cpu -v decompress -f -o $W/x.out $W/all.small-1.gpu.llmz
  cmp $W/x.out $W/all.txt && echo "CROSS small-1 all: GPU file on this machine's CPU: exact"
fi
for m in small-1 medium-1; do
  $Z $DEV decompress -c $C/cpu/a20k.$m.cpu.llmz | cmp - $C/cpu/a20k.txt && echo "CROSS $m a20k: CPU file on GPU: exact"
  $Z $DEV compress -c --model llmzip-$m $C/cpu/a20k.txt > $W/a20k.$m.gpu.llmz
  cmp $W/a20k.$m.gpu.llmz $C/cpu/a20k.$m.cpu.llmz && echo "CROSS $m a20k: GPU file = CPU file"
  for isa in avx512vnni avx2 scalar; do
    LLMZIP_ISA=$isa $Z --device cpu decompress -c $W/a20k.$m.gpu.llmz | cmp - $C/cpu/a20k.txt && echo "CROSS $m a20k: GPU file on CPU $isa: exact"
  done
done
echo "-- a GPU that is not there: the error must not name --device"
$Z --device cuda:7 decompress -c $C/cpu/a20k.small-1.cpu.llmz > /dev/null 2> $W/err.txt
echo "rc=$? $(cat $W/err.txt | tr '\n' ' ')"
grep -q -- "--device" $W/err.txt && echo "ERROR NAMES --device" || echo "error does not name --device"
lscpu | grep -o -w -E "avx512_vnni|avx512vnni|avx2" | sort -u | tr '\n' ' '; echo
