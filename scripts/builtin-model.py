#!/usr/bin/env python3
"""Prepares a Hugging Face masked-LM directory for data/ (to be built into llmzip, or shipped
beside it): copies config.json and tokenizer.json and rewrites the weights as one
model.safetensors holding only the floating-point tensors, by name, optionally as f16 (half
the bytes; llmzip widens f16 to f32 exactly, so the stored file fixes the computation).

    python3 scripts/builtin-model.py HF_DIR data/NAME [--f16]

Prints the largest rounding error of the f16 conversion, the parameter count and the
SHA-256 of the files. A built-in model then gets an entry in src/model/builtin.rs.
"""
import hashlib, json, os, shutil, sys
import torch
from safetensors.torch import load_file, save_file

src, dst = sys.argv[1], sys.argv[2]
f16 = "--f16" in sys.argv[3:]
os.makedirs(dst, exist_ok=True)
for f in ["config.json", "tokenizer.json"]:
    shutil.copy(os.path.join(src, f), os.path.join(dst, f))
index = os.path.join(src, "model.safetensors.index.json")
if os.path.exists(index):
    shards = sorted(set(json.load(open(index))["weight_map"].values()))
else:
    shards = ["model.safetensors"]
tensors = {}
for s in shards:
    tensors.update(load_file(os.path.join(src, s)))
out, worst, params = {}, 0.0, 0
for name in sorted(tensors):
    t = tensors[name]
    if not t.is_floating_point():
        continue  # integer buffers (position_ids) are not parameters
    t = t.float()
    params += t.numel()
    if f16:
        h = t.half()
        if not torch.isfinite(h).all():
            sys.exit(f"{name}: values beyond the f16 range; keep f32")
        worst = max(worst, (h.float() - t).abs().max().item())
        t = h
    out[name] = t.contiguous()
save_file(out, os.path.join(dst, "model.safetensors"), metadata={"format": "pt"})
print(f"{len(out)} tensors, {params:,} parameters" + (f", f16 max |rounding error| {worst:.3g}" if f16 else ""))
for f in ["config.json", "tokenizer.json", "model.safetensors"]:
    p = os.path.join(dst, f)
    print(f"{hashlib.sha256(open(p, 'rb').read()).hexdigest()}  {os.path.getsize(p):>10}  {p}")
