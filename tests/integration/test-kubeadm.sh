#!/bin/bash
# kubeadm interoperation, proven by implementations we did not write: Go's standard
# library (AES-GCM as kubeadm's EncryptBytes does it) and Python's cryptography (AESGCM).
# Both directions, byte for byte, and kubeadm-grade-or-better errors.
. "$(dirname "$0")/lib.sh"
K=$(cd "$(dirname "$0")/../kubeadm" && pwd)

R=$T/c1
make_pki "$R"
KEY=$("$PKISHARE" certificate-key)
expected() { # "sha256 secret-key" lines for the source PKI
	(cd "$R/pki" && for f in ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt etcd/ca.key; do
		echo "$(sha256sum "$f" | cut -d' ' -f1) ${f//\//-}"; done | sort)
}
expected >"$T/expected.txt"

# Python's cryptography, both ways.
/usr/bin/python3 "$K/kubeadm_certs.py" seal "$KEY" "$R/pki" >"$T/py-secret.json"
expect_exit 0 "a dry run of it" "$PKISHARE" decrypt --format kubeadm-secret \
	--certificate-key "$KEY" --pki-dir "$T/py/pki" "$T/py-secret.json" --dry-run
check "... says the files would be written, not that they were" bash -c \
	"grep -q '8 would be written into $T/py/pki (0 already identical); nothing was written' '$T/last.out' && ! grep -q '8 written' '$T/last.out'"
check "... and writes nothing" [ ! -e "$T/py" ]
expect_exit 0 "pkishare opens a Secret sealed by Python (AESGCM)" "$PKISHARE" decrypt --format kubeadm-secret \
	--certificate-key "$KEY" --pki-dir "$T/py/pki" "$T/py-secret.json"

# The Secret as YAML, the form `kubectl get secret kubeadm-certs -o yaml` prints and
# kubeadm's documents show (issue 30, P13); and a Secret given without --format is told
# what to add.
/usr/bin/python3 - "$T/py-secret.json" >"$T/py-secret.yaml" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("apiVersion: %s\nkind: %s\nmetadata:" % (s["apiVersion"], s["kind"]))
for k, v in s.get("metadata", {}).items():
    print("  %s: %s" % (k, json.dumps(v)))
print("type: %s\ndata:" % json.dumps(s.get("type", "Opaque")))
for k, v in s["data"].items():
    print("  %s: %s" % (k, v))
PY
expect_exit 0 "decrypt --format kubeadm-secret takes the Secret as YAML" "$PKISHARE" decrypt \
	--format kubeadm-secret --pki-dir "$T/pyyaml/pki" "$T/py-secret.yaml" --certificate-key "$KEY"
check "... the same files as from its JSON" diff -r -x pkishare-joined.json "$T/py/pki" "$T/pyyaml/pki"
expect_exit 0 "... from standard input too" bash -c "PKISHARE_CERTIFICATE_KEY=$KEY '$PKISHARE' decrypt --format kubeadm-secret --pki-dir '$T/pyyaml2/pki' - <'$T/py-secret.yaml'"
for f in json yaml; do
	expect_exit 2 "a Secret ($f) without --format: refused" "$PKISHARE" decrypt --certificate-key "$KEY" \
		--pki-dir "$T/nofmt-$f/pki" "$T/py-secret.$f"
	check "... saying to add --format kubeadm-secret" err_has "run decrypt with --format kubeadm-secret"
	check "... nothing written" [ ! -e "$T/nofmt-$f" ]
done
printf 'data:\n  ca.crt: a\n  ca.crt: b\n' >"$T/dup.yaml"
expect_exit 1 "a YAML Secret with a key given twice: refused" "$PKISHARE" decrypt --format kubeadm-secret \
	--certificate-key "$KEY" --pki-dir "$T/dup/pki" "$T/dup.yaml"
