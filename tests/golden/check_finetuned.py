#!/usr/bin/env python3
"""Checks that a directory written by `llmzip finetune` loads in Hugging Face transformers
with the same predictions as llmzip (run by hand; never in CI):

    llmzip infill "TEXT with <mask>" --model DIR --top-k 3 --json > infill.json
    python3 tests/golden/check_finetuned.py DIR "TEXT with <mask>" infill.json
"""
import json, sys
import torch
from transformers import AutoModelForMaskedLM, PreTrainedTokenizerFast

d, text, ref = sys.argv[1], sys.argv[2], json.load(open(sys.argv[3]))
tok = PreTrainedTokenizerFast(tokenizer_file=f"{d}/tokenizer.json")
m = AutoModelForMaskedLM.from_pretrained(d).eval()
ids = tok(text)["input_ids"]
with torch.no_grad():
    lp = torch.log_softmax(m(input_ids=torch.tensor([ids])).logits, -1)[0]
worst = 0.0
for mask in ref["masks"]:
    for t in mask["top"]:
        worst = max(worst, abs(lp[mask["position"], t["id"]].item() - t["logprob"]))
print(f"max |delta log-prob| = {worst:.2e} over {sum(len(x['top']) for x in ref['masks'])} predictions")
sys.exit(0 if worst <= 1e-4 else 1)
