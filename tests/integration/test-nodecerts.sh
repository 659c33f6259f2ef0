#!/bin/bash
# Node certificates as kubeadm makes and checks them: the control-plane endpoint (an IPv6
# one as an IP SAN), extra API server and etcd SANs, the service CIDR's first address
# from its network address, the cluster's encryption algorithm for every leaf, the
# lower-cased host name as default node name; certificates already present are checked
# (key, chain to the CA, SANs) and a mismatch is refused with the file and the reason.
. "$(dirname "$0")/lib.sh"
R=$T/r
make_pki "$R"
P=$R/pki
sans() { openssl x509 -in "$1" -noout -ext subjectAltName | tail -n +2 | tr -d ' ' | tr ',' '\n' | sort; }

"$PKISHARE" pki node-certs --pki-dir "$P" --node-name cp-2 --advertise-address fd00::12 \
	--control-plane-endpoint '[fd00::10]:6443' --service-cidr 10.96.0.5/12 \
	--apiserver-cert-extra-sans cp.example.com,10.0.0.100 \
	--etcd-server-cert-extra-sans etcd.example.com --etcd-peer-cert-extra-sans peer.example.com,fd00::99 \
	--encryption-algorithm ECDSA-P384 >"$T/nc.out"
sans "$P/apiserver.crt" >"$T/api.sans"
check "apiserver: the IPv6 endpoint is an IP SAN" grep -qx "IPAddress:FD00:0:0:0:0:0:0:10" "$T/api.sans"
check "apiserver: no DNS SAN made of an endpoint with port" bash -c "! grep -q '\[' '$T/api.sans'"
check "apiserver: the service CIDR's first address from its network address" grep -qx "IPAddress:10.96.0.1" "$T/api.sans"
check "apiserver: the extra DNS SAN" grep -qx "DNS:cp.example.com" "$T/api.sans"
check "apiserver: the extra IP SAN" grep -qx "IPAddress:10.0.0.100" "$T/api.sans"
check "apiserver: the IPv6 advertise address" grep -qx "IPAddress:FD00:0:0:0:0:0:0:12" "$T/api.sans"
check "etcd/server: its extra SAN, not the peer's" bash -c "sans() { openssl x509 -in \"\$1\" -noout -ext subjectAltName; }; sans '$P/etcd/server.crt' | grep -q etcd.example.com && ! sans '$P/etcd/server.crt' | grep -q peer.example.com"
check "etcd/peer: its extra SANs" bash -c "openssl x509 -in '$P/etcd/peer.crt' -noout -ext subjectAltName | grep -q 'peer.example.com.*FD00:0:0:0:0:0:0:99'"
for f in apiserver apiserver-kubelet-client front-proxy-client apiserver-etcd-client etcd/server etcd/peer etcd/healthcheck-client; do
	check "$f: an ECDSA P-384 key (--encryption-algorithm ECDSA-P384)" bash -c "openssl pkey -in '$P/$f.key' -noout -text | head -1 | grep -q '384 bit' && openssl pkey -in '$P/$f.key' -noout -text | grep -q 'secp384r1'"
done

# Checked as kubeadm checks them: the same settings keep them, others are refused.
expect_exit 0 "the same settings: every certificate checked and kept" "$PKISHARE" pki node-certs \
	--pki-dir "$P" --node-name cp-2 --advertise-address fd00::12 --control-plane-endpoint '[fd00::10]:6443' \
	--service-cidr 10.96.0.0/12 --apiserver-cert-extra-sans cp.example.com,10.0.0.100 \
	--etcd-server-cert-extra-sans etcd.example.com --etcd-peer-cert-extra-sans peer.example.com,fd00::99
check "... says so" grep -q "0 generated, 7 already present, checked and kept" "$T/last.out"
BEFORE=$(tree_sum "$P")
expect_exit 10 "another endpoint: refused" "$PKISHARE" pki node-certs --pki-dir "$P" --node-name cp-2 \
	--advertise-address fd00::12 --control-plane-endpoint cp.other.example:6443
check "... naming the file and the missing SAN" err_has "apiserver.crt is already there and kubeadm would refuse it: its SANs lack the DNS name cp.other.example"
check "... and nothing changed" [ "$(tree_sum "$P")" = "$BEFORE" ]
expect_exit 10 "another node's address: refused" "$PKISHARE" pki node-certs --pki-dir "$P" --node-name cp-2 \
	--advertise-address 10.0.0.2
check "... naming the address" err_has "lack the IP address 10.0.0.2"
make_pki "$T/other"
cp "$T/other/pki/ca.crt" "$T/other-ca.crt"
"$PKISHARE" pki node-certs --pki-dir "$T/other/pki" --node-name cp-2 --advertise-address fd00::12 >/dev/null
cp "$T/other/pki/front-proxy-client.crt" "$T/other/pki/front-proxy-client.key" "$P/"
expect_exit 10 "a node certificate from another CA: refused" "$PKISHARE" pki node-certs --pki-dir "$P" \
	--node-name cp-2 --advertise-address fd00::12 --control-plane-endpoint '[fd00::10]:6443'
check "... saying so" err_has "front-proxy-client.crt is already there and kubeadm would refuse it: it is not signed by this cluster's CA"
cp "$T/other/pki/apiserver-kubelet-client.key" "$P/apiserver-kubelet-client.key"
expect_exit 10 "a key that is not the certificate's: refused" "$PKISHARE" pki node-certs --pki-dir "$P" \
	--node-name cp-2 --advertise-address fd00::12 --control-plane-endpoint '[fd00::10]:6443'