check "... naming the line" err_has "dup.yaml:3: 'ca.crt' is given twice"
check "Python-sealed Secret: byte-identical files" diff -r -x pkishare-joined.json "$R/pki" "$T/py/pki"
check "Python-sealed Secret: kubeadm's modes" [ "$(stat -c %a "$T/py/pki/ca.key" "$T/py/pki/etcd/ca.key")" = "$(printf '600\n600')" ]
"$PKISHARE" export --format kubeadm-secret --pki-dir "$R/pki" --certificate-key "$KEY" >"$T/export.json"
check "Python opens pkishare's export" bash -c "/usr/bin/python3 '$K/kubeadm_certs.py' open '$KEY' <'$T/export.json' | diff - '$T/expected.txt'"
check "export has kubeadm's shape: the Secret, and the Role and RoleBinding upload-certs makes" /usr/bin/python3 -c "
import json,sys; l=json.load(open('$T/export.json'))
assert l['apiVersion']=='v1' and l['kind']=='List' and [i['kind'] for i in l['items']]==['Secret','Role','RoleBinding']
d, role, rb = l['items']
assert d['apiVersion']=='v1' and d['kind']=='Secret' and d['type']=='Opaque'
assert d['metadata']=={'name':'kubeadm-certs','namespace':'kube-system'}
assert sorted(d['data'])==sorted(['ca.crt','ca.key','sa.key','sa.pub','front-proxy-ca.crt','front-proxy-ca.key','etcd-ca.crt','etcd-ca.key'])
assert role['metadata']=={'name':'kubeadm:kubeadm-certs','namespace':'kube-system'}
assert role['rules']==[{'apiGroups':[''],'resources':['secrets'],'resourceNames':['kubeadm-certs'],'verbs':['get']}]
assert rb['roleRef']=={'apiGroup':'rbac.authorization.k8s.io','kind':'Role','name':'kubeadm:kubeadm-certs'}
assert rb['subjects']==[{'apiGroup':'rbac.authorization.k8s.io','kind':'Group','name':'system:bootstrappers:kubeadm:default-node-token'}]"
"$PKISHARE" export --format kubeadm-secret --pki-dir "$R/pki" --certificate-key "$KEY" --secret-only >"$T/export-secret.json"
check "--secret-only: the Secret alone" /usr/bin/python3 -c "import json; assert json.load(open('$T/export-secret.json'))['kind']=='Secret'"
expect_exit 0 "decrypt takes the exported List" "$PKISHARE" decrypt --format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/lst/pki" "$T/export.json"
check "... byte-identical files" diff -r -x pkishare-joined.json "$R/pki" "$T/lst/pki"

# Go's standard library, both ways (built offline from the Debian toolchain).
if command -v go >/dev/null; then
	export GOPROXY=off GO111MODULE=off GOCACHE=$T/gocache GOPATH=$T/gopath
	if go build -o "$T/kcerts" "$K/kubeadm_certs.go" 2>"$T/gobuild.err"; then
		"$T/kcerts" seal "$KEY" "$R/pki" >"$T/go-secret.json"
		expect_exit 0 "pkishare opens a Secret sealed by Go (crypto/cipher GCM)" "$PKISHARE" decrypt \
			--format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/go/pki" "$T/go-secret.json"
		check "Go-sealed Secret: byte-identical files" diff -r -x pkishare-joined.json "$R/pki" "$T/go/pki"
		check "Go opens pkishare's export" bash -c "'$T/kcerts' open '$KEY' <'$T/export.json' | diff - '$T/expected.txt'"
	else
		fail "go build of the kubeadm vector program failed: $(cat "$T/gobuild.err")"
	fi
else
	fail "go is not installed (scripts/test.sh installs golang-go)"
fi

# export prints a key it made, as upload-certs does (on stderr: stdout is the manifest).
"$PKISHARE" export --format kubeadm-secret --pki-dir "$R/pki" >"$T/export2.json" 2>"$T/export2.err"
EKEY=$(tail -1 "$T/export2.err")
check "export made and printed a key" grep -q "^\[upload-certs\] Using certificate key:$" "$T/export2.err"
check "that key opens the export (Python)" bash -c "/usr/bin/python3 '$K/kubeadm_certs.py' open '$EKEY' <'$T/export2.json' | diff - '$T/expected.txt'"

# Errors: wrong key, flipped byte, truncated entry, missing required key, unknown key.
TARGET=$T/t/pki
expect_exit 8 "wrong key" "$PKISHARE" decrypt --format kubeadm-secret --certificate-key "$("$PKISHARE" certificate-key)" --pki-dir "$TARGET" "$T/py-secret.json"
check "wrong key: says wrong key or altered, and kubeadm's words" bash -c "grep -q 'wrong certificate key' '$T/last.err' && grep -q 'message authentication failed' '$T/last.err'"
mutate() { /usr/bin/python3 - "$T/py-secret.json" "$1" "$2" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1])); how = sys.argv[3]
if how == "flip":
    raw = bytearray(base64.b64decode(d["data"]["sa.key"])); raw[30] ^= 1
    d["data"]["sa.key"] = base64.b64encode(bytes(raw)).decode()
