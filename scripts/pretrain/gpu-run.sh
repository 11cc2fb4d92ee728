#!/usr/bin/env bash
# The GPU pretraining run, step by step on the device machine (one H100; PyTorch and
# transformers are installed there, nothing can be downloaded). The corpus travels in pieces
# (at most 64 MiB of tree per call): `scripts/pretrain/pack.sh` puts ../shared/corpus's xz
# shards into carry/p1 … carry/p4 here; each device call carries one piece and runs `stage`.
#
#   gpu-run.sh stage carry/pN      copy a piece to $W/corpus, tokenize it in the background
#   gpu-run.sh train MINUTES       wait for tokenization, start every model of RUNS (setsid)
#   gpu-run.sh poll SECONDS        sleep, then print the training logs' tails and nvidia-smi
#   gpu-run.sh fetch NAME [f16]    wait for NAME to finish, split its checkpoint into $OUT
#
# Call `train` with its output in a file (`... train 22 >/tmp/train.out 2>&1 </dev/null; tail
# /tmp/train.out`): once, piped into tail, the call stayed open until its time limit although
# training had started. Poll at most 30 s apart (or with `poll` sleeping inside the call): the
# machine, and the training with it, goes back 30 s after a call ends.
set -euo pipefail
W=${LLMZIP_PRETRAIN_DIR:-/tmp/llmz-pretrain}
HERE=$(cd "$(dirname "$0")" && pwd)
TOK=${TOKENIZER:-$HERE/../../data/default-model/tokenizer.json}
# name layers hidden heads learning-rate [checkpoint to continue from]
RUNS=${RUNS:-"s128 4 128 4 1e-3
m192 6 192 6 1e-3
m256 4 256 4 1e-3
l384 8 384 6 7e-4"}
mkdir -p "$W/corpus" "$W/tok/train" "$W/runs"

case "${1:-}" in
stage)
  cp "$2"/*.xz "$W/corpus/"
  for f in "$2"/*.xz; do
    b=$(basename "$f")
    # one tokenizer job per piece; each uses all cores through encode_batch
    (cd "$W" && setsid nohup python3 "$HERE/tokenize_corpus.py" "$TOK" "$W/tok/staging" "$W/corpus/$b" \
      >>"$W/tok/$b.log" 2>&1 &)
  done
  nproc; python3 -c 'import torch, transformers, tokenizers; print(torch.__version__, transformers.__version__, tokenizers.__version__, torch.cuda.is_available() and torch.cuda.get_device_name())'
  ls -la "$W/corpus"
  ;;
train)
  n=$(ls "$W"/corpus/*.xz | wc -l)
  for _ in $(seq 1 120); do
    done_=$(ls "$W"/tok/staging/*.u16 2>/dev/null | wc -l)
    # tokenize_corpus.py renames each .u16 into place when it is complete
    [ "$done_" -ge "$n" ] && break
    sleep 2
  done
  cat "$W"/tok/*.log
  mv "$W"/tok/staging/valid.u16 "$W/tok/valid.u16"
  mv "$W"/tok/staging/*.u16 "$W/tok/train/"
  sha256sum "$W"/corpus/*.xz
  while read -r name layers hidden heads lr init; do
    [ -z "$name" ] && continue
    (cd "$W" && PYTHONUNBUFFERED=1 setsid nohup python3 "$HERE/pretrain.py" --tokens "$W/tok/train" \
      --valid "$W/tok/valid.u16" --tokenizer "$TOK" --out "$W/runs/$name" --layers "$layers" \
      --hidden "$hidden" --heads "$heads" --lr "$lr" --minutes "$2" --seed "${SEED:-0}" --device "${DEVICE:-cuda}" ${init:+--init "$init"} ${EXTRA:-} >"$W/runs/$name.log" 2>&1 </dev/null &)
  done <<<"$RUNS"
  sleep ${TRAIN_WAIT:-60}
  tail -n 3 "$W"/runs/*.log
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv || true
  ;;
poll)
  sleep "$2"
  tail -n 2 "$W"/runs/*.log
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv || true
  ;;
fetch)
  for _ in $(seq 1 300); do
    grep -q '^saved' "$W/runs/$2.log" && break
    sleep 2
  done
  cat "$W/runs/$2.log" | grep -v Writing
  d="$W/runs/$2"
  cp "$d/config.json" "$d/training.json" "$OUT/"
  f="$d/model.safetensors"
  if [ "${3:-f32}" = f16 ]; then
    # half the bytes: the shipped model is what is stored; llmzip widens it to f32 on load
    python3 -c 'import sys, torch; from safetensors.torch import load_file, save_file; t = load_file(sys.argv[1]); save_file({k: (v.half() if v.is_floating_point() else v) for k, v in t.items()}, sys.argv[2], metadata={"format": "pt"})' "$f" "$d/model-f16.safetensors"
    f="$d/model-f16.safetensors"
  fi
  split -b 15M -d "$f" "$OUT/model.safetensors.part"
  sha256sum "$f"
  ;;
*)
  echo "usage: $0 stage DIR | train MINUTES | poll SECONDS | fetch NAME" >&2
  exit 2
  ;;
esac
