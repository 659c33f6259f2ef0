#!/bin/bash
# The cluster's node-certificate profile from kubeadm's own configuration: upload-certs
# --config reads v1beta4 and v1beta3 YAML and the kubeadm-config ConfigMap (JSON), seals
# the profile into the bundle (Python opens it; changing it breaks every entry, see
# unit.bundle), status shows it, and `pkishare join --node-name N --advertise-address A`
# makes node certificates that kubeadm's own checks (tests/kubeadm/kubeadm_checks.go, Go's
# crypto/x509) accept, IPv4 and IPv6; flags on join override and say so; malformed
# configurations are refused with FILE:LINE and nothing is uploaded.
. "$(dirname "$0")/lib.sh"
K=$(cd "$(dirname "$0")/../kubeadm" && pwd)
R=$T/r
make_pki "$R"
start_daemon "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")

KCHECK=
if command -v go >/dev/null; then
	export GOPROXY=off GO111MODULE=off GOCACHE=$T/gocache GOPATH=$T/gopath
	if go build -o "$T/kcheck" "$K/kubeadm_checks.go" 2>"$T/gobuild.err"; then
		KCHECK=$T/kcheck
	else
		fail "go build of kubeadm_checks.go failed: $(cat "$T/gobuild.err")"
	fi
else
	fail "go is not installed (scripts/test.sh installs golang-go)"
fi

cat >"$T/v1beta4.yaml" <<'EOF'
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  name: cp-1
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.31.0
controlPlaneEndpoint: "[fd00::10]:6443"
encryptionAlgorithm: ECDSA-P256
certificateValidityPeriod: 4380h0m0s
someFutureField: ignored, as kubeadm's decoder ignores unknown fields
apiServer:
  certSANs:
  - cp.example.com
  - 10.0.0.100
etcd:
  local:
    serverCertSANs: [etcd.example.com]
    peerCertSANs: [peer.example.com, "fd00::99"]
networking:
  serviceSubnet: fd00:10:96::/112
  dnsDomain: corp.local
---
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: systemd
EOF

# 1. v1beta4, IPv6: upload, status, join, kubeadm's checks.
upload "$R/pki" --config "$T/v1beta4.yaml"
check "upload-certs shows the profile" grep -q "Cluster profile for joining nodes' certificates: endpoint \[fd00::10\]:6443; ECDSA-P256; API server SANs cp.example.com,10.0.0.100" "$T/upload.out"
"$PKISHARE" status >"$T/status.out"
check "status shows the profile" grep -q "^profile: *endpoint \[fd00::10\]:6443; ECDSA-P256" "$T/status.out"
check "bundle/info carries it" bash -c "'$PKISHARE' status -o json | /usr/bin/python3 -c 'import json,sys; p=json.load(sys.stdin)[\"bundle\"][\"profile\"]; assert p[\"etcdPeerCertSANs\"]==[\"peer.example.com\",\"fd00::99\"] and p[\"certificateValiditySeconds\"]==4380*3600, p'"
curl_fetch "$R" node-3 >"$T/bundle.json"
check "the independent Python implementation opens the bundle with its profile" bash -c \
	"/usr/bin/python3 '$PROTO_DIR/pkishare_seal.py' open '$KEY' <'$T/bundle.json' | grep -q '^ca.key 0600 '"
"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --certificate-key "$KEY" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/n2/pki" \
	--node-name cp-2 --advertise-address fd00::12 >"$T/join.out" 2>&1
check "join made 7 node certificates" grep -q "7 generated" "$T/join.out"
check "... without any override note" bash -c "! grep -q overrides '$T/join.out'"
check "apiserver: ECDSA P-256 key from encryptionAlgorithm" bash -c "openssl pkey -in '$T/n2/pki/apiserver.key' -noout -text | grep -q prime256v1"
check "apiserver: valid 4380h (certificateValidityPeriod)" bash -c \
	"end=\$(date -d \"\$(openssl x509 -in '$T/n2/pki/apiserver.crt' -noout -enddate | cut -d= -f2)\" +%s); [ \$((end - \$(date +%s))) -gt \$((4380 * 3600 - 300)) ] && [ \$((end - \$(date +%s))) -le \$((4380 * 3600 + 300)) ]"
