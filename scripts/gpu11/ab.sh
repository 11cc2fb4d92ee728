#!/usr/bin/env bash
# A/B of two builds (carry/c11/llmzipA.xz, llmzip.xz) on the first $BYTES of the slice,
# -5 -j$J, alternating, ROUNDS times: compress, decompress, cmp
set -u
export C=${C:-carry/c11}; W=/tmp/llmz-slice; mkdir -p $W
[ -f $W/slice.txt ] || SLICE_DIR=$W bash scripts/gpu-slice.sh make carry/slice ${BYTES:-16000000} >/dev/null
python3 $C/carry-binary.py unpack $C/llmzipA.xz $W/A --partial >/dev/null
python3 $C/carry-binary.py unpack $C/llmzip.xz $W/B --partial >/dev/null
export LLMZIP_INT8_CUDA=0
for r in $(seq ${ROUNDS:-1}); do for x in A B; do
  /usr/bin/time -f "$x compress %e s %U user %S sys" $W/$x compress -q -5 -j${J:-16} -c $W/slice.txt > $W/$x.llmz
  /usr/bin/time -f "$x decompress %e s %U user %S sys" $W/$x decompress -j${J:-16} -c $W/$x.llmz | cmp - $W/slice.txt && echo "$x exact $(stat -c %s $W/$x.llmz) B"
done; done
cmp $W/A.llmz $W/B.llmz && echo "A and B files identical"
