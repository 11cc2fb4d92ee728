#!/bin/bash
# llmzip at its default level and block size on a large input, on a GPU machine: compress and
# decompress MB/s, exact round trip (cmp), the GPU's utilisation and memory (nvidia-smi dmon,
# 1 s samples, $OUT/dmon.log), peak host memory (/usr/bin/time where present).
#
#   gpu-slice.sh make SRC_DIR BYTES   the input: SRC_DIR's valid.txt.xz, then train-*.txt.xz,
#                                     cut at BYTES (sweep.sh stage leaves them in /tmp/llmz-sweep/corpus)
#   gpu-slice.sh cut BYTES            its first BYTES as $W/cut.txt (INPUT=$W/cut.txt below)
#   gpu-slice.sh run [JOBS...]        compress and decompress it with -jN for each N (default 16)
#                                     for each of BINS and LEVELS, in the background (setsid)
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
  # BINS: packed binaries in $C to compare (default llmzip), LEVELS (default 5), INPUT
  # (default the slice); every combination compresses, decompresses and cmp-checks in turn
  shift
  for b in ${BINS:-llmzip}; do
    python3 $C/carry-binary.py unpack $C/$b.xz $W/$b || exit 1
  done
  T=$(command -v /usr/bin/time >/dev/null && echo "/usr/bin/time -f %e_s_%MkB")
  IN=${INPUT:-$W/slice.txt}
  (setsid nohup bash -c "
    N=\$(stat -c %s $IN)
    nvidia-smi -L; nproc; echo input $IN \$N bytes
    nvidia-smi dmon -s um -d 1 -o T > $W/dmon.log 2>&1 & DMON=\$!
    $W/$(echo ${BINS:-llmzip} | cut -d" " -f1) --device ${DEV:-cuda} -q compress -f -o $W/warm.llmz $C/bench/alice29.txt
    for b in ${BINS:-llmzip}; do for l in ${LEVELS:-5}; do for j in ${*:-16}; do
      Z=$W/\$b; tag=\$b.l\$l.j\$j
      s=\$(date +%s.%N); echo \"\$(date +%T) start c.\$tag\"
      $T \$Z --device ${DEV:-cuda} -q compress -f -\$l -j\$j -o $W/s.llmz $IN 2>&1 | tail -2
      e=\$(date +%s.%N); echo \"\$(date +%T) end c.\$tag\"
      python3 -c \"print('compress \$tag %.1f s %.3f MB/s, %d B, %.4f bits/byte' % (\$e-\$s, \$N/1e6/(\$e-\$s), \$(stat -c %s $W/s.llmz), 8*\$(stat -c %s $W/s.llmz)/\$N))\"
      s=\$(date +%s.%N); echo \"\$(date +%T) start d.\$tag\"
      $T \$Z --device ${DEV:-cuda} -q decompress -f -j\$j -o $W/s.out $W/s.llmz 2>&1 | tail -2
      e=\$(date +%s.%N); echo \"\$(date +%T) end d.\$tag\"
      python3 -c \"print('decompress \$tag %.1f s %.3f MB/s' % (\$e-\$s, \$N/1e6/(\$e-\$s)))\"
      cmp $W/s.out $IN && echo \"ROUNDTRIP \$tag exact\"
      cp $W/s.llmz $W/\$tag.llmz
    done; done; done
    kill \$DMON; echo DONE" > $W/run.log 2>&1 < /dev/null &)
  sleep 20; cat $W/run.log
  ;;
cut)
  head -c "$2" $W/slice.txt > $W/cut.txt && ls -la $W/cut.txt
  ;;
log)
  sleep "$2"; cat $W/run.log; tail -n 3 $W/dmon.log
  ;;
*)
  echo "usage: $0 make SRC_DIR BYTES | cut BYTES | run [JOBS...] | log SECONDS" >&2
  exit 2
  ;;
esac
