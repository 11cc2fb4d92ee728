#!/bin/bash
# Reveal plans measured on a GPU machine with the integer engine (its bytes are the CPU's):
# for each line of $PLANS ("name: llmzip compress arguments"), compress FILE, print the size,
# bits/byte and seconds; a name starting with + is also decompressed and cmp-checked. Runs in the background (setsid); poll with `log`.
#
#   gpu-plans.sh run FILE      PLANS='m5: -5
#                              m6c8: -6 --context 8 --settle 0,1' gpu-plans.sh run bench/alice29.txt
#   gpu-plans.sh log SECONDS
#
# $C (default carry/batch) holds llmzip.xz (+ .json) from scripts/carry-binary.py and an
# int8-cuda build; the checkout's data/ must be present.
set -u
C=${C:-carry/batch}
W=${PLANS_DIR:-/tmp/llmz-plans}
mkdir -p $W
case "${1:-}" in
run)
  python3 $C/carry-binary.py unpack $C/llmzip.xz $W/llmzip || exit 1
  printf '%s\n' "$PLANS" > $W/plans.txt
  (setsid nohup bash -c "
    Z=$W/llmzip; F=$2; N=\$(stat -c %s \$F)
    \$Z --device ${DEV:-cuda} -q compress -f -o $W/warm.llmz \$F -1
    while IFS=: read -r name args; do
      [ -z \"\$name\" ] && continue
      s=\$(date +%s.%N)
      \$Z --device ${DEV:-cuda} -q compress -f \$args -o $W/\$name.llmz \$F || { echo \"\$name FAILED\"; continue; }
      e=\$(date +%s.%N)
      ok=not-decoded
      if [ "\${name#+}" != "\$name" ]; then
        \$Z --device ${DEV:-cuda} -q decompress -f -o $W/\$name.out $W/\$name.llmz
        ok=\$(cmp -s $W/\$name.out \$F && echo exact || echo MISMATCH)
      fi
      f=\$(date +%s.%N)
      z=\$(stat -c %s $W/\$name.llmz)
      python3 -c \"print('%-10s %8d B %.4f bits/byte  c %.1f s  d %.1f s  %s  |%s' % ('\$name', \$z, 8*\$z/\$N, \$e-\$s, \$f-\$e, '\$ok', '\$args'))\"
    done < $W/plans.txt
    echo DONE" > $W/run.log 2>&1 < /dev/null &)
  sleep 15; cat $W/run.log
  ;;
log)
  sleep "$2"; cat $W/run.log
  ;;
*)
  echo "usage: $0 run FILE | log SECONDS" >&2
  exit 2
  ;;
esac