elif how == "truncate":
    d["data"]["ca.key"] = base64.b64encode(base64.b64decode(d["data"]["ca.key"])[:10]).decode()
elif how == "missing":
    del d["data"]["ca.key"]
elif how == "unknown":
    d["data"]["apiserver.key"] = d["data"]["ca.key"]
json.dump(d, open(sys.argv[2], "w"))
PY
}
mutate "$T/flip.json" flip
expect_exit 8 "flipped byte" "$PKISHARE" decrypt --format kubeadm-secret --certificate-key "$KEY" --pki-dir "$TARGET" "$T/flip.json"
check "flipped byte: names the entry" err_has "data\[sa.key\]"
mutate "$T/trunc.json" truncate
expect_exit 1 "entry shorter than the nonce" "$PKISHARE" decrypt --format kubeadm-secret --certificate-key "$KEY" --pki-dir "$TARGET" "$T/trunc.json"
check "truncated: says shorter than nonce and tag" err_has "shorter than a 12-byte nonce"
mutate "$T/missing.json" missing
expect_exit 1 "missing required key" "$PKISHARE" decrypt --format kubeadm-secret --certificate-key "$KEY" --pki-dir "$TARGET" "$T/missing.json"
check "missing: names the key" err_has 'lacks the required key "ca.key"'
mutate "$T/unknown.json" unknown
expect_exit 1 "unknown data key refused" "$PKISHARE" decrypt --format kubeadm-secret --certificate-key "$KEY" --pki-dir "$TARGET" "$T/unknown.json"
check "unknown: names the key" err_has 'unknown data key "apiserver.key"'
check "no error wrote anything" [ ! -e "$T/t" ]

# External etcd: carried under kubeadm's external-etcd-* keys, installed where told.
mkdir -p "$T/ext"
cp "$R/pki/etcd/ca.crt" "$T/ext/ca.crt"; cp "$R/clients/node-2.crt" "$T/ext/client.crt"; cp "$R/clients/node-2.key" "$T/ext/client.key"
mkdir -p "$T/noetcd"; cp -a "$R/pki/." "$T/noetcd/"; rm -r "$T/noetcd/etcd"
"$PKISHARE" export --format kubeadm-secret --pki-dir "$T/noetcd" --certificate-key "$KEY" \
	--external-etcd-ca "$T/ext/ca.crt" --external-etcd-cert "$T/ext/client.crt" --external-etcd-key "$T/ext/client.key" >"$T/ext.json"
check "export carries external-etcd-* keys" grep -q '"external-etcd.key"' "$T/ext.json"
expect_exit 2 "external entries without destinations" "$PKISHARE" decrypt --format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/e1/pki" "$T/ext.json"
check "says which flag is needed" err_has "external-etcd-ca PATH"
check "nothing written without destinations" [ ! -e "$T/e1" ]
expect_exit 0 "external etcd installed where told" "$PKISHARE" decrypt --format kubeadm-secret --certificate-key "$KEY" \
	--pki-dir "$T/e2/pki" --external-etcd-ca "$T/e2/etcd/ca.pem" --external-etcd-cert "$T/e2/etcd/client.pem" \
	--external-etcd-key "$T/e2/etcd/client-key.pem" "$T/ext.json"
check "external CA identical" cmp "$T/ext/ca.crt" "$T/e2/etcd/ca.pem"
check "external key identical and 0600" bash -c "cmp '$T/ext/client.key' '$T/e2/etcd/client-key.pem' && [ \$(stat -c %a '$T/e2/etcd/client-key.pem') = 600 ]"
check "Go/Python-compatible: Python opens the external Secret" bash -c "/usr/bin/python3 '$K/kubeadm_certs.py' open '$KEY' <'$T/ext.json' | grep -q ' external-etcd.key$'"
# An external etcd without client certificates (insecure): kubeadm writes empty entries,
# and its join requires every external-etcd-* key to be there.
"$PKISHARE" export --format kubeadm-secret --pki-dir "$T/noetcd" --certificate-key "$KEY" \
	--external-etcd-ca "$T/ext/ca.crt" --external-etcd-cert "$T/ext/absent.crt" --external-etcd-key "$T/ext/absent.key" >"$T/ext-empty.json" 2>"$T/ext-empty.err"
