#!/usr/bin/env python3
"""Tokenizes corpus shards (`*.txt.xz` or `*.txt`) into flat little-endian uint16 token files
(`<name>.u16`), one per shard, with the tokenizer llmzip uses (a Hugging Face tokenizer.json).

Text is encoded the way llmzip encodes a block: whole documents, no special tokens added.
Documents are separated in the shards by a line holding only a form feed ("\n\x0c\n"); the
separator is dropped, the documents are concatenated token-wise, so training windows may
straddle two documents exactly as a compressed file's windows straddle paragraphs.

Usage: tokenize_corpus.py TOKENIZER_JSON OUT_DIR SHARD [SHARD ...]
"""
import lzma
import os
import sys
import time

import numpy as np
from tokenizers import Tokenizer


def read_text(path):
    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rb") as f:
        return f.read().decode("utf-8", errors="replace")


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    tok = Tokenizer.from_file(sys.argv[1])
    if tok.get_vocab_size() > 65535:
        sys.exit("vocabulary does not fit uint16")
    out_dir = sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    for path in sys.argv[3:]:
        t0 = time.time()
        name = os.path.basename(path).split(".")[0]
        docs = [d for d in read_text(path).split("\n\x0c\n") if d]
        ids = []
        # encode_batch runs on all cores; chunks bound the memory of the Encoding objects
        for i in range(0, len(docs), 256):
            for enc in tok.encode_batch(docs[i : i + 256], add_special_tokens=False):
                ids.append(np.asarray(enc.ids, dtype=np.uint16))
        arr = np.concatenate(ids) if ids else np.zeros(0, dtype=np.uint16)
        # written under a temporary name, so a finished .u16 is always a whole one
        final = os.path.join(out_dir, name + ".u16")
        arr.astype("<u2").tofile(final + ".tmp")
        os.replace(final + ".tmp", final)
        nbytes = sum(len(d.encode("utf-8")) for d in docs)
        print(f"{name}: {len(docs)} docs, {nbytes} bytes, {arr.size} tokens "
              f"({nbytes / max(arr.size, 1):.3f} bytes/token), {time.time() - t0:.1f}s", flush=True)


if __name__ == "__main__":
    main()