check "apiserver: the service subnet's first address (IPv6)" bash -c "openssl x509 -in '$T/n2/pki/apiserver.crt' -noout -ext subjectAltName | grep -q 'FD00:10:96:0:0:0:0:1\b'"
check "apiserver: kubernetes.default.svc.corp.local (dnsDomain)" bash -c "openssl x509 -in '$T/n2/pki/apiserver.crt' -noout -ext subjectAltName | grep -q 'kubernetes.default.svc.corp.local'"
if [ -n "$KCHECK" ]; then
	check "kubeadm's checks accept every node certificate (v1beta4, IPv6)" "$KCHECK" -pki "$T/n2/pki" \
		-node-name cp-2 -advertise fd00::12 -endpoint '[fd00::10]:6443' \
		-cert-sans cp.example.com,10.0.0.100 -etcd-server-sans etcd.example.com \
		-etcd-peer-sans peer.example.com,fd00::99 -service-subnet fd00:10:96::/112 \
		-dns-domain corp.local -algorithm ECDSA-P256
	check "... and refuse them for a node with another address (a control)" bash -c "! '$KCHECK' -pki '$T/n2/pki' -node-name cp-2 -advertise fd00::13 2>/dev/null"
fi

# 2. Flags on join override the profile and say so.
"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --certificate-key "$KEY" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/n3/pki" \
	--node-name cp-3 --advertise-address fd00::13 --encryption-algorithm RSA-2048 \
	--control-plane-endpoint cp3.example.com:6443 >"$T/join3.out" 2>&1
check "an overriding flag is reported" grep -q "\[join\] --control-plane-endpoint cp3.example.com:6443 overrides the cluster profile's \[fd00::10\]:6443" "$T/join3.out"
check "... and so is the algorithm" grep -q "\-\-encryption-algorithm RSA-2048 overrides the cluster profile's ECDSA-P256" "$T/join3.out"
check "... and used" bash -c "openssl pkey -in '$T/n3/pki/apiserver.key' -noout -text | head -1 | grep -q '2048 bit'"

# 3. v1beta3, IPv4, ECDSA through the PublicKeysECDSA feature gate.
cat >"$T/v1beta3.yaml" <<'EOF'
apiVersion: kubeadm.k8s.io/v1beta3
kind: ClusterConfiguration
controlPlaneEndpoint: cp.example.com:6443
featureGates:
  PublicKeysECDSA: true
apiServer:
  certSANs: ["lb.example.com", "10.0.0.200"]
networking:
  serviceSubnet: 10.97.0.0/16
EOF
upload "$R/pki" --config "$T/v1beta3.yaml"
"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --certificate-key "$KEY" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/n4/pki" \
	--node-name cp-4 --advertise-address 10.0.0.14 >"$T/join4.out" 2>&1
check "v1beta3: PublicKeysECDSA means ECDSA P-256 node keys" bash -c "openssl pkey -in '$T/n4/pki/etcd/peer.key' -noout -text | grep -q prime256v1"
if [ -n "$KCHECK" ]; then
	check "kubeadm's checks accept every node certificate (v1beta3, IPv4)" "$KCHECK" -pki "$T/n4/pki" \
		-node-name cp-4 -advertise 10.0.0.14 -endpoint cp.example.com:6443 \
		-cert-sans lb.example.com,10.0.0.200 -service-subnet 10.97.0.0/16 -algorithm ECDSA-P256
fi

# 4. The kubeadm-config ConfigMap as kubectl prints it (JSON, ClusterConfiguration inside).
/usr/bin/python3 - "$T/v1beta3.yaml" >"$T/cm.json" <<'PY'
import json, sys
print(json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": "kubeadm-config", "namespace": "kube-system"},
                  "data": {"ClusterConfiguration": open(sys.argv[1]).read()}}, indent=2))
PY
expect_exit 0 "the kubeadm-config ConfigMap (JSON)" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/cm.json"
check "... gives the same profile" grep -q "endpoint cp.example.com:6443; ECDSA-P256; API server SANs lb.example.com,10.0.0.200; service subnet 10.97.0.0/16" "$T/last.out"

