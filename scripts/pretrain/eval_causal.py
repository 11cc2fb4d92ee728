#!/usr/bin/env python3
"""LM-alone bits per byte of causal checkpoints on text files under llmzip's causal plan (one
lane): token i is predicted from [CLS] t_lo … t_{i-1}, lo hopping by HOP once CONTEXT+HOP
tokens are seen, so every token has CONTEXT … CONTEXT+HOP-1 tokens before it.

Usage: eval_causal.py TOKENIZER CONTEXT HOP MODEL_DIR... -- FILE..."""
import math
import sys

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import RobertaPreLayerNormForCausalLM

CLS = 0


def main():
    a = sys.argv[1:]
    k = a.index("--")
    tok, c, hop, models, files = Tokenizer.from_file(a[0]), int(a[1]), int(a[2]), a[3:k], a[k + 1:]
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    for m in models:
        model = RobertaPreLayerNormForCausalLM.from_pretrained(m).float().to(dev).eval()
        for f in files:
            data = open(f, "rb").read()
            ids = tok.encode(data.decode("utf-8")).ids
            n, nats, lo = len(ids), 0.0, 0
            while True:
                hi = min(n, lo + c + hop)
                x = torch.tensor([[CLS] + ids[lo:hi]], device=dev)
                with torch.no_grad():
                    lp = F.log_softmax(model(input_ids=x).logits[0].float(), -1)
                first = 0 if lo == 0 else c  # positions lo+first … hi-1 are predicted here
                tgt = torch.tensor(ids[lo + first:hi], device=dev)
                nats -= lp[first:hi - lo].gather(1, tgt[:, None]).sum().item()
                if hi == n:
                    break
                lo += hop
            print(f"{m} {f} C{c} hop{hop}: {nats / math.log(2) / len(data):.4f} bits/byte ({n} tokens)", flush=True)


if __name__ == "__main__":
    main()
