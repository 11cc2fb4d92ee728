#!/bin/bash
# llmzip at its default level and block size on a large input, on a GPU machine: compress and
# decompress MB/s, exact round trip (cmp), the GPU's utilisation and memory (nvidia-smi dmon,
# 1 s samples, $OUT/dmon.log), peak host memory (/usr/bin/time where present).
#
#   gpu-slice.sh make SRC_DIR BYTES   the input: SRC_DIR's valid.txt.xz, then train-*.txt.xz,
#                                     cut at BYTES (sweep.sh stage leaves them in /tmp/llmz-sweep/corpus)
#   gpu-slice.sh run [JOBS...]        compress and decompress it with -jN for each N (default 16),
#                                     in the background (setsid): poll $OUT-less with `gpu-slice.sh log`
#   gpu-slice.sh log SECONDS          sleep, then print the run's log
#
# $C (default carry/batch) holds llmzip.xz (+ .json) from scripts/carry-binary.py and an
# int8-cuda build; the checkout's data/ must be present (carry-binary.py unpack refills from it).
set -u
C=${C:-carry/batch}
W=${SLICE_DIR:-/tmp/llmz-slice}
mkdir -p $W
case "${1:-}" in
make)
  python3 - "$2" "$3" "$W/slice.txt" <<'PY'
import glob, lzma, sys
src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
left = n
with open(out, "wb") as o:
    for f in [f"{src}/valid.txt.xz"] + sorted(glob.glob(f"{src}/train-*.txt.xz")):
        with lzma.open(f) as i:
            while left > 0:
                b = i.read(min(left, 1 << 22))
                if not b:
                    break
                o.write(b)
                left -= len(b)
print(out, n - left, "bytes")
PY
  ;;
run)
  shift
  python3 $C/carry-binary.py unpack $C/llmzip.xz $W/llmzip || exit 1
  T=$(command -v /usr/bin/time >/dev/null && echo "/usr/bin/time -f %e_s_%MkB")
  (setsid nohup bash -c "
    Z=$W/llmzip; N=\$(stat -c %s $W/slice.txt)
    nvidia-smi -L; nproc; echo input \$N bytes
    nvidia-smi dmon -s um -d 1 -o T > $W/dmon.log 2>&1 & DMON=\$!
    \$Z --device ${DEV:-cuda} -q compress -f -o $W/warm.llmz $C/bench/alice29.txt
    for j in ${*:-16}; do
      s=\$(date +%s.%N); echo \"\$(date +%T) start c.j\$j\"
      $T \$Z --device ${DEV:-cuda} -q compress -f -5 -j\$j -o $W/s.llmz $W/slice.txt 2>&1 | tail -2
      e=\$(date +%s.%N); echo \"\$(date +%T) end c.j\$j\"
      python3 -c \"print('compress -j\$j %.1f s %.3f MB/s, %d B, %.4f bits/byte' % (\$e-\$s, \$N/1e6/(\$e-\$s), \$(stat -c %s $W/s.llmz), 8*\$(stat -c %s $W/s.llmz)/\$N))\"
      s=\$(date +%s.%N); echo \"\$(date +%T) start d.j\$j\"
      $T \$Z --device ${DEV:-cuda} -q decompress -f -j\$j -o $W/s.out $W/s.llmz 2>&1 | tail -2
      e=\$(date +%s.%N); echo \"\$(date +%T) end d.j\$j\"
      python3 -c \"print('decompress -j\$j %.1f s %.3f MB/s' % (\$e-\$s, \$N/1e6/(\$e-\$s)))\"
      cmp $W/s.out $W/slice.txt && echo \"ROUNDTRIP -j\$j exact\"
    done
    kill \$DMON; echo DONE" > $W/run.log 2>&1 < /dev/null &)
  sleep 20; cat $W/run.log
  ;;
log)
  sleep "$2"; cat $W/run.log; tail -n 3 $W/dmon.log
  ;;
*)
  echo "usage: $0 make SRC_DIR BYTES | run [JOBS...] | log SECONDS" >&2
  exit 2
  ;;
esac