# 5. Refusals: FILE:LINE, nothing uploaded.
ID=$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  certSANs: [a, b\n' >"$T/bad1.yaml"
expect_exit 2 "malformed YAML" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/bad1.yaml"
check "... with FILE:LINE" err_has "bad1.yaml:5"
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  certSANs: cp.example.com\n' >"$T/bad2.yaml"
expect_exit 2 "certSANs not a list" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/bad2.yaml"
check "... says which field and where" err_has "bad2.yaml:4: apiServer.certSANs must be a list"
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  certSANs:\n  - "ok.example.com,IP:9.9.9.9"\n' >"$T/bad6.yaml"
expect_exit 2 "a certSAN that would add another SAN" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/bad6.yaml"
check "... FILE:LINE and the name" err_has "bad6.yaml:5: ok.example.com,IP:9.9.9.9 is neither an IP address nor a DNS name"
printf 'apiVersion: kubeadm.k8s.io/v1beta2\nkind: ClusterConfiguration\n' >"$T/bad3.yaml"
expect_exit 2 "v1beta2" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/bad3.yaml"
check "... says to migrate" err_has "kubeadm config migrate"
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nencryptionAlgorithm: DSA\n' >"$T/bad4.yaml"
expect_exit 2 "an unknown encryptionAlgorithm" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/bad4.yaml"
check "... names kubeadm's" err_has "bad4.yaml:3: encryptionAlgorithm must be RSA-2048"
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n' >"$T/bad5.yaml"
expect_exit 1 "no ClusterConfiguration" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/bad5.yaml"
check "... says so" err_has "has no ClusterConfiguration"
# Two ClusterConfigurations: an empty certSAN in the second left the first's value in
# its slot (the profile then named a SAN the operator had removed). kubeadm takes one
# document of each kind; so do we.
cat >"$T/twice.yaml" <<'EOF'
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
apiServer:
  certSANs: [old.example.com]
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
apiServer:
  certSANs: [""]
EOF
expect_exit 2 "two ClusterConfiguration documents" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/twice.yaml"
check "... FILE:LINE, the kind and what to do" err_has "twice.yaml:7: ClusterConfiguration is given twice (first on line 2); kubeadm takes one document of each kind"
check "... the stale SAN was never uploaded" bash -c "! '$PKISHARE' status | grep -q old.example.com"
sed 's/v1beta4/v1beta3/2' "$T/twice.yaml" >"$T/twice34.yaml"
expect_exit 2 "a v1beta3 and a v1beta4 ClusterConfiguration" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/twice34.yaml"
# A key given twice in one mapping (at any depth, also inside a ConfigMap's text): which
# one a reader takes is a guess, so it is refused (the first was sealed before).
printf 'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\napiServer:\n  certSANs: [stale.example]\napiServer:\n  certSANs: [good.example]\n' >"$T/dupkey.yaml"
expect_exit 2 "a key given twice in one mapping" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/dupkey.yaml"
check "... FILE:LINE and both lines" err_has "dupkey.yaml:5: 'apiServer' is given twice in one mapping (first at line 3)"
printf 'apiVersion: kubeadm.k8s.io/v1beta3\nkind: ClusterConfiguration\nnetworking:\n  dnsDomain: a.local\n  dnsDomain: b.local\n' >"$T/dupkey2.yaml"
expect_exit 2 "a key given twice one level down" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/dupkey2.yaml"
/usr/bin/python3 -c 'import json,sys; print(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": {"ClusterConfiguration": open(sys.argv[1]).read()}}))' "$T/dupkey.yaml" >"$T/dupkey-cm.json"
expect_exit 2 "a key given twice inside a ConfigMap's ClusterConfiguration" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/dupkey-cm.json"
check "... the stale SAN was never uploaded" bash -c "! '$PKISHARE' status | grep -q stale.example"
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\n---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n' >"$T/init2.yaml"
expect_exit 2 "two InitConfiguration documents" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/init2.yaml"
check "... says so" err_has "init2.yaml:5: InitConfiguration is given twice"
/usr/bin/python3 - "$T/v1beta3.yaml" >"$T/cm-and-doc.yaml" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
print(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "data": {"ClusterConfiguration": text}}))
print("---")
print(text)
PY
expect_exit 2 "a kubeadm-config ConfigMap and a ClusterConfiguration document" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/cm-and-doc.yaml"
check "... says to keep one" err_has "holds 2 ClusterConfigurations"
check "nothing was uploaded by these refusals" [ "$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')" = "$ID" ]
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\napiServer:\n  certSANs: ["", a.example.com, ""]\n' >"$T/empty.yaml"
expect_exit 0 "empty certSAN entries are skipped" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/empty.yaml"
check "... and only the real one is kept" grep -Eq "API server SANs a\.example\.com(;|$)" "$T/last.out"
ID=$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')
# A profile no joiner could make node certificates from is refused by upload-certs, with
# the value and what is expected, before anything is sealed: not found on each node after
# its fetch.
bad_profile() { # bad_profile NAME FIELD-YAML EXPECTED-MESSAGE
	printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\n%s\n' "$2" >"$T/$1.yaml"
	expect_exit 2 "upload-certs refuses $1" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/$1.yaml"
	check "... says so: $3" err_has "$3"
	check "... and that nothing was uploaded" err_has "nothing was uploaded"
}
bad_profile bad-cidr 'networking: {serviceSubnet: 10.96.0.0/40}' "service CIDR '10.96.0.0/40' is not a CIDR like 10.96.0.0/12"
bad_profile bad-cidr-word 'networking: {serviceSubnet: services}' "service CIDR 'services' is not a CIDR"
bad_profile bad-endpoint 'controlPlaneEndpoint: "[fd00::10"' "control-plane endpoint '\[fd00::10' is not HOST, HOST:PORT or \[IPv6\]:PORT"
bad_profile bad-endpoint-name 'controlPlaneEndpoint: "cp_1.example.com:6443"' "control-plane endpoint 'cp_1.example.com:6443' is not HOST"
bad_profile bad-domain 'networking: {dnsDomain: "corp..local"}' "DNS domain 'corp..local' is not a DNS name like cluster.local"
bad_profile bad-domain-ip 'networking: {dnsDomain: "10.0.0.1"}' "DNS domain '10.0.0.1' is not a DNS name"
expect_exit 2 "upload-certs refuses a bad --service-cidr flag too" "$PKISHARE" upload-certs --pki-dir "$R/pki" --service-cidr 10.96.0.0
check "... says so" err_has "service CIDR '10.96.0.0' is not a CIDR like 10.96.0.0/12"
check "nothing was uploaded by the bad profiles" [ "$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')" = "$ID" ]
expect_exit 1 "a missing file" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/nope.yaml"
expect_exit 2 "a malformed --certificate-validity" "$PKISHARE" upload-certs --pki-dir "$R/pki" --certificate-validity 10d
check "... says what is expected" err_has "like 8760h"
check "nothing was uploaded by any refusal" [ "$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')" = "$ID" ]
# A validity that is not whole hours is shown exactly, not rounded down to the hour.
"$PKISHARE" upload-certs --pki-dir "$R/pki" --certificate-validity 1h30m >"$T/upload-v.out"
check "upload-certs shows --certificate-validity 1h30m exactly" grep -q "certificates valid 1h30m\b" "$T/upload-v.out"
"$PKISHARE" status >"$T/status-v.out"
check "... and so does status" grep -q "certificates valid 1h30m\b" "$T/status-v.out"
"$PKISHARE" upload-certs --pki-dir "$R/pki" --certificate-validity 1h0m1s >"$T/upload-v.out"
check "... and 1h0m1s too" grep -q "certificates valid 1h0m1s\b" "$T/upload-v.out"
# External etcd paths of the profile are checked with the plan, not after the fetch; a file
# holding a private key is never written readable by others (outside review of issue 29:
# certFile and keyFile one combined PEM passed `join --dry-run`, the real join spent the
# fetch, installed the PKI and a 0644 file with etcd's client key, then exit 10).
mkdir -p "$T/etcd"
cp "$R/pki/etcd/ca.crt" "$T/etcd/ca.crt"
cat "$R/clients/node-2.crt" "$R/clients/node-2.key" >"$T/etcd/client.pem"
cp "$R/clients/node-2.crt" "$T/etcd/client.crt"; cp "$R/clients/node-2.key" "$T/etcd/client.key"
ext_yaml() { # ext_yaml FILE CERTFILE KEYFILE
	printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\netcd:\n  external:\n    endpoints: ["https://10.0.0.5:2379"]\n    caFile: %s\n    certFile: %s\n    keyFile: %s\n' \
		"$T/etcd/ca.crt" "$2" "$3" >"$1"
}
ext_yaml "$T/combined.yaml" "$T/etcd/client.pem" "$T/etcd/client.pem"
expect_exit 2 "upload-certs refuses external certFile and keyFile that are one file" \
	"$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/combined.yaml"
