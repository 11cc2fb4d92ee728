#!/usr/bin/env bash
# How data/llmzip-r2 was trained, stage by stage, on one H100 (device machine) with the
# CUDA build of llmzip (scripts/build-cuda.sh, binary of commit f4a15f3's trainer: gradients
# through LayerNorm and softmax). Each stage ran as its own device call, sometimes beside other
# runs on the same GPU; stages 1-3 stopped at their --max-seconds (the step counts reached are
# in data/README.md), so rerunning gives a model of the same kind, not the same bytes.
# CORPUS_n: a directory holding train-00n.txt.xz and valid.txt.xz of ../shared/corpus.
set -euo pipefail
Z=${LLMZIP:-target-cuda/llmzip}
D="--device cuda"
common="--valid-bytes 16000 --eval-every 1000 --checkpoint-every 0"
# 1. a2: from scratch, 4 layers, hidden 128, 8000-token BPE; objective: 32 known tokens, then
#    a 16-token window predicted at once (W16 C32 R1).
$Z $D finetune CORPUS_1 --from-scratch --vocab 8000 --layers 4 --hidden 128 --heads 4 \
  --seq-len 66 --objective schedule --window 16 --context 32 --rounds 1 --batch 128 --lr 1e-3 \
  --warmup 300 --steps 100000 --max-seconds 400 --seed 0 --tokenizer-bytes 10000000 \
  --valid-bytes 16000 --eval-every 500 --checkpoint-every 0 --out a2
# 2. the default plan's windows in two rounds (W32 C8 R2), larger batches, a fresh shard
$Z $D finetune CORPUS_2 --model a2 --seq-len 42 --objective schedule --window 32 --context 8 \
  --rounds 2 --batch 512 --lr 1e-3 --warmup 100 --steps 100000 --max-seconds 470 --seed 2 $common --out p32c8r2
# 3. three times the learning rate (3e-4, 1e-3 and 3e-3 were run side by side; 3e-3 was best)
$Z $D finetune CORPUS_2 --model p32c8r2 --seq-len 42 --objective schedule --window 32 --context 8 \
  --rounds 2 --batch 512 --lr 3e-3 --warmup 100 --steps 100000 --max-seconds 460 --seed 3 $common --out lr3e-3
# 4. 950 steps at 3e-3 decaying linearly to 3e-4
$Z $D finetune CORPUS_2 --model lr3e-3 --seq-len 42 --objective schedule --window 32 --context 8 \
  --rounds 2 --batch 512 --lr 3e-3 --warmup 100 --steps 950 --max-seconds 460 --seed 3 $common --out d3
# 5. 900 steps on the next shard at 2e-3 decaying to 2e-4: data/llmzip-r2
$Z $D finetune CORPUS_3 --model d3 --seq-len 42 --objective schedule --window 32 --context 8 \
  --rounds 2 --batch 512 --lr 2e-3 --warmup 100 --steps 900 --max-seconds 400 --seed 3 $common --out llmzip-r2
