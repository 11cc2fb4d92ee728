#!/usr/bin/env python3
"""Shrinks an llmzip binary for the trip to a GPU machine whose checkout already has data/.

The built-in models are compiled into the binary byte for byte (src/model/builtin.rs), so
the binary repeats data/'s model files. `pack BIN OUT` blanks those ranges, xz-compresses the
rest and writes OUT (the .xz) and OUT.json (where each file goes and the binary's sha256);
`unpack OUT DEST` refills the ranges from the checkout's data/ and checks the sha256.
Run both from the repository root. The built-in models no longer fit the device's 64 MiB tree
all at once: `unpack OUT DEST --partial` refills the files present and leaves the others
zero (no sha256 check then); only models whose files were present may be used.
"""
import glob, hashlib, json, lzma, os, sys


def pack(binary, out):
    b = bytearray(open(binary, "rb").read())
    sha = hashlib.sha256(b).hexdigest()
    parts = []
    for path in sorted(glob.glob("data/*/*")):
        data = open(path, "rb").read()
        if len(data) < 4096:
            continue
        at = b.find(data)
        while at >= 0:
            parts.append({"path": path, "offset": at, "len": len(data)})
            b[at:at + len(data)] = bytes(len(data))
            at = b.find(data, at + len(data))
    with open(out, "wb") as f:
        f.write(lzma.compress(bytes(b), preset=6))
    json.dump({"sha256": sha, "size": len(b), "parts": parts}, open(out + ".json", "w"), indent=1)
    print(f"{binary}: {len(b)} bytes, {sum(p['len'] for p in parts)} from data/ -> {os.path.getsize(out)} bytes")


def unpack(packed, dest, partial=False):
    meta = json.load(open(packed + ".json"))
    b = bytearray(lzma.decompress(open(packed, "rb").read()))
    missing = []
    for p in meta["parts"]:
        if partial and not os.path.exists(p["path"]):
            missing.append(p["path"])
            continue
        b[p["offset"]:p["offset"] + p["len"]] = open(p["path"], "rb").read()
    if missing:
        open(dest, "wb").write(b)
        os.chmod(dest, 0o755)
        print(f"{dest}: rebuilt without {', '.join(missing)} (those models must not be used)")
        return
    if hashlib.sha256(b).hexdigest() != meta["sha256"]:
        sys.exit(f"{dest}: sha256 differs (data/ is not the one the binary was built with)")
    open(dest, "wb").write(b)
    os.chmod(dest, 0o755)
    print(f"{dest}: rebuilt, sha256 {meta['sha256'][:16]} ok")


if __name__ == "__main__":
    if sys.argv[1] == "unpack":
        unpack(sys.argv[2], sys.argv[3], "--partial" in sys.argv[4:])
    else:
        pack(sys.argv[2], sys.argv[3])
