#!/usr/bin/env python3
"""Builds data/bench-texts/ from files of a Debian 12 machine (see data/bench-texts/README.md).

The committed texts are what the bench measures; this script documents where they came from
and rebuilds similar ones elsewhere (the sources change as packages are installed).
"""
import csv
import io
import json
import os
import random
import subprocess
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else "data/bench-texts"
LIMIT = 150_000


def cut(text, limit=LIMIT):
    """The longest prefix of whole lines within `limit` bytes."""
    b = text.encode()
    if len(b) <= limit:
        return text
    return b[: b.rfind(b"\n", 0, limit) + 1].decode()


def write(name, text):
    with open(os.path.join(OUT, name), "w", encoding="utf-8", newline="") as f:
        f.write(text)
    print(f"{name}: {len(text.encode())} bytes")


def dpkg_status():
    """Package stanzas of /var/lib/dpkg/status as dicts (continuation lines joined by \\n)."""
    pkgs, cur, key = [], {}, None
    with open("/var/lib/dpkg/status", encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                if cur:
                    pkgs.append(cur)
                cur, key = {}, None
            elif line[0] in " \t" and key:
                cur[key] += "\n" + line[1:]
            else:
                key, _, val = line.partition(":")
                cur[key] = val.strip()
    if cur:
        pkgs.append(cur)
    return sorted(pkgs, key=lambda p: p["Package"])


def man_text(path):
    env = dict(os.environ, MANWIDTH="80", LANG="C.UTF-8")
    raw = subprocess.run(["man", "-E", "UTF-8", "-l", path], env=env, capture_output=True, check=True).stdout
    plain = subprocess.run(["col", "-bx"], input=raw, capture_output=True, check=True).stdout.decode()
    return "\n".join(line.strip() for line in plain.splitlines()) + "\n"


def repetitive():
    """A templated status report: few distinct lines, small deterministic variations."""
    rng = random.Random(14)
    hosts = [f"node-{i:02d}" for i in range(8)]
    lines = []
    for i in range(4000):
        h = rng.choice(hosts)
        if i % 50 == 0:
            lines.append(f"=== report {i // 50:04d} ===")
        kind = rng.random()
        if kind < 0.7:
            lines.append(f"{h}: health check passed (disk ok, memory ok, load ok)")
        elif kind < 0.9:
            lines.append(f"{h}: health check passed (disk ok, memory ok, load {rng.randint(1, 9)}.{rng.randint(0, 9)})")
        else:
            lines.append(f"{h}: restarted service worker-{rng.randint(1, 4)} after {rng.randint(1, 60)} s")
    return cut("\n".join(lines) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    with open("/var/log/dpkg.log", encoding="utf-8") as f:
        write("logs-dpkg.log", cut(f.read()))

    pkgs = dpkg_status()
    keys = ["Package", "Version", "Architecture", "Section", "Priority", "Installed-Size", "Maintainer",
            "Depends", "Description"]
    rows = []
    for p in pkgs:
        rec = {k: p[k] for k in keys if k in p}
        if "Installed-Size" in rec:
            rec["Installed-Size"] = int(rec["Installed-Size"])
        if "Depends" in rec:
            rec["Depends"] = [d.strip() for d in rec["Depends"].split(",")]
        rows.append(json.dumps(rec, ensure_ascii=False))
    write("json-packages.jsonl", cut("\n".join(rows) + "\n", 190_000))

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["date", "time", "action", "package", "architecture", "from_version", "to_version"])
    with open("/var/log/dpkg.log", encoding="utf-8") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 6 and parts[2] in ("install", "upgrade", "remove", "configure", "trigproc"):
                pkg, _, arch = parts[3].partition(":")
                w.writerow([parts[0], parts[1], parts[2], pkg, arch, parts[4], parts[5]])
            elif len(parts) >= 6 and parts[2] == "status":
                pkg, _, arch = parts[4].partition(":")
                w.writerow([parts[0], parts[1], parts[3], pkg, arch, "", parts[5]])
    write("csv-dpkg-events.csv", cut(buf.getvalue()))

    src = ""
    for name in ["argparse.py", "dataclasses.py"]:
        with open(f"/usr/lib/python3.11/{name}", encoding="utf-8") as f:
            src += f.read()
    write("source-python.py", cut(src, 160_000))

    de = ""
    for name in ["man1/dpkg.1", "man1/dpkg-source.1", "man1/dpkg-buildpackage.1", "man1/dpkg-deb.1",
                 "man1/dpkg-query.1", "man1/dpkg-shlibdeps.1"]:
        de += man_text(f"/usr/share/man/de/{name}.gz")
    write("prose-de.txt", cut(de))

    en = ""
    for name in ["GPL-3", "Apache-2.0", "MPL-2.0", "LGPL-2.1", "GFDL-1.3", "Artistic", "CC0-1.0"]:
        with open(f"/usr/share/common-licenses/{name}", encoding="utf-8") as f:
            en += f.read()
    write("prose-en-licenses.txt", cut(en))

    write("repetitive-report.txt", repetitive())


main()