check "... saying so" err_has "apiserver-kubelet-client.key is not the key of apiserver-kubelet-client.crt"
expect_exit 0 "--force makes new ones" "$PKISHARE" pki node-certs --pki-dir "$P" --node-name cp-2 \
	--advertise-address fd00::12 --control-plane-endpoint '[fd00::10]:6443' --force
check "... now signed by this CA" openssl verify -CAfile "$P/front-proxy-ca.crt" "$P/front-proxy-client.crt"

# Usage errors change nothing.
BEFORE=$(tree_sum "$P")
expect_exit 2 "an upper-case node name: refused as kubeadm refuses it" "$PKISHARE" pki node-certs \
	--pki-dir "$P" --node-name CP-2 --advertise-address 10.0.0.2
check "... saying why" err_has "kubeadm accepts only lower-case node names"
expect_exit 2 "an unknown encryption algorithm" "$PKISHARE" pki node-certs --pki-dir "$P" \
	--node-name cp-2 --advertise-address 10.0.0.2 --encryption-algorithm DSA
check "... naming kubeadm's" err_has "RSA-2048, RSA-3072, RSA-4096, ECDSA-P256 or ECDSA-P384"
expect_exit 2 "a malformed endpoint" "$PKISHARE" pki node-certs --pki-dir "$P" --node-name cp-2 \
	--advertise-address 10.0.0.2 --control-plane-endpoint '[fd00::10'
expect_exit 2 "a malformed service CIDR" "$PKISHARE" pki node-certs --pki-dir "$P" --node-name cp-2 \
	--advertise-address 10.0.0.2 --service-cidr 10.96.0.0/40
expect_exit 2 "a SAN that would add another SAN (IP:...)" "$PKISHARE" pki node-certs --pki-dir "$P" \
	--node-name cp-2 --advertise-address 10.0.0.2 --apiserver-cert-extra-sans 'ok.example.com,IP:9.9.9.9'
check "... is refused by name" err_has "'IP:9.9.9.9' is neither an IP address nor a DNS name"
check "usage errors changed nothing" [ "$(tree_sum "$P")" = "$BEFORE" ]

# An IPv6 service CIDR with host bits.
make_pki "$T/v6"
"$PKISHARE" pki node-certs --pki-dir "$T/v6/pki" --node-name cp-3 --advertise-address fd00::13 \
	--service-cidr fd00:10:96::1234/112 >/dev/null
check "IPv6 service CIDR: first address of the network" bash -c "openssl x509 -in '$T/v6/pki/apiserver.crt' -noout -ext subjectAltName | grep -q 'FD00:10:96:0:0:0:0:1\b'"

# pki init --encryption-algorithm: the CAs, the service-account key and the node
# certificates of that algorithm, as kubeadm v1beta4 makes them; such a PKI travels.
"$PKISHARE" pki init --dir "$T/p384" --node-name node-1 --address 127.0.0.1 \
	--encryption-algorithm ECDSA-P384 --node-certs >/dev/null
for f in ca front-proxy-ca etcd/ca sa apiserver etcd/peer; do
	check "pki init --encryption-algorithm ECDSA-P384: $f.key is P-384" bash -c "openssl pkey -in '$T/p384/pki/$f.key' -noout -text | grep -q secp384r1"
done
"$PKISHARE" export --format kubeadm-secret --pki-dir "$T/p384/pki" --certificate-key \
	0000000000000000000000000000000000000000000000000000000000000001 --secret-only >"$T/p384.json"
expect_exit 0 "an all-ECDSA PKI travels (export, decrypt: every key checked against its pair)" \
	"$PKISHARE" decrypt --format kubeadm-secret --certificate-key \
	0000000000000000000000000000000000000000000000000000000000000001 --pki-dir "$T/p384-copy/pki" "$T/p384.json"

# The default node name is the host name, lower-cased as kubeadm does (a UTS namespace).
if unshare -u true 2>/dev/null; then
	make_pki "$T/h"
	unshare -u sh -c "hostname CP-Upper-4 && '$PKISHARE' pki node-certs --pki-dir '$T/h/pki' --advertise-address 10.0.0.4" >/dev/null
	check "default node name: the host name, lower-cased" bash -c "openssl x509 -in '$T/h/pki/etcd/server.crt' -noout -subject | grep -q 'CN *= *cp-upper-4'"
fi

# The client signs node certificates with the CA keys and generates node keys: OpenSSL
# must keep them in its secure heap (locked, not dumped), set up before any key is read.
# pkishare decrypt - waits for the bundle on stdin after start-up: look at its mappings
# then. The heap is SECRET_OPENSSL_HEAP_BYTES (256 KiB) of locked, never-dumped memory.
mkfifo "$T/hold"
"$PKISHARE" decrypt --certificate-key "$("$PKISHARE" certificate-key)" --pki-dir "$T/d/pki" - \
	<"$T/hold" >/dev/null 2>&1 &
CPID=$!
exec 9>"$T/hold"
for _ in $(seq 1 50); do
	[[ "$(cat /proc/$CPID/wchan 2>/dev/null)" == *pipe_read ]] && break
	sleep 0.05
done
check "pkishare has OpenSSL's secure heap: 256 KiB locked and not dumped" /usr/bin/python3 - "$CPID" <<'PY'
import re, sys
size = flags = None
found = False
for line in open("/proc/%s/smaps" % sys.argv[1]):
    m = re.match(r"Size:\s+(\d+) kB", line)
    if m:
        size = int(m.group(1))
    if line.startswith("VmFlags:"):
        f = line.split()[1:]
        if size == 256 and "lo" in f and "dd" in f:
            found = True
sys.exit(0 if found else 1)
PY
exec 9>&-
wait "$CPID" 2>/dev/null || true
finish