check "... says which, and what to do" err_has "certFile .*client.pem and keyFile .*client.pem name the same file.*nothing was uploaded"
ext_yaml "$T/keyincert.yaml" "$T/etcd/client.pem" "$T/etcd/client.key"
expect_exit 2 "upload-certs refuses a certFile that holds a private key" \
	"$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/keyincert.yaml"
check "... says why" err_has "client.pem holds a private key.*readable by every user.*nothing was uploaded"
# Such a bundle sealed by an older pkishare (here by the Python implementation) is refused
# by the join's plan, by --dry-run too, before any fetch, and writes nothing.
PYKEY=$(/usr/bin/python3 - "$PROTO_DIR" "$R/pki" "$T/etcd" "$T/combined.json" "$T/joiner-etcd" <<'PY'
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import pkishare_seal as ps
key, pki, etcd = os.urandom(32), sys.argv[2], sys.argv[3]
files = {n: (m, open(os.path.join(pki, n), "rb").read()) for n, m in ps.SHARED.items()
         if os.path.exists(os.path.join(pki, n))}
comb = open(os.path.join(etcd, "client.pem"), "rb").read()
files["external-etcd-ca.crt"] = (0o644, open(os.path.join(etcd, "ca.crt"), "rb").read())
files["external-etcd.crt"] = (0o644, comb)
files["external-etcd.key"] = (0o600, comb)
dest = sys.argv[5]
prof = {"externalEtcdCAFile": dest + "/ca.crt", "externalEtcdCertFile": dest + "/client.pem",
        "externalEtcdKeyFile": dest + "/client.pem"}
now = int(time.time())
doc = ps.seal_bundle(key, os.urandom(16).hex(), now, now + 600, files,
                     {n: os.urandom(24) for n in files}, prof)
json.dump(doc, open(sys.argv[4], "w"))
print(key.hex())
PY
)
check "a bundle with a combined external PEM in its profile: held, max-fetches 1" bash -c \
	"curl -sf --unix-socket '$ADMIN' -X PUT --data-binary @'$T/combined.json' 'http://x/v1/bundle?maxFetches=1' >/dev/null"
