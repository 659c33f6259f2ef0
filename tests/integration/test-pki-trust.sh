#!/bin/bash
# The PKI a joining node installs is the pinned cluster's, and its keys are its
# certificates' (review of issue 30, F1-F3): upload-certs refuses a PKI whose ca.crt is not
# the CA pkishared serves under, a CA or service-account key of another pair, and a PKI
# without the etcd CA unless etcd is external (--no-etcd-ca to upload it anyway); join
# and decrypt refuse a bundle (uploaded past those checks) whose keys are not their
# certificates' pairs, and join one whose ca.crt is not its --ca-cert-hash, before anything
# is written; pki node-certs, serving-cert and client-cert refuse a CA key that is not
# their CA's; a bundle without the etcd CA is said as that, not as "install the PKI first".
. "$(dirname "$0")/lib.sh"
C1=$T/c1
C2=$T/c2
make_pki "$C1" --client node-2
make_pki "$C2" --client node-2 --client node-3
start_daemon "$C2"
PIN2=$("$PKISHARE" pki ca-cert-hash "$C2/pki/ca.crt")
held() { "$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; b=json.load(sys.stdin)["bundle"]; print(b["id"] if b else "none")'; }
# put DIR: seal DIR with the independent sealer and hand it to pkishared as it is (past
# upload-certs' checks, as an older pkishare or a hand-made upload would); sets KEY.
put() {
	KEY=$("$PKISHARE" certificate-key)
	/usr/bin/python3 "$PROTO_DIR/pkishare_seal.py" seal "$KEY" "$1" 600 >"$T/put.json"
	curl -sS -o /dev/null -w '%{http_code}' --unix-socket "$ADMIN" -X PUT \
		--data-binary @"$T/put.json" "http://localhost/v1/bundle?maxFetches=0" | grep -q 201
}
join2() { # join2 PKIDIR [args]: node-2 of cluster c2, pinned to c2
	local dir=$1; shift
	"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN2" --certificate-key "$KEY" \
		--cert "$C2/clients/node-2.crt" --key "$C2/clients/node-2.key" --pki-dir "$dir" "$@"
}

# F1: pkishared serves with c2's chain; c1's PKI is another cluster's.
expect_exit 2 "upload-certs of another cluster's PKI is refused" "$PKISHARE" upload-certs --pki-dir "$C1/pki"
check "... saying ca.crt is not the CA of the serving chain, with both pins" \
	bash -c "grep -q 'is not the CA of pkishared.s serving chain' '$T/last.err' && grep -q '$PIN2' '$T/last.err'"
check "... and nothing was uploaded" [ "$(held)" = none ]
check "c1's bundle handed over past upload-certs" put "$C1/pki"
expect_exit 9 "join pinned to c2 refuses a bundle carrying c1's CA" join2 "$T/j1/pki"
check "... saying the bundle's CA is not the pinned cluster's" err_has "not the pinned cluster's"
check "... and nothing was written" [ ! -e "$T/j1" ]

# F2: a CA key of another cluster.
mkdir -p "$T/bad"
cp -a "$C2/pki" "$T/bad/"
cp "$C1/pki/ca.key" "$T/bad/pki/ca.key"
H=$(held)
expect_exit 1 "upload-certs refuses a ca.key that is not ca.crt's" "$PKISHARE" upload-certs --pki-dir "$T/bad/pki"
check "... naming the files" err_has "ca.key is not the private key of ca.crt"
check "... and nothing was uploaded" [ "$(held)" = "$H" ]
cp -a "$C2/pki" "$T/bad2"
cp "$C1/pki/etcd/ca.key" "$T/bad2/etcd/ca.key"
expect_exit 1 "upload-certs refuses an etcd/ca.key of another CA" "$PKISHARE" upload-certs --pki-dir "$T/bad2"
check "... naming it" err_has "etcd/ca.key is not the private key of etcd/ca.crt"
cp -a "$C2/pki" "$T/bad3"
cp "$C1/pki/sa.pub" "$T/bad3/sa.pub"
expect_exit 1 "upload-certs refuses sa.key and sa.pub that are not a pair" "$PKISHARE" upload-certs --pki-dir "$T/bad3"
check "... naming them" err_has "sa.key is not the private key of sa.pub"
check "the bad PKI handed over past upload-certs" put "$T/bad/pki"
expect_exit 1 "join refuses a bundle whose ca.key is not ca.crt's" join2 "$T/j2/pki" \
	--node-name n2 --advertise-address 10.0.0.2
check "... naming the file" err_has "ca.key is not the private key of ca.crt"
check "... and nothing was written" [ ! -e "$T/j2" ]
expect_exit 1 "decrypt refuses it too" "$PKISHARE" decrypt --certificate-key "$KEY" \
	--pki-dir "$T/d2/pki" "$T/put.json"
check "... naming the file, nothing written" bash -c "grep -q 'ca.key is not the private key of ca.crt' '$T/last.err' && [ ! -e '$T/d2' ]"
expect_exit 1 "pki node-certs refuses a CA key that is not its CA's" "$PKISHARE" pki node-certs \
	--pki-dir "$T/bad/pki" --node-name n2 --advertise-address 10.0.0.2
check "... naming it, no certificate made" bash -c "grep -q 'not the key of ca.crt' '$T/last.err' && [ ! -e '$T/bad/pki/apiserver.crt' ]"
expect_exit 1 "pki serving-cert refuses it" "$PKISHARE" pki serving-cert --pki-dir "$T/bad/pki" --out "$T/srv"
check "... naming it, nothing written" bash -c "grep -q 'ca.key is not the private key of' '$T/last.err' && [ ! -e '$T/srv' ]"
mkdir -p "$T/idca"
"$PKISHARE" pki client-ca --out "$T/idca" >/dev/null
"$PKISHARE" pki client-ca --out "$T/idca2" >/dev/null
cp "$T/idca2/ca.key" "$T/idca/ca.key"
expect_exit 1 "pki client-cert refuses a node-identity CA key of another CA" "$PKISHARE" pki client-cert \
	--ca-dir "$T/idca" --node-name n9 --out "$T/cc"
check "... nothing written" bash -c "grep -q 'ca.key is not the private key of' '$T/last.err' && [ ! -e '$T/cc' ]"

# F3: no etcd CA and no external etcd.
cp -a "$C2/pki" "$T/noetcd"
rm -r "$T/noetcd/etcd"
H=$(held)
expect_exit 2 "upload-certs refuses a PKI without the etcd CA when etcd is not external" \
	"$PKISHARE" upload-certs --pki-dir "$T/noetcd"
check "... saying what to pass" bash -c "grep -q 'holds no etcd CA' '$T/last.err' && grep -q -- '--config kubeadm.yaml' '$T/last.err' && grep -q -- '--no-etcd-ca' '$T/last.err'"
check "... nothing uploaded" [ "$(held)" = "$H" ]
expect_exit 0 "--no-etcd-ca uploads it" "$PKISHARE" upload-certs --pki-dir "$T/noetcd" --no-etcd-ca
KEY=$(tail -1 "$T/last.out")
expect_exit 1 "join with node certificates from a bundle without the etcd CA: refused" \
	join2 "$T/j3/pki" --node-name n2 --advertise-address 10.0.0.2
check "... saying the bundle holds no etcd CA and what to do" \
	bash -c "grep -q 'the bundle holds no etcd CA' '$T/last.err' && grep -q 'etcd.external' '$T/last.err'"
check "... not 'install the shared PKI first'" bash -c "! grep -q 'install the shared PKI first' '$T/last.err'"
check "... nothing written" [ ! -e "$T/j3" ]

# The cluster's own PKI still goes through, and joins.
upload "$C2/pki"
expect_exit 0 "the cluster's own PKI uploads and joins" join2 "$T/ok/pki" --node-name n2 --advertise-address 10.0.0.2
finish