check "absent external files: empty entries, as kubeadm writes them" /usr/bin/python3 -c "
import json; d=json.load(open('$T/ext-empty.json'))['items'][0]['data']
assert d['external-etcd.crt']=='' and d['external-etcd.key']=='' and d['external-etcd-ca.crt']"
check "... with a note naming the file" grep -q "absent.key is not there: its entry is left empty" "$T/ext-empty.err"
if [ -x "$T/kcerts" ]; then
	check "kubeadm join's download (Go, copycerts.go) accepts the external export" bash -c "'$T/kcerts' download '$KEY' external <'$T/ext-empty.json' | grep -q '^empty external-etcd.key'"
	check "... and the local one" "$T/kcerts" download "$KEY" local <"$T/export.json"
	check "... and would refuse a Secret without the empty entries (the old export)" bash -c "/usr/bin/python3 -c \"import json; l=json.load(open('$T/ext-empty.json')); s=l['items'][0]; s['data']={k: v for k, v in s['data'].items() if v}; print(json.dumps(s))\" | '$T/kcerts' download '$KEY' external 2>&1 | grep -q 'does not include the required certificate or key - name: external-etcd.crt'"
fi
expect_exit 0 "decrypt installs what is there and skips the empty entries" "$PKISHARE" decrypt --format kubeadm-secret --certificate-key "$KEY" \
	--pki-dir "$T/e3/pki" --external-etcd-ca "$T/e3/etcd/ca.pem" --external-etcd-cert "$T/e3/etcd/client.pem" \
	--external-etcd-key "$T/e3/etcd/client-key.pem" "$T/ext-empty.json"
check "... only the CA" bash -c "[ -f '$T/e3/etcd/ca.pem' ] && [ ! -e '$T/e3/etcd/client.pem' ]"

# External etcd in the native path: upload-certs carries it, join installs it where told,
# and a re-upload never silently drops it (kubeadm#1886).
SECRET_KEY=$KEY
start_daemon "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
EXT=(--external-etcd-ca "$T/ext/ca.crt" --external-etcd-cert "$T/ext/client.crt" --external-etcd-key "$T/ext/client.key")
upload "$T/noetcd" "${EXT[@]}"
JOIN=(join --server "$SERVER" --ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key")
expect_exit 2 "native join of external etcd files without destinations" "$PKISHARE" "${JOIN[@]}" \
	--certificate-key "$KEY" --pki-dir "$T/x1/pki"
check "native: nothing written without destinations" [ ! -e "$T/x1" ]
expect_exit 0 "native join installs external etcd files" "$PKISHARE" "${JOIN[@]}" --certificate-key "$KEY" \
	--pki-dir "$T/x2/pki" --external-etcd-ca "$T/x2/etcd/ca.pem" --external-etcd-cert "$T/x2/etcd/apiserver-etcd-client.pem" \
	--external-etcd-key "$T/x2/etcd/apiserver-etcd-client-key.pem"
check "native: external key identical" cmp "$T/ext/client.key" "$T/x2/etcd/apiserver-etcd-client-key.pem"
check "native: external files not in the PKI directory" [ ! -e "$T/x2/pki/external-etcd.key" ]
check "native: PKI directory complete" diff -r -x pkishare-joined.json "$T/noetcd" "$T/x2/pki"
expect_exit 1 "re-upload without the external etcd files is refused" "$PKISHARE" upload-certs --pki-dir "$T/noetcd" --no-etcd-ca
check "refusal explains kubeadm#1886's trap" err_has "drops-external-etcd"
upload "$T/noetcd" --drop-external-etcd
check "--drop-external-etcd makes it explicit" grep -q "Using certificate key" "$T/upload.out"
stop_daemon
KEY=$SECRET_KEY

# kubectl, where present, produces an acceptable Secret from kubeadm-encrypted files.
if command -v kubectl >/dev/null; then
	mkdir -p "$T/kfiles"
	/usr/bin/python3 - "$T/py-secret.json" "$T/kfiles" <<'PY'
import base64, json, os, sys
for k, v in json.load(open(sys.argv[1]))["data"].items():
    open(os.path.join(sys.argv[2], k), "wb").write(base64.b64decode(v))
PY
	kubectl create secret generic kubeadm-certs -n kube-system --dry-run=client -o json \
		$(for f in "$T"/kfiles/*; do echo "--from-file=$f"; done) >"$T/kubectl.json"
	expect_exit 0 "kubectl-made Secret accepted" "$PKISHARE" decrypt --format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/k/pki" "$T/kubectl.json"
else
	echo "skip: kubectl is not installed here (Debian 12 does not package it); the kubectl case did not run"
fi
finish
