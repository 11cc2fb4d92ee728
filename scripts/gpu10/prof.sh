#!/usr/bin/env bash
# per-block profile of -5 -j16 on the first $BYTES of the slice
set -u
C=${C:-carry/c10}; W=/tmp/llmz-slice; mkdir -p $W
[ -f $W/slice.txt ] || SLICE_DIR=$W bash scripts/gpu-slice.sh make carry/slice ${BYTES:-16777216} >/dev/null
python3 $C/carry-binary.py unpack $C/llmzip.xz $W/llmzip --partial >/dev/null
export LLMZIP_INT8_CUDA=0
for E in ${MODES:-LLMZIP_BATCH_BLOCKS=1 LLMZIP_X=0}; do
  env ${E//,/ } LLMZIP_PROFILE=1 /usr/bin/time -f "$E compress %e s %U user %S sys %M KB" $W/llmzip compress -5 -j${J:-16} -c $W/slice.txt 2>$W/prof.txt > $W/s.llmz
  grep -v "^profile" $W/prof.txt | tail -3
  grep "^profile GPU\|^profile: " $W/prof.txt
  python3 - $W/prof.txt <<'PY'
import re, sys, statistics as st
rows = [l for l in open(sys.argv[1]) if l.startswith("profile")]
keys = ["wall", "model calls", "coding thread CPU", "quantize", "adaptive", "range coding"]
for k in keys:
    v = [float(re.search(re.escape(k) + r" ([0-9.]+) s", l).group(1)) for l in rows if re.search(re.escape(k) + r" ([0-9.]+) s", l)]
    if v: print(f"{k}: median {st.median(v):.2f} s over {len(v)} blocks")
PY
  if [ -n "${DEC:-}" ]; then
    env ${E//,/ } LLMZIP_PROFILE=1 /usr/bin/time -f "$E decompress %e s %U user %S sys %M KB" $W/llmzip decompress -j${J:-16} -c $W/s.llmz 2>$W/prof-d.txt | cmp - $W/slice.txt && echo "round trip exact"
    grep -v "^profile" $W/prof-d.txt | tail -2
    grep "^profile GPU\|^profile: " $W/prof-d.txt
    grep "^profile decompress" $W/prof-d.txt | head -2
  fi
done
