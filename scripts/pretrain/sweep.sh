#!/usr/bin/env bash
# Vocabulary and depth/width chosen by measurement, on the device machine (one GPU): byte-level
# BPE tokenizers of 8k, 16k and 32k ids trained on the same shards (train_tokenizer.py), then
# models trained side by side for the same number of steps (pretrain.py --max-steps: the
# schedule follows steps, so sharing the GPU does not bias them), then each model's LM-alone
# bits/byte under llmzip's plans (eval_plans.py on the GPU).
#
#   sweep.sh stage DIR       copy DIR's *.xz shards and texts to $W, train tokenizers, tokenize (background)
#   sweep.sh train STEPS     wait for the token files, start every run of RUNS (setsid)
#   sweep.sh poll SECONDS    sleep, print the logs' tails
#   sweep.sh eval TEXT...    every finished run's bits/byte on the texts (200,000 bytes each)
#
# DIR holds train-*.txt.xz and valid.txt.xz (copied from ../shared/corpus; it travels in
# `carry`, with scripts/device-slim.sh out so the tree stays under 64 MiB) and the texts to
# measure. Poll at most 30 s apart: the machine goes back 30 s after a call.
set -euo pipefail
W=${LLMZIP_SWEEP_DIR:-/tmp/llmz-sweep}
HERE=$(cd "$(dirname "$0")" && pwd)
BUILTIN=$HERE/../../data/llmzip-medium-1/tokenizer.json
VOCABS=${VOCABS:-"8000 16000 32000"}
# name tokenizer layers hidden heads lr (tokenizer: a vocabulary size above, or builtin)
RUNS=${RUNS:-"b8k-4x256 builtin 4 256 4 1e-3
v8k-4x256 8000 4 256 4 1e-3
v16k-4x256 16000 4 256 4 1e-3
v32k-4x256 32000 4 256 4 1e-3
v8k-8x256 8000 8 256 4 1e-3
v8k-4x384 8000 4 384 6 1e-3"}
mkdir -p "$W/corpus" "$W/runs" "$W/texts"

tok_json() { [ "$1" = builtin ] && echo "$BUILTIN" || echo "$W/tok/$1.json"; }

case "${1:-}" in
stage)
  cp "$2"/*.xz "$W/corpus/"
  cp "$2"/*.txt "$W/texts/" 2>/dev/null || true
  python3 -c 'import lzma, sys; open(sys.argv[2], "wb").write(lzma.open(sys.argv[1]).read())' "$2/valid.txt.xz" "$W/texts/valid.txt"
  nproc; python3 -c 'import torch, transformers, tokenizers; print(torch.__version__, transformers.__version__, tokenizers.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())'
  # tokenizers from the first two shards; every vocabulary (and the built-in one) tokenizes all
  (cd "$W" && setsid nohup bash -c "
    mkdir -p tok
    for v in $VOCABS; do
      python3 '$HERE/train_tokenizer.py' \$v tok/\$v.json \$(ls corpus/train-*.xz | head -2) &
    done
    wait
    for v in $VOCABS builtin; do
      t=\$([ \$v = builtin ] && echo '$BUILTIN' || echo tok/\$v.json)
      python3 '$HERE/tokenize_corpus.py' \$t tok/\$v corpus/*.xz && mkdir -p tok/\$v/train &&
        mv tok/\$v/train-*.u16 tok/\$v/train/ &
    done
    wait
    touch tok/done" >"$W/stage.log" 2>&1 </dev/null &)
  ls -la "$W/corpus"
  ;;
train)
  for _ in $(seq 1 240); do [ -e "$W/tok/done" ] && break; sleep 2; done
  cat "$W/stage.log"
  sha256sum "$W"/corpus/*.xz "$W"/tok/*.json
  while read -r name v layers hidden heads lr; do
    [ -z "$name" ] && continue
    (cd "$W" && PYTHONUNBUFFERED=1 setsid nohup python3 "$HERE/pretrain.py" --tokens "$W/tok/$v/train" \
      --valid "$W/tok/$v/valid.u16" --tokenizer "$(tok_json "$v")" --out "$W/runs/$name" --layers "$layers" \
      --hidden "$hidden" --heads "$heads" --lr "$lr" --max-steps "$2" --minutes "${MINUTES:-14}" \
      --eval-every 1000 --save-every-min 100 --seed 0 --device "${DEVICE:-cuda}" ${EXTRA:-} >"$W/runs/$name.log" 2>&1 </dev/null &)
  done <<<"$RUNS"
  sleep "${TRAIN_WAIT:-45}"
  tail -n 2 "$W"/runs/*.log
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv || true
  ;;
poll)
  sleep "$2"
  tail -n 1 "$W"/runs/*.log
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader || true
  ;;
eval)
  shift
  for f in "$@"; do tail -c 200000 "$f" > "$W/texts/eval-$(basename "$f")"; done
  for d in "$W"/runs/*/; do
    [ -e "$d/model.safetensors" ] || continue
    grep -h '^saved' "$W/runs/$(basename "$d").log" || true
    python3 "$HERE/eval_plans.py" "$d" "$W"/texts/eval-* --device "${DEVICE:-cuda}" \
      --plans 32:32:2:spread 64:128:8:spread 8:24:1:l2r
  done
  ;;
*)
  echo "usage: $0 stage DIR | train STEPS | poll SECONDS | eval TEXT..." >&2
  exit 2
  ;;
esac