fetches() { "$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["fetches"])'; }
for dry in --dry-run ""; do
	expect_exit 2 "join${dry:+ $dry}: the profile's external paths are one file: refused before the fetch" \
		"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --certificate-key "$PYKEY" \
		--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/xj/pki" $dry
	check "... says which, from the profile, and what to do" err_has "the cluster profile's external etcd certFile and keyFile name the same file ($T/joiner-etcd/client.pem; a combined PEM?).*--external-etcd-cert.*nothing was fetched or written"
	check "... no fetch counted, nothing written" bash -c "[ '$(fetches)' = 0 ] && [ ! -e '$T/xj' ] && [ ! -e '$T/joiner-etcd' ]"
done
# With destinations of its own the join goes on; the certificate entry that holds a key
# is written 0600, never readable by others.
expect_exit 0 "join with its own external destinations" "$PKISHARE" join --server "$SERVER" \
	--ca-cert-hash "$PIN" --certificate-key "$PYKEY" --cert "$R/clients/node-2.crt" \
	--key "$R/clients/node-2.key" --pki-dir "$T/xk/pki" --external-etcd-ca "$T/xk/etcd/ca.crt" \
	--external-etcd-cert "$T/xk/etcd/client.crt" --external-etcd-key "$T/xk/etcd/client.key"
check "... the certificate file holding a private key is 0600, not 0644" bash -c \
	"cmp -s '$T/etcd/client.pem' '$T/xk/etcd/client.crt' && [ \$(stat -c %a '$T/xk/etcd/client.crt') = 600 ] && [ \$(stat -c %a '$T/xk/etcd/ca.crt') = 644 ]"
# A file already at a destination that will hold a private key, readable by group or
# others, is refused by the plan before the fetch, by --dry-run too, naming the file and
# the mode (outside review: a 0644 external keyFile, or ca.key in --pki-dir, with the right
# bytes passed --dry-run, then the real join spent the only fetch and said "different").
mkdir -p "$T/km"
cp "$R/pki/etcd/ca.crt" "$T/km/ca.crt"; cp "$R/clients/node-2.crt" "$T/km/client.crt"
cp "$R/clients/node-2.key" "$T/km/client.key"; chmod 600 "$T/km/client.key"
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\netcd:\n  external:\n    endpoints: ["https://10.0.0.5:2379"]\n    caFile: %s\n    certFile: %s\n    keyFile: %s\n' \
	"$T/km/ca.crt" "$T/km/client.crt" "$T/km/client.key" >"$T/km.yaml"
upload "$R/pki" --config "$T/km.yaml" --max-fetches 1
join_km() { # join_km PKIDIR [args]
	local d=$1; shift
	"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --certificate-key "$KEY" \
		--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$d" "$@"
}
chmod 644 "$T/km/client.key"
KM_BEFORE=$(tree_sum "$T/km")
for dry in --dry-run ""; do
	expect_exit 10 "join${dry:+ $dry}: the profile's keyFile is there 0644: refused before the fetch" \
		join_km "$T/kj/pki" $dry
	check "... names the file, the mode and what to do" err_has "keyFile $T/km/client.key is already there and readable by group or others.*chmod 600 $T/km/client.key.*--force.*nothing was fetched or written"
	check "... no fetch counted, nothing written" bash -c "[ '$(fetches)' = 0 ] && [ ! -e '$T/kj' ] && [ '$(tree_sum "$T/km")' = '$KM_BEFORE' ]"
done
chmod 600 "$T/km/client.key"
mkdir -p "$T/kp"; cp -a "$R/pki" "$T/kp/pki"; chmod 644 "$T/kp/pki/ca.key"
KP_BEFORE=$(tree_sum "$T/kp") KM_BEFORE=$(tree_sum "$T/km")
for dry in --dry-run ""; do
	expect_exit 10 "join${dry:+ $dry}: ca.key is there 0644 in --pki-dir: refused before the fetch" \
		join_km "$T/kp/pki" $dry
	check "... names it and the cause, not 'different contents'" bash -c "grep -q '(ca.key)' '$T/last.err' && grep -q 'readable by group or others' '$T/last.err' && grep -q 'nothing was fetched' '$T/last.err' && ! grep -q 'different' '$T/last.err'"
	check "... no fetch counted, nothing written" bash -c "[ '$(fetches)' = 0 ] && [ '$(tree_sum "$T/kp")' = '$KP_BEFORE' ] && [ '$(tree_sum "$T/km")' = '$KM_BEFORE' ]"
done
# --force replaces them with the bundle's copies, written 0600 (the one fetch is spent).
chmod 640 "$T/km/client.key"
expect_exit 0 "join --force: the readable keys are replaced" join_km "$T/kp/pki" --force
check "... ca.key and the external key are 0600 with the same bytes" bash -c \
	"[ \$(stat -c %a '$T/kp/pki/ca.key') = 600 ] && [ \$(stat -c %a '$T/km/client.key') = 600 ] && cmp -s '$R/pki/ca.key' '$T/kp/pki/ca.key' && cmp -s '$R/clients/node-2.key' '$T/km/client.key'"
check "... with the bundle's one fetch" bash -c "grep -q 'Fetched the sealed bundle' '$T/last.out' && grep -q 'Installed external-etcd.key at $T/km/client.key' '$T/last.out'"
# A re-upload without --config (and no profile kept in --pki-dir) would silently drop the
# profile the held bundle carries, and the next joiners' API server certificates would lack
# the endpoint (review of issue 30, F5): refused, exit 2, nothing uploaded; --no-profile
# drops it on purpose, --config keeps it.
upload "$R/pki" --config "$T/v1beta4.yaml" --drop-external-etcd
held_id() { "$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; b=json.load(sys.stdin)["bundle"]; print(b["id"], json.dumps(b["profile"]))'; }
BEFORE=$(held_id)
expect_exit 2 "a re-upload without --config refuses to drop the held bundle's profile" \
	"$PKISHARE" upload-certs --pki-dir "$R/pki"
check "... says how to keep it or drop it" bash -c "grep -q 'carries a cluster profile' '$T/last.err' && grep -q -- '--config kubeadm.yaml to keep it' '$T/last.err' && grep -q -- '--no-profile to drop it' '$T/last.err'"
check "... nothing was uploaded" [ "$(held_id)" = "$BEFORE" ]
expect_exit 0 "--config keeps it" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/v1beta4.yaml"
expect_exit 0 "--no-profile drops it" "$PKISHARE" upload-certs --pki-dir "$R/pki" --no-profile
check "... the held bundle has no profile" bash -c "'$PKISHARE' status -o json | /usr/bin/python3 -c 'import json,sys; assert json.load(sys.stdin)[\"bundle\"][\"profile\"] is None'"
expect_exit 0 "with no profile held, an upload without --config goes on" "$PKISHARE" upload-certs --pki-dir "$R/pki"
finish
