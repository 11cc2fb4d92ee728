#!/usr/bin/env python3
"""Trains a byte-level BPE tokenizer shaped like llmzip's built-in one (data/*/tokenizer.json):
the 256 byte symbols, merges up to VOCAB ids, special tokens <s> <pad> </s> <unk> <mask> at
ids 0-4 (the ids the reveal plan and pretrain.py use), byte-level pre-tokenizer and decoder
without a prefix space, RoBERTa post-processing. Any text round-trips through it, so llmzip
needs no residual for it.

Used to choose the vocabulary size by measurement (scripts/pretrain/sweep.sh trains 8k, 16k
and 32k on the same shards, then the same model on each).

Usage: train_tokenizer.py VOCAB OUT.json SHARD [SHARD ...]   (*.txt.xz or *.txt)
"""
import json
import lzma
import sys
import time

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

SPECIAL = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]


def documents(paths):
    for path in paths:
        opener = lzma.open if path.endswith(".xz") else open
        with opener(path, "rb") as f:
            text = f.read().decode("utf-8", errors="replace")
        # shards separate documents by a line holding only a form feed (tokenize_corpus.py)
        yield from (d for d in text.split("\n\x0c\n") if d)


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    vocab, out, shards = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    t0 = time.time()
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel(add_prefix_space=False, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIAL, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(documents(shards), trainer=trainer)
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), add_prefix_space=False)
    for i, s in enumerate(SPECIAL):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    tok.save(out)
    # the decoder's constructor ignores add_prefix_space; store it as the built-in one has it
    with open(out) as f:
        j = json.load(f)
    j["decoder"] = dict(j["pre_tokenizer"])
    with open(out, "w") as f:
        json.dump(j, f, ensure_ascii=False, indent=2)
    print(f"{out}: {tok.get_vocab_size()} ids from {len(shards)} shards, {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
