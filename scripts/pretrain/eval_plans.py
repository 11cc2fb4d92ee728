#!/usr/bin/env python3
"""LM-alone cost (bits/byte) of a Hugging Face masked LM under llmzip-like reveal plans, in
PyTorch: a quick way to rank models and plans before measuring them with llmzip itself (which
is what counts: its numbers include the adaptive models and the container).

Each window of W tokens sees the C tokens before it; its positions are split into R groups
(spread: bit-reversed order as in src/schedule.rs; l2r: contiguous, left to right) and round r
predicts group r with groups < r visible. Lanes are ignored (one lane), so the figures are a
little optimistic for llmzip's multi-lane default.

Usage: eval_plans.py MODEL_DIR FILE [FILE...] --plans W:C:R:shape ...
"""
import argparse
import math
import time

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForMaskedLM

CLS, SEP, MASK = 0, 2, 4


def groups(w, r, shape):
    if shape == "l2r":
        return [min(r - 1, p * r // w) for p in range(w)]
    bits = max(1, (max(w, 2) - 1).bit_length())
    order = sorted(range(w), key=lambda p: (int(format(p, f"0{bits}b")[::-1], 2), p))
    weights = [1.0 if shape == "spread" else 2.0 ** i for i in range(r)]
    total, acc, cuts = sum(weights), 0.0, []
    for i, wt in enumerate(weights):
        acc += wt
        cuts.append(min(max(round(acc / total * w), i + 1), w - (r - 1 - i)))
    for i in range(1, r):
        cuts[i] = max(cuts[i], cuts[i - 1] + 1)
    g, k = [0] * w, 0
    for rank, p in enumerate(order):
        while rank >= cuts[k]:
            k += 1
        g[p] = k
    return g


@torch.no_grad()
def cost(model, ids, w, c, r, shape, batch=256, device="cpu"):
    n = len(ids)
    g = groups(w, r, shape)
    seqs, sels, tgts = [], [], []
    total = 0.0

    def flush():
        nonlocal total, seqs, sels, tgts
        if not seqs:
            return
        L = max(len(s) for s in seqs)
        inp = torch.full((len(seqs), L), 1, dtype=torch.long)
        att = torch.zeros((len(seqs), L), dtype=torch.long)
        for i, s in enumerate(seqs):
            inp[i, : len(s)] = torch.tensor(s)
            att[i, : len(s)] = 1
        logits = model(input_ids=inp.to(device), attention_mask=att.to(device)).logits
        lp = torch.log_softmax(logits.float(), dim=-1)
        # gathered where the logits are: moving whole distributions to the host dominated
        for i, (sel, tg) in enumerate(zip(sels, tgts)):
            total -= lp[i, sel.to(device), tg.to(device)].sum().item()
        seqs, sels, tgts = [], [], []

    for s in range(0, n, w):
        e = min(n, s + w)
        lo = max(0, s - c)
        for rr in range(r):
            if not any(g[i - s] == rr for i in range(s, e)):
                continue
            seq = [CLS] + ids[lo:s] + [ids[i] if g[i - s] < rr else MASK for i in range(s, e)] + [SEP]
            pos = [1 + (s - lo) + (i - s) for i in range(s, e) if g[i - s] == rr]
            tg = [ids[i] for i in range(s, e) if g[i - s] == rr]
            seqs.append(seq)
            sels.append(torch.tensor(pos))
            tgts.append(torch.tensor(tg))
            if len(seqs) >= batch:
                flush()
    flush()
    return total / math.log(2)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("files", nargs="+")
    p.add_argument("--plans", nargs="+", default=["32:8:1:spread", "32:32:2:spread", "64:64:4:spread"])
    p.add_argument("--max-bytes", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu or cuda (float32 either way)")
    a = p.parse_args()
    torch.set_num_threads(2)
    tok = Tokenizer.from_file(f"{a.model}/tokenizer.json")
    model = AutoModelForMaskedLM.from_pretrained(a.model).float().eval().to(a.device)
    for f in a.files:
        data = open(f, "rb").read()
        if a.max_bytes:
            data = data[: a.max_bytes]
        ids = tok.encode(data.decode("utf-8", errors="replace"), add_special_tokens=False).ids
        for plan in a.plans:
            w, c, r, shape = plan.split(":")
            t = time.time()
            bits = cost(model, ids, int(w), int(c), int(r), shape, device=a.device)
            print(f"{a.model}\t{f.split('/')[-1]}\tW{w} C{c} R{r} {shape}\t{bits / len(data):.4f} bits/byte\t"
                  f"{len(data) / len(ids):.3f} bytes/token\t{time.time() - t:.0f}s", flush=True)


if __name__ == "__main__":
    main()
