#!/usr/bin/env python3
"""Pretrains a pre-LayerNorm masked LM (Hugging Face `RobertaPreLayerNormForMaskedLM`) for
llmzip's reveal plans, and writes a Hugging Face checkpoint directory that llmzip loads
(config.json, model.safetensors, tokenizer.json).

Objective ("any-order", after Autoregressive Diffusion Models, Hoogeboom et al. 2022), shaped
like the sequences llmzip's reveal plan builds, `[CLS] context window [SEP]`:
- a sequence of n content tokens is cut at a random point c (0 <= c <= n - 1): the first c
  tokens are the visible context, the rest is the window;
- a masking rate t is drawn uniformly from (0, 1] per sequence and every window position is
  replaced by <mask> with probability t (at least one is);
- the loss is the cross-entropy of the masked positions, averaged per sequence, then over
  the batch.
Any reveal plan (rounds, spread or left-to-right groups, any context) is a special case, so
one model serves every plan. n varies per step over lengths llmzip's plans use.

With --objective causal the model is a causal LM instead (`RobertaPreLayerNormForCausalLM`,
config `is_decoder: true`: the same modules and weight names, each position attending to
itself and the positions before it), trained on `[CLS] t_0 … t_{n-1}` to predict every next
token (row p predicts t_p; CLS predicts t_0), the loss averaged over all positions. llmzip's
causal plan feeds it `[CLS] t_lo … t_{i-1}` and codes t_i with the last row, reusing the rows
of the call before (docs/FORMAT.md). --init may name a masked checkpoint: the weights carry
over, only the attention becomes causal.

Data: flat uint16 token files from tokenize_corpus.py, all held on the GPU; batches are cut
at random offsets (seeded). The learning-rate schedule is by wall-clock time (warm-up, then
linear decay to 10% at --minutes), so a run fits its device budget exactly; rerunning gives a
model of the same kind, not the same bytes. With --max-steps the schedule follows steps
instead (a token budget; --minutes still stops the run), which makes runs that share one GPU
comparable. The vocabulary size is the tokenizer's.

Usage: pretrain.py --tokens DIR --valid VALID.u16 --tokenizer tokenizer.json --out DIR
                   --layers 4 --hidden 128 --heads 4 --minutes 15 [--batch-tokens 65536]
"""
import argparse
import glob
import json
import math
import os
import shutil
import time

import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import RobertaPreLayerNormConfig, RobertaPreLayerNormForCausalLM, RobertaPreLayerNormForMaskedLM

CLS, PAD, SEP, MASK = 0, 1, 2, 4
# content lengths (context + window) of llmzip's plans: W32 C8, W32 C32 / W64 C0, W64 C64, W64 C128
LENGTHS = [40, 64, 96, 128, 192]


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--tokens", required=True, help="directory of training *.u16 files")
    p.add_argument("--valid", required=True, help="validation .u16 file")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=0, help="intermediate size (default 4 x hidden)")
    p.add_argument("--max-positions", type=int, default=258)
    p.add_argument("--lengths", default=",".join(map(str, LENGTHS)),
                   help="content lengths drawn per step (longer ones let plans see more context)")
    p.add_argument("--minutes", type=float, default=15.0)
    p.add_argument("--max-steps", type=int, default=10**9)
    p.add_argument("--batch-tokens", type=int, default=65536)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--wd", type=float, default=0.01)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=500)
    p.add_argument("--save-every-min", type=float, default=5.0)
    p.add_argument("--device", default="cuda")
    p.add_argument("--init", default="", help="continue from a checkpoint directory")
    p.add_argument("--objective", default="any-order", choices=["any-order", "causal"])
    return p.parse_args()


def load_tokens(files, device):
    arrs = [np.fromfile(f, dtype="<u2") for f in files]
    arr = np.concatenate(arrs).astype(np.int32)
    return torch.from_numpy(arr).to(device)


def make_batch(data, n, b, gen, device):
    """b sequences of n content tokens at random offsets, masked per the any-order objective.
    Returns input ids (b, n + 2), the flat indices of masked positions, their true tokens and
    the sequence each belongs to."""
    off = torch.randint(0, data.numel() - n, (b,), generator=gen, device=device)
    idx = off[:, None] + torch.arange(n, device=device)[None, :]
    tok = data[idx].long()
    c = torch.randint(0, n, (b, 1), generator=gen, device=device)  # visible prefix length
    t = 1.0 - torch.rand((b, 1), generator=gen, device=device)  # rate in (0, 1]
    pos = torch.arange(n, device=device)[None, :]
    masked = (torch.rand((b, n), generator=gen, device=device) < t) & (pos >= c)
    # at least one masked position per sequence: the last one
    masked[:, -1] = True
    inp = torch.where(masked, torch.full_like(tok, MASK), tok)
    ids = torch.cat([torch.full((b, 1), CLS, device=device, dtype=torch.long), inp,
                     torch.full((b, 1), SEP, device=device, dtype=torch.long)], dim=1)
    sel = masked.nonzero(as_tuple=False)  # (k, 2): sequence, position
    flat = sel[:, 0] * (n + 2) + sel[:, 1] + 1
    return ids, flat, tok[sel[:, 0], sel[:, 1]], sel[:, 0]


