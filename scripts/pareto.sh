#!/bin/bash
# The Pareto pass of docs/RESULTS.md: size, compress and decompress KB/s per model and
# plan, every file checked with cmp. Needs /tmp/valid64k = first 64 KiB of the corpus valid.txt.
cd "$(dirname "$0")/.."; Z=./target/release/llmzip; B=../shared/bench
run() { local m=$1; shift; for f in $B/alice29.txt $B/asyoulik.txt $B/othello.txt $B/lcet10.txt $B/plrabn12.txt $B/largesample.txt $B/sample.txt /tmp/valid64k; do M=""; [ $m != default ] && M="--model $m"; s=$(date +%s.%N); $Z compress -c $M "$@" $f > /tmp/p.llmz; e1=$(date +%s.%N); $Z decompress -c $M /tmp/p.llmz | cmp - $f || echo FAIL; e2=$(date +%s.%N); python3 -c "import os;n=os.path.getsize('$f');c=os.path.getsize('/tmp/p.llmz');print('%s|%s|%s|%d|%.3f|%.1f|%.1f' % ('$m','$*',os.path.basename('$f'),c,c*8/n,n/1000/($e1-$s),n/1000/($e2-$e1)))"; done; }
run default
run data/llmzip-r2
run data/llmzip-r2 --rounds 2
echo DONE
