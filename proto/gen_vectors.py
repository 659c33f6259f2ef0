#!/usr/bin/python3
"""Regenerate proto/vectors/*.json from the independent Python implementation.

Deterministic: keys, nonces and contents are derived from fixed labels, so running it
again gives the same files (run from the repository root: proto/gen_vectors.py)."""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pkishare_seal as ps  # noqa: E402


def det(label, n):
    return hashlib.sha512(label.encode()).digest()[:n]


def main():
    outdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "vectors")
    key = det("pkishare vector key", 32)
    created, expires = 1790000000, 1790007200
    bundle_id = det("pkishare vector id", 16).hex()
    files = {
        "ca.crt": (0o644, b"-----BEGIN CERTIFICATE-----\nvector ca\n-----END CERTIFICATE-----\n"),
        "ca.key": (0o600, b"-----BEGIN EC PRIVATE KEY-----\nvector\n-----END EC PRIVATE KEY-----\n"),
        "sa.key": (0o600, b"sa private\n"),
        "sa.pub": (0o644, b"sa public\n"),
        "front-proxy-ca.crt": (0o644, b"front proxy ca\n"),
        "front-proxy-ca.key": (0o600, b"front proxy key\n"),
        "etcd/ca.crt": (0o644, b"etcd ca\n"),
        "etcd/ca.key": (0o600, b"etcd key\n"),
    }
    nonces = {n: det("nonce " + n, 24) for n in files}
    names = sorted(files)
    entries = []
    for n in names:
        mode, pt = files[n]
        a = ps.aad(bundle_id, created, expires, names, n, mode)
        ct = ps.xchacha_encrypt(key, nonces[n], pt, a)
        entries.append({"name": n, "mode": mode, "nonce": nonces[n].hex(), "aad": a.hex(),
                        "plaintext": pt.hex(), "sealed": (nonces[n] + ct).hex()})
    seal = {"description": "XChaCha20-Poly1305 entries of one bundle, from proto/pkishare_seal.py",
            "key": key.hex(), "keyId": ps.key_id(key), "id": bundle_id,
            "createdAt": created, "expiresAt": expires, "entries": entries}
    with open(os.path.join(outdir, "seal.json"), "w") as f:
        json.dump(seal, f, indent=2)
        f.write("\n")
    bundle = ps.seal_bundle(key, bundle_id, created, expires, files, nonces)
    with open(os.path.join(outdir, "bundle.json"), "w") as f:
        json.dump(bundle, f, indent=2)
        f.write("\n")
    with open(os.path.join(outdir, "bundle.key"), "w") as f:
        f.write(key.hex() + "\n")
    # The same files with a cluster profile, bound into every entry's associated data.
    profile = {"controlPlaneEndpoint": "[fd00::10]:6443", "encryptionAlgorithm": "ECDSA-P256",
               "apiServerCertSANs": ["cp.example.com", "10.0.0.100"],
               "etcdServerCertSANs": ["etcd.example.com"], "serviceSubnet": "10.96.0.0/12",
               "dnsDomain": "cluster.local", "certificateValiditySeconds": 31536000}
    bundle = ps.seal_bundle(key, bundle_id, created, expires, files, nonces, profile)
    with open(os.path.join(outdir, "bundle-profile.json"), "w") as f:
        json.dump(bundle, f, indent=2)
        f.write("\n")
    # kubeadm's format: AES-256-GCM, nonce(12) || ciphertext || tag(16), no AAD.
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    kentries = []
    for n in names:
        nonce = det("kubeadm nonce " + n, 12)
        pt = files[n][1]
        kentries.append({"secretKey": n.replace("/", "-"), "plaintext": pt.hex(),
                         "sealed": (nonce + AESGCM(key).encrypt(nonce, pt, None)).hex()})
    with open(os.path.join(outdir, "kubeadm.json"), "w") as f:
        json.dump({"description": "kubeadm EncryptBytes vectors from Python's cryptography AESGCM",
                   "key": key.hex(), "entries": kentries}, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
