#!/usr/bin/python3
"""e2e.multinode: is any 32-byte piece of a sealed bundle on disk?

  ctscan.py scan BODY.json... -- DIR...   every regular file under each DIR, against every
                                          32-byte window of every file's ciphertext in the
                                          bundles (and of its base64 text); prints each
                                          hit, exit 1 if any, 0 if none
  ctscan.py plant BODY.json FILE          write FILE: noise, then one 32-byte window of
                                          the bundle's ciphertext at an odd offset, then
                                          31 bytes of another (the scanner's positive and
                                          negative controls)

How: any 32-byte run of a needle that occurs in a file covers a whole 16-byte slice of the
file starting at a multiple of 16. So the file is read at a stride of 16, each slice looked
up among all 16-byte windows of the needles, and a candidate is extended both ways to see
whether it reaches 32 bytes. Trailing zeros (etcd preallocates its WAL) are skipped.
"""
import base64
import json
import os
import sys

WIN = 32
GRAM = 16


def needles(bodies):
    out = []
    for path in bodies:
        with open(path, "rb") as f:
            b = json.load(f)
        for e in b.get("files", []):
            text = e["data"].encode()
            raw = base64.b64decode(text, validate=True)
            out.append((f"{os.path.basename(path)}:{e['name']}", raw))
            out.append((f"{os.path.basename(path)}:{e['name']} (base64)", text))
    return [(n, s) for n, s in out if len(s) >= WIN]


def index(ns):
    grams = {}
    for k, (_, s) in enumerate(ns):
        for off in range(len(s) - GRAM + 1):
            grams.setdefault(s[off:off + GRAM], []).append((k, off))
    return grams


def match_len(data, q, s, off):
    """Length of the common run of data and s through data[q] == s[off]."""
    left = 0
    while q - left - 1 >= 0 and off - left - 1 >= 0 and data[q - left - 1] == s[off - left - 1]:
        left += 1
    right = 0
    while q + right < len(data) and off + right < len(s) and data[q + right] == s[off + right]:
        right += 1
    return left + right, q - left


def scan_file(path, ns, grams):
    with open(path, "rb") as f:
        data = f.read()
    data = data.rstrip(b"\0")
    hits = []
    seen = set()
    for q in range(0, len(data) - GRAM + 1, GRAM):
        cands = grams.get(data[q:q + GRAM])
        if not cands:
            continue
        for k, off in cands:
            n, start = match_len(data, q, ns[k][1], off)
            if n >= WIN and (k, start) not in seen:
                seen.add((k, start))
                hits.append(f"{path}: {n} bytes of {ns[k][0]} at offset {start}")
    return hits


def scan(bodies, dirs):
    ns = needles(bodies)
    if not ns:
        print("ctscan: no ciphertext in the bodies given", file=sys.stderr)
        return 2
    grams = index(ns)
    files = 0
    total = 0
    hits = []
    for d in dirs:
        for root, _, names in os.walk(d):
            for name in names:
                p = os.path.join(root, name)
                if os.path.islink(p) or not os.path.isfile(p):
                    continue
                files += 1
                total += os.path.getsize(p)
                hits += scan_file(p, ns, grams)
    for h in hits:
        print("hit:", h)
    print(f"ctscan: {len(ns)} needles ({sum(len(s) for _, s in ns)} bytes), "
          f"{files} files ({total} bytes), {len(hits)} hit(s)")
    return 1 if hits else 0


def plant(body, out):
    ns = needles([body])
    if not ns:
        print("ctscan: no ciphertext in", body, file=sys.stderr)
        return 2
    a = ns[0][1]
    b = ns[-1][1]
    with open(out, "wb") as f:
        f.write(os.urandom(1001))
        f.write(a[7:7 + WIN])
        f.write(os.urandom(501))
        f.write(b[3:3 + WIN - 1])
        f.write(os.urandom(77))
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "scan" and "--" in sys.argv:
        i = sys.argv.index("--")
        sys.exit(scan(sys.argv[2:i], sys.argv[i + 1:]))
    if len(sys.argv) == 4 and sys.argv[1] == "plant":
        sys.exit(plant(sys.argv[2], sys.argv[3]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
