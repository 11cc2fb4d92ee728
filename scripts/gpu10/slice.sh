#!/usr/bin/env bash
# 50 MB slice at -5: compress/decompress MB/s, cmp, SM%, peak RSS, for each "mode:jobs" in $RUNS.
set -u
C=${C:-carry/c10}; W=/tmp/llmz-slice; mkdir -p $W
case "$1" in
start)
  [ -n "${SKIPMAKE:-}" ] || SLICE_DIR=$W bash scripts/gpu-slice.sh make carry/slice ${BYTES:-50000000}
  [ -n "${SKIPMAKE:-}" ] || python3 $C/carry-binary.py unpack $C/llmzip.xz $W/llmzip --partial >/dev/null
  (setsid nohup bash -c "
    IN=$W/slice.txt; N=\$(stat -c %s \$IN)
    export LLMZIP_INT8_CUDA=0
    for r in ${RUNS:-kv:16 kvbatch:16}; do
      mode=\${r%:*}; j=\${r#*:}
      case \$mode in kv) E=LLMZIP_X=1;; kvbatch) E=LLMZIP_BATCH_BLOCKS=1;; nokv) E=LLMZIP_GPU_KV=0;; esac
      nvidia-smi dmon -s um -d 1 > $W/dmon-c-\$r.log 2>&1 & D=\$!
      s=\$(date +%s.%N)
      env \$E /usr/bin/time -f '%e s %M KB' $W/llmzip -q compress -f -5 -j\$j -o $W/s.llmz \$IN 2>&1 | tail -1
      e=\$(date +%s.%N); kill \$D
      python3 -c \"print('compress \$r %.1f s %.3f MB/s, %d B, %.4f bits/byte' % (\$e-\$s, \$N/1e6/(\$e-\$s), \$(stat -c %s $W/s.llmz), 8*\$(stat -c %s $W/s.llmz)/\$N))\"
      nvidia-smi dmon -s um -d 1 > $W/dmon-d-\$r.log 2>&1 & D=\$!
      s=\$(date +%s.%N)
      env \$E /usr/bin/time -f '%e s %M KB' $W/llmzip -q decompress -f -j\$j -o $W/s.out $W/s.llmz 2>&1 | tail -1
      e=\$(date +%s.%N); kill \$D
      python3 -c \"print('decompress \$r %.1f s %.3f MB/s' % (\$e-\$s, \$N/1e6/(\$e-\$s)))\"
      cmp $W/s.out \$IN && echo \"ROUNDTRIP \$r exact\"
      for f in $W/dmon-c-\$r.log $W/dmon-d-\$r.log; do awk '/^# *gpu/ {for (i=2;i<=NF;i++) {if (\$i==\"sm\") sc=i-1; if (\$i==\"fb\") fc=i-1}} !/^#/ && NF>1 {s+=\$sc; n++; if (\$fc>m) m=\$fc} END {printf \"%s SM mean %.1f%% over %d s, fb max %d MB\\n\", FILENAME, s/n, n, m}' \$f; done
    done; echo DONE" > $W/run.log 2>&1 < /dev/null &)
  sleep 5; cat $W/run.log ;;
log) sleep "$2"; cat $W/run.log ;;
esac
