#!/usr/bin/python3
"""kubeadm_certs.py - kubeadm's upload-certs encryption with Python's `cryptography`
(AESGCM): 12-byte nonce || ciphertext || 16-byte tag, no associated data.

    kubeadm_certs.py seal KEYHEX PKIDIR > secret.json
    kubeadm_certs.py open KEYHEX < secret.json      (prints "sha256 name" lines)

open takes the Secret, or a List holding it (pkishare export's); an empty entry is a
file that was not on disk at upload, as kubeadm's getDataFromSecret reads it.
"""
import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NAMES = ["ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt",
         "front-proxy-ca.key", "etcd/ca.crt", "etcd/ca.key"]


def main(argv):
    key = bytes.fromhex(argv[2])
    if argv[1] == "seal":
        data = {}
        for n in NAMES:
            with open(os.path.join(argv[3], n), "rb") as f:
                nonce = os.urandom(12)
                data[n.replace("/", "-")] = base64.b64encode(
                    nonce + AESGCM(key).encrypt(nonce, f.read(), None)).decode()
        json.dump({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "kubeadm-certs", "namespace": "kube-system"},
                   "data": data}, sys.stdout, indent=2)
        print()
    elif argv[1] == "open":
        lines = []
        doc = json.load(sys.stdin)
        if doc.get("kind") == "List":
            doc = next(i for i in doc["items"] if i.get("kind") == "Secret")
        for k, v in doc["data"].items():
            if not v:
                lines.append("empty %s" % k)
                continue
            raw = base64.b64decode(v)
            pt = AESGCM(key).decrypt(raw[:12], raw[12:], None)
            lines.append("%s %s" % (hashlib.sha256(pt).hexdigest(), k))
        print("\n".join(sorted(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