def make_causal_batch(data, n, b, gen, device):
    """b sequences `[CLS] t_0 … t_{n-1}` at random offsets (b, n + 1)."""
    off = torch.randint(0, data.numel() - n, (b,), generator=gen, device=device)
    tok = data[off[:, None] + torch.arange(n, device=device)[None, :]].long()
    return torch.cat([torch.full((b, 1), CLS, device=device, dtype=torch.long), tok], dim=1)


def causal_loss(model, ids, first=0):
    """Mean next-token cross-entropy of rows first … n-1 (row p predicts ids[:, p + 1]), its
    sum and count."""
    hidden = model.roberta_prelayernorm(input_ids=ids).last_hidden_state[:, first:-1]
    logits = model.lm_head(hidden).float()
    target = ids[:, first + 1:]
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
    return ce.mean(), ce.sum(), ce.numel()


@torch.no_grad()
def evaluate_causal(model, valid, device, batches=8):
    """Mean next-token cross-entropy (nats/token) on fixed validation sequences of 255 tokens:
    over every position, and over positions with at least 64 tokens before them (what
    llmzip's causal plans see once a lane is under way)."""
    model.eval()
    out = {}
    for name, first in [("causal_all", 0), ("causal_C64", 64)]:
        gen = torch.Generator(device=device).manual_seed(1234)
        tot, cnt = 0.0, 0
        for _ in range(batches):
            ids = make_causal_batch(valid, 255, 64, gen, device)
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
                _, s, k = causal_loss(model, ids, first)
            tot += float(s)
            cnt += k
        out[name] = round(tot / cnt, 4)
    model.train()
    return out


def loss_fn(model, ids, flat, target, seq, b):
    hidden = model.roberta_prelayernorm(input_ids=ids).last_hidden_state
    h = hidden.reshape(-1, hidden.shape[-1])[flat]
    logits = model.lm_head(h).float()
    ce = F.cross_entropy(logits, target, reduction="none")
    per_seq = torch.zeros(b, device=ids.device).index_add_(0, seq, ce)
    count = torch.zeros(b, device=ids.device).index_add_(0, seq, torch.ones_like(ce))
    return (per_seq / count).mean(), ce.sum(), ce.numel()


@torch.no_grad()
def evaluate(model, valid, device):
    """Mean cross-entropy (nats/token) of masked tokens on fixed validation batches, at three
    plan-like settings: one blind round (W32 C8, all masked), half the window known, and the
    last token of 64 with 127 known (close to left-to-right)."""
    model.eval()
    out = {}
    for name, n, rate, ctx in [("W32C8_all", 40, 1.0, 8), ("W64C64_half", 128, 0.5, 64), ("L2R_C127", 128, 0.0, 127)]:
        gen = torch.Generator(device=device).manual_seed(1234)
        tot, cnt = 0.0, 0
        for _ in range(8):
            b = 64
            off = torch.randint(0, valid.numel() - n, (b,), generator=gen, device=device)
            tok = valid[off[:, None] + torch.arange(n, device=device)[None, :]].long()
            pos = torch.arange(n, device=device)[None, :].expand(b, n)
            masked = (torch.rand((b, n), generator=gen, device=device) < rate) & (pos >= ctx)
            masked[:, -1] = True
            inp = torch.where(masked, torch.full_like(tok, MASK), tok)
            ids = torch.cat([torch.full((b, 1), CLS, device=device, dtype=torch.long), inp,
                             torch.full((b, 1), SEP, device=device, dtype=torch.long)], dim=1)
            sel = masked.nonzero(as_tuple=False)
            flat = sel[:, 0] * (n + 2) + sel[:, 1] + 1
            with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda")):
                _, s, k = loss_fn(model, ids, flat, tok[sel[:, 0], sel[:, 1]], sel[:, 0], b)
            tot += float(s)
            cnt += k
        out[name] = round(tot / cnt, 4)
    model.train()
    return out


