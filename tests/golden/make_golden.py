#!/usr/bin/env python3
"""Makes the golden fixtures that pin llmzip's model numerics to Hugging Face transformers.

Writes tests/fixtures/tiny-{bert,roberta,distilbert,roberta-prelayernorm,roberta-prelayernorm-causal}/
(random-initialised models saved with save_pretrained, tokenizers trained here) and
tests/fixtures/golden.json (reference log-probabilities at masked positions, including a padded
batch; for the causal model at every position of unmasked sequences), plus reference
predictions of ../shared/models/splade-tiny (a real checkpoint).

Run by hand (never in CI):  pip install torch transformers tokenizers
    python3 tests/golden/make_golden.py /path/to/training-text.txt
The training text only shapes the tiny tokenizers; the fixtures were made from the first
400,000 bytes of ../shared/corpus/valid.txt.xz.

    python3 tests/golden/make_golden.py --only roberta-prelayernorm
remakes one fixture and its entry of golden.json and leaves the others as they are (the
pre-LN fixtures reuse tiny-roberta's tokenizer, so they need no training text).
"""
import json, os, shutil, sys
import torch
from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer
from transformers import (BertConfig, BertForMaskedLM, RobertaConfig, RobertaForMaskedLM,
                          DistilBertConfig, DistilBertForMaskedLM, PreTrainedTokenizerFast,
                          RobertaPreLayerNormConfig, RobertaPreLayerNormForMaskedLM,
                          RobertaPreLayerNormForCausalLM,
                          AutoModelForMaskedLM)

here = os.path.dirname(os.path.abspath(__file__))
fix = os.path.join(here, "..", "fixtures")
only = sys.argv[2] if len(sys.argv) > 2 and sys.argv[1] == "--only" else None
text = None if only else sys.argv[1]
torch.manual_seed(1234)
VOCAB = 600
NAMES = ["bert", "roberta", "distilbert", "roberta-prelayernorm", "roberta-prelayernorm-causal"]

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

def reuse_tokenizer(src, out):
    shutil.copy(os.path.join(fix, src, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
    return PreTrainedTokenizerFast(tokenizer_file=os.path.join(out, "tokenizer.json"))

models = {}
common = dict(vocab_size=VOCAB, initializer_range=0.3)
for name in NAMES:
    if only and name != only:
        continue
    out = os.path.join(fix, f"tiny-{name}")
    os.makedirs(out, exist_ok=True)
    if name == "roberta-prelayernorm":
        # the seed is per model, so this fixture does not depend on which others are made
        torch.manual_seed(4321)
        tok = reuse_tokenizer("tiny-roberta", out)
        # gelu_new in the layers: the head must still use exact GELU, as transformers' does
        cfg = RobertaPreLayerNormConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=64, max_position_embeddings=258, pad_token_id=1,
                                        bos_token_id=0, eos_token_id=2, type_vocab_size=1,
                                        layer_norm_eps=1e-5, hidden_act="gelu_new", **common)
        m = RobertaPreLayerNormForMaskedLM(cfg)
    elif name == "roberta-prelayernorm-causal":
        # each row attends to itself and the rows before it (is_decoder); same modules and names
        torch.manual_seed(8765)
        tok = reuse_tokenizer("tiny-roberta", out)
        cfg = RobertaPreLayerNormConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=64, max_position_embeddings=258, pad_token_id=1,
                                        bos_token_id=0, eos_token_id=2, type_vocab_size=1,
                                        layer_norm_eps=1e-5, hidden_act="gelu_new", is_decoder=True,
                                        **common)
        m = RobertaPreLayerNormForCausalLM(cfg)
    elif name == "bert":
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
    if os.path.exists(os.path.join(out, "generation_config.json")):
        os.remove(os.path.join(out, "generation_config.json"))
    models[name] = (m, tok)

sentences = ["the quick brown fox jumps over the lazy dog.",
             "alice was beginning to get very tired of sitting by her sister on the bank",
             "compression is prediction; prediction is compression."]
gpath = os.path.join(fix, "golden.json")
golden = json.load(open(gpath)) if only else {}
for name, (m, tok) in models.items():
    bpe = name.startswith("roberta")
    causal = name.endswith("-causal")
    cls, sep, mask = (("[CLS]", "[SEP]", "[MASK]") if not bpe else ("<s>", "</s>", "<mask>"))
    tid = tok.token_to_id if hasattr(tok, "token_to_id") else tok.convert_tokens_to_ids
    cid, sid, mid = tid(cls), tid(sep), tid(mask)
    pad = 1 if bpe else 0
    seqs, sels = [], []
    for i, s in enumerate(sentences):
        ids = tok.encode(s, add_special_tokens=False)
        ids = ids.ids if hasattr(ids, "ids") else ids
        ids = [cid] + ids + [sid]
        if causal:
            # no masks: row p's output (the next token's distribution) at every other position
            pos = list(range(i % 2, len(ids), 2))
        else:
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
if os.path.isdir(splade) and not only:
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

with open(gpath, "w") as f:
    json.dump(golden, f)
print("wrote", fix)
