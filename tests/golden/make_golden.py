#!/usr/bin/env python3
"""Makes the golden fixtures that pin llmzip's model numerics to Hugging Face transformers.

Writes tests/fixtures/tiny-{bert,roberta,distilbert}/ (random-initialised models saved with
save_pretrained, tokenizers trained here) and tests/fixtures/golden.json (reference
log-probabilities at masked positions, including a padded batch), plus reference
predictions of ../shared/models/splade-tiny (a real checkpoint).

Run once by hand (never in CI):  pip install torch transformers tokenizers
    python3 tests/golden/make_golden.py /path/to/training-text.txt
The training text only shapes the tiny tokenizers; the fixtures were made from the first
400,000 bytes of ../shared/corpus/valid.txt.xz.
"""
import json, os, sys
import torch
from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer
from transformers import (BertConfig, BertForMaskedLM, RobertaConfig, RobertaForMaskedLM,
                          DistilBertConfig, DistilBertForMaskedLM, PreTrainedTokenizerFast,
                          AutoModelForMaskedLM)

here = os.path.dirname(os.path.abspath(__file__))
fix = os.path.join(here, "..", "fixtures")
text = sys.argv[1]
torch.manual_seed(1234)
VOCAB = 600

def wordpiece(out):
    t = BertWordPieceTokenizer(lowercase=True)
    t.train([text], vocab_size=VOCAB, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    t.save(os.path.join(out, "tokenizer.json"))
    return t

def bytebpe(out):
    t = ByteLevelBPETokenizer()
    t.train([text], vocab_size=VOCAB, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    t.save(os.path.join(out, "tokenizer.json"))
    return t

models = {}
common = dict(vocab_size=VOCAB, initializer_range=0.3)
for name in ["bert", "roberta", "distilbert"]:
    out = os.path.join(fix, f"tiny-{name}")
    os.makedirs(out, exist_ok=True)
    if name == "bert":
        tok = wordpiece(out)
        cfg = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                         max_position_embeddings=256, **common)
        m = BertForMaskedLM(cfg)
    elif name == "roberta":
        tok = bytebpe(out)
        cfg = RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                            max_position_embeddings=258, pad_token_id=1, bos_token_id=0, eos_token_id=2,
                            type_vocab_size=1, **common)
        m = RobertaForMaskedLM(cfg)
    else:
        tok = wordpiece(out)
        cfg = DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=256,
                               activation="gelu", **common)
        m = DistilBertForMaskedLM(cfg)
    # random init leaves biases and LayerNorm at 0/1: perturb them so the test sees them
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() == 1:
                p.add_(torch.randn_like(p) * 0.1)
    m.eval()
    m.save_pretrained(out, safe_serialization=True)
    models[name] = (m, tok)

sentences = ["the quick brown fox jumps over the lazy dog.",
             "alice was beginning to get very tired of sitting by her sister on the bank",
             "compression is prediction; prediction is compression."]
golden = {}
for name, (m, tok) in models.items():
    cls, sep, mask = (("[CLS]", "[SEP]", "[MASK]") if name != "roberta" else ("<s>", "</s>", "<mask>"))
    cid, sid, mid = tok.token_to_id(cls), tok.token_to_id(sep), tok.token_to_id(mask)
    pad = 1 if name == "roberta" else 0
    seqs, sels = [], []
    for i, s in enumerate(sentences):
        ids = tok.encode(s, add_special_tokens=False).ids
        ids = [cid] + ids + [sid]
        pos = list(range(1 + i, len(ids) - 1, 3))
        for p in pos:
            ids[p] = mid
        seqs.append(ids)
        sels.append(pos)
    T = max(len(s) for s in seqs)
    batch = torch.tensor([s + [pad] * (T - len(s)) for s in seqs])
    attn = torch.tensor([[1] * len(s) + [0] * (T - len(s)) for s in seqs])
    with torch.no_grad():
        lp = torch.log_softmax(m(input_ids=batch, attention_mask=attn).logits, dim=-1)
    golden[name] = {"seqs": seqs, "sel": [[i, p] for i, ps in enumerate(sels) for p in ps],
                    "log_probs": [lp[i, p].tolist() for i, ps in enumerate(sels) for p in ps]}

splade = os.path.join(here, "..", "..", "..", "shared", "models", "splade-tiny")
if os.path.isdir(splade):
    tk = PreTrainedTokenizerFast(tokenizer_file=os.path.join(splade, "tokenizer.json"))
    m = AutoModelForMaskedLM.from_pretrained(splade).eval()
    seqs, sel, rows = [], [], []
    for i, s in enumerate(["the capital of france is [MASK].", "she opened the [MASK] and walked in."]):
        ids = tk(s)["input_ids"]
        p = ids.index(tk.convert_tokens_to_ids("[MASK]"))
        with torch.no_grad():
            lp = torch.log_softmax(m(input_ids=torch.tensor([ids])).logits, dim=-1)[0, p]
        top = torch.topk(lp, 50).indices.tolist()
        probe = list(range(0, 30522, 97))
        ids_keep = sorted(set(top + probe))
        seqs.append(ids); sel.append([i, p])
        rows.append({"ids": ids_keep, "log_probs": [lp[j].item() for j in ids_keep]})
    golden["splade-tiny"] = {"seqs": seqs, "sel": sel, "rows": rows}

with open(os.path.join(fix, "golden.json"), "w") as f:
    json.dump(golden, f)
print("wrote", fix)
