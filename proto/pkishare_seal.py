#!/usr/bin/python3
"""An independent implementation of pkishare's native sealing (proto/sealing.md).

Written from the specification, not from the C code: HChaCha20 (RFC draft
irtf-cfrg-xchacha) in pure Python, ChaCha20-Poly1305 from Python's `cryptography`.
Used to generate proto/vectors/*.json and, in the integration suite, to open bundles
that pkishare sealed and to seal bundles that pkishare must open.
"""
import base64
import calendar
import hashlib
import json
import struct
import sys
import time

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

CONTEXT = b"pkishare.io/v1 SealedBundle xchacha20poly1305"
MASK = 0xFFFFFFFF


def _rotl(v, c):
    return ((v << c) & MASK) | (v >> (32 - c))


def _quarter(s, a, b, c, d):
    s[a] = (s[a] + s[b]) & MASK; s[d] = _rotl(s[d] ^ s[a], 16)
    s[c] = (s[c] + s[d]) & MASK; s[b] = _rotl(s[b] ^ s[c], 12)
    s[a] = (s[a] + s[b]) & MASK; s[d] = _rotl(s[d] ^ s[a], 8)
    s[c] = (s[c] + s[d]) & MASK; s[b] = _rotl(s[b] ^ s[c], 7)


def hchacha20(key, nonce16):
    s = [0x61707865, 0x3320646E, 0x79622D32, 0x6B206574]
    s += list(struct.unpack("<8I", key)) + list(struct.unpack("<4I", nonce16))
    for _ in range(10):
        _quarter(s, 0, 4, 8, 12); _quarter(s, 1, 5, 9, 13)
        _quarter(s, 2, 6, 10, 14); _quarter(s, 3, 7, 11, 15)
        _quarter(s, 0, 5, 10, 15); _quarter(s, 1, 6, 11, 12)
        _quarter(s, 2, 7, 8, 13); _quarter(s, 3, 4, 9, 14)
    return struct.pack("<8I", *(s[0:4] + s[12:16]))


def xchacha_encrypt(key, nonce24, pt, aad):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).encrypt(b"\0" * 4 + nonce24[16:], pt, aad)


def xchacha_decrypt(key, nonce24, ct, aad):
    sub = hchacha20(key, nonce24[:16])
    return ChaCha20Poly1305(sub).decrypt(b"\0" * 4 + nonce24[16:], ct, aad)


def lp(b):
    return struct.pack(">I", len(b)) + b


def canonical_profile(profile):
    """The profile's bytes in the associated data: sorted keys, no whitespace."""
    return json.dumps(profile, sort_keys=True, separators=(",", ":")).encode()


def aad(bundle_id, created, expires, names, name, mode, profile=None):
    out = lp(CONTEXT) + lp(bundle_id.encode())
    out += struct.pack(">QQ", created, expires)
    out += struct.pack(">I", len(names))
    for n in sorted(n.encode() for n in names):
        out += lp(n)
    out += lp(name.encode()) + struct.pack(">I", mode)
    if profile is not None:
        out += lp(canonical_profile(profile))
    return out


def key_id(key):
    return hashlib.blake2b(key, digest_size=32).digest()[:8].hex()


def fmt_time(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def parse_time(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def seal_bundle(key, bundle_id, created, expires, files, nonces, profile=None):
    """files: {name: (mode, bytes)}; nonces: {name: 24 bytes}; profile: dict or None."""
    names = sorted(files)
    entries = []
    for n in names:
        mode, data = files[n]
        a = aad(bundle_id, created, expires, names, n, mode, profile)
        ct = xchacha_encrypt(key, nonces[n], data, a)
        entries.append({"name": n, "mode": "%04o" % mode,
                        "data": base64.b64encode(nonces[n] + ct).decode()})
    doc = {"apiVersion": "pkishare.io/v1", "kind": "SealedBundle", "id": bundle_id,
           "createdAt": fmt_time(created), "expiresAt": fmt_time(expires),
           "keyId": key_id(key), "cipher": "xchacha20poly1305", "files": entries}
    if profile is not None:
        doc["profile"] = profile
    return doc


def open_bundle(key, doc):
    created, expires = parse_time(doc["createdAt"]), parse_time(doc["expiresAt"])
    names = [f["name"] for f in doc["files"]]
    out = {}
    for f in doc["files"]:
        raw = base64.b64decode(f["data"], validate=True)
        mode = int(f["mode"], 8)
        a = aad(doc["id"], created, expires, names, f["name"], mode, doc.get("profile"))
        out[f["name"]] = (mode, xchacha_decrypt(key, raw[:24], raw[24:], a))
    return out


SHARED = {"ca.crt": 0o644, "ca.key": 0o600, "sa.key": 0o600, "sa.pub": 0o644,
          "front-proxy-ca.crt": 0o644, "front-proxy-ca.key": 0o600,
          "etcd/ca.crt": 0o644, "etcd/ca.key": 0o600}


def main(argv):
    """open KEYHEX < bundle.json: print name, mode, sha256 of each file.
    seal KEYHEX PKIDIR TTLSECONDS > bundle.json: seal the shared files found in PKIDIR."""
    if len(argv) == 5 and argv[1] == "seal":
        import os
        key, d, ttl = bytes.fromhex(argv[2]), argv[3], int(argv[4])
        files = {}
        for name, mode in SHARED.items():
            p = os.path.join(d, name)
            if os.path.exists(p):
                with open(p, "rb") as f:
                    files[name] = (mode, f.read())
        now = int(time.time())
        nonces = {n: os.urandom(24) for n in files}
        json.dump(seal_bundle(key, os.urandom(16).hex(), now, now + ttl, files, nonces),
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    if len(argv) == 3 and argv[1] == "open":
        for name, (mode, data) in sorted(open_bundle(bytes.fromhex(argv[2]), json.load(sys.stdin)).items()):
            print(name, "%04o" % mode, hashlib.sha256(data).hexdigest())
        return 0
    print("usage: pkishare_seal.py open KEYHEX < bundle.json\n"
          "       pkishare_seal.py seal KEYHEX PKIDIR TTLSECONDS", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