def save(model, args, out_dir, meta):
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    shutil.copy(args.tokenizer, os.path.join(tmp, "tokenizer.json"))
    with open(os.path.join(tmp, "training.json"), "w") as f:
        json.dump(meta, f, indent=1)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(tmp, out_dir)


def main():
    args = parse()
    torch.manual_seed(args.seed)
    dev = args.device
    torch.backends.cuda.matmul.allow_tf32 = True
    files = sorted(glob.glob(os.path.join(args.tokens, "*.u16")))
    data = load_tokens(files, dev)
    valid = load_tokens([args.valid], dev)
    print(f"train tokens {data.numel():,} from {len(files)} files; valid {valid.numel():,}", flush=True)
    causal = args.objective == "causal"
    cls = RobertaPreLayerNormForCausalLM if causal else RobertaPreLayerNormForMaskedLM
    # a CPU rehearsal evaluates on one batch
    batches = 8 if dev.startswith("cuda") else 1
    evaluate_fn = (lambda m, v, d: evaluate_causal(m, v, d, batches)) if causal else evaluate
    if args.init:
        # f32 master weights whatever the checkpoint stores (gpu-run.sh fetch writes f16)
        model = cls.from_pretrained(args.init, is_decoder=causal).float()
    else:
        cfg = RobertaPreLayerNormConfig(
            vocab_size=Tokenizer.from_file(args.tokenizer).get_vocab_size(), hidden_size=args.hidden, num_hidden_layers=args.layers,
            num_attention_heads=args.heads, intermediate_size=args.ffn or 4 * args.hidden,
            hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            max_position_embeddings=args.max_positions, type_vocab_size=1, layer_norm_eps=1e-5,
            pad_token_id=PAD, bos_token_id=CLS, eos_token_id=SEP, tie_word_embeddings=True, is_decoder=causal,
        )
        model = cls(cfg)
    model.to(dev).train()
    params = sum(p.numel() for p in model.parameters())
    print(f"model {args.layers}L x {args.hidden}H, {params:,} parameters", flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.98), eps=1e-6, fused=dev.startswith("cuda"))
    gen = torch.Generator(device=dev).manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    budget = args.minutes * 60
    lengths = [int(x) for x in args.lengths.split(",")]
    t0 = time.time()
    last_save = t0
    seen = 0
    step = 0
    log = []
    while step < args.max_steps:
        frac = (time.time() - t0) / budget
        if frac >= 1.0:
            break
        if args.max_steps < 10**9:
            # a token budget: the schedule follows steps, so runs sharing a GPU stay comparable
            frac = step / args.max_steps
        warm = min(1.0, (step + 1) / args.warmup)
        lr = args.lr * warm * (1.0 - 0.9 * frac)
        for g in opt.param_groups:
            g["lr"] = lr
        n = int(rng.choice(lengths))
        # causal: [CLS] + n tokens fill the positions; masked: [CLS] + n + [SEP]
        n = args.max_positions - 3 if causal else min(n, args.max_positions - 4)
        b = max(1, args.batch_tokens // n)
        with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=dev.startswith("cuda")):
            if causal:
                loss, _, _ = causal_loss(model, make_causal_batch(data, n, b, gen, dev))
            else:
                ids, flat, target, seq = make_batch(data, n, b, gen, dev)
                loss, _, _ = loss_fn(model, ids, flat, target, seq, b)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        seen += b * n
        step += 1
        if step % args.eval_every == 0 or step == 1:
            ev = evaluate_fn(model, valid, dev)
            el = time.time() - t0
            rec = {"step": step, "seconds": round(el, 1), "tokens": seen, "lr": lr, "loss": round(float(loss), 4), **ev}
            log.append(rec)
            print(json.dumps(rec), flush=True)
        if time.time() - last_save > args.save_every_min * 60:
            save(model, args, args.out, {"args": vars(args), "log": log, "tokens_seen": seen, "steps": step})
            last_save = time.time()
    ev = evaluate_fn(model, valid, dev)
    el = time.time() - t0
    rec = {"step": step, "seconds": round(el, 1), "tokens": seen, "final": True, **ev}
    log.append(rec)
    print(json.dumps(rec), flush=True)
    save(model, args, args.out, {"args": vars(args), "log": log, "tokens_seen": seen, "steps": step,
                                  "seconds": round(el, 1), "train_files": [os.path.basename(f) for f in files]})
    print(f"saved {args.out}: {step} steps, {seen:,} tokens, {el:.0f}s ({seen / el:,.0f} tokens/s)", flush=True)


if __name__ == "__main__":
    main()
