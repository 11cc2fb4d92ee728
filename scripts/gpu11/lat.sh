#!/usr/bin/env bash
# decoder latency settings on the first $BYTES of the slice at -5 -j$J: compress once, then
# decompress for each env set in MODES (comma-separated variables), cmp, SM% and PCIe (dmon)
set -u
export C=${C:-carry/c11}; W=/tmp/llmz-slice; mkdir -p $W
[ -f $W/slice.txt ] || SLICE_DIR=$W bash scripts/gpu-slice.sh make carry/slice ${BYTES:-16000000} >/dev/null
python3 $C/carry-binary.py unpack $C/llmzip.xz $W/llmzip --partial >/dev/null
export LLMZIP_INT8_CUDA=0
N=$(stat -c %s $W/slice.txt)
/usr/bin/time -f "compress %e s %U user %S sys %M KB" $W/llmzip compress -q -5 -j${J:-16} -c $W/slice.txt > $W/s.llmz
for E in ${MODES:-LLMZIP_X=0}; do
  [ -n "${CMP:-}" ] && env ${E//,/ } /usr/bin/time -f "$E compress %e s %U user %S sys %M KB" $W/llmzip compress -q -5 -j${J:-16} -c $W/slice.txt | cmp - $W/s.llmz && echo "same file"
  nvidia-smi dmon -s ut -d 1 > $W/dmon.log 2>&1 & D=$!
  env ${E//,/ } LLMZIP_PROFILE=1 /usr/bin/time -f "$E decompress %e s %U user %S sys %M KB" $W/llmzip decompress -j${J:-16} -c $W/s.llmz 2>$W/pd.txt | cmp - $W/slice.txt && echo "exact"
  kill $D; sleep 0.3
  grep -v "^profile" $W/pd.txt | tail -1
  grep "^profile GPU\|^profile: " $W/pd.txt
  grep "^profile decompress" $W/pd.txt | python3 -c "
import re, sys, statistics as st
r = [l for l in sys.stdin if ' 1048' in l]
c = [float(re.search(r'coding thread CPU ([0-9.]+)', l).group(1)) for l in r]
t = [int(re.search(r'bytes ([0-9]+) tokens', l).group(1)) for l in r]
print('full blocks %d: coding thread median %.2f s, %.1f us/token' % (len(c), st.median(c), 1e6 * st.median(c) / st.median(t))) if c else None"
  awk '/^# *gpu/ {for (i=2;i<=NF;i++) {if ($i=="sm") sc=i-1; if ($i=="rxpci") rc=i-1; if ($i=="txpci") tc=i-1}} !/^#/ && NF>1 {s+=$sc; r+=$rc; t+=$tc; n++} END {printf "SM mean %.1f%%, PCIe rx %.0f tx %.0f MB/s over %d s\n", s/n, r/n, t/n, n}' $W/dmon.log
done
