#!/bin/bash
# The README's takeover ("If the first node is down"), as an operator who only has
# kubeadm runs it: a joined control-plane node serves in the first one's place, and its
# `upload-certs --pki-dir` (no --config) seals the cluster profile the join kept there
# (pkishare-profile.json), so the next joiner's node certificates still carry the
# control-plane endpoint, the certSANs and the algorithm; --config still wins, said.
# join names the profile it makes node certificates from. (Outside review of issue 30.)
. "$(dirname "$0")/lib.sh"
R=$T/n1
make_pki "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: "k8s-api.example.test:6443"\napiServer:\n  certSANs: ["10.0.0.100"]\nencryptionAlgorithm: ECDSA-P256\n' >"$T/kubeadm.yaml"
join_token() { # join_token PKIDIR NODE IP: a token-only join, as print-join-command prints it
	local tok
	tok=$("$PKISHARE" token create --uses 1)
	PKISHARE_TOKEN=$tok PKISHARE_CERTIFICATE_KEY=$KEY "$PKISHARE" join --server "$SERVER" \
		--ca-cert-hash "$PIN" --pki-dir "$1" --node-name "$2" --advertise-address "$3"
}
has_san() { openssl x509 -in "$1" -noout -ext subjectAltName | grep -q -- "$2"; }

start_daemon_token_only "$R"
upload "$R/pki" --config "$T/kubeadm.yaml"
expect_exit 0 "cp-2 joins from the first node" join_token "$T/cp2/pki" cp-2 10.0.0.12
check "... join names the profile its node certificates are made from" \
	grep -q "Cluster profile: sealed with bundle [0-9a-f]*: endpoint k8s-api.example.test:6443" "$T/last.out"
check "... the join kept the profile" [ -s "$T/cp2/pki/pkishare-profile.json" ]

# The first node is down: cp-2 serves in its place (README).
TOKN1=$("$PKISHARE" token create --uses 1)
stop_daemon
mkdir -p "$T/cp2srv"
"$PKISHARE" pki serving-cert --pki-dir "$T/cp2/pki" --out "$T/cp2srv/pkishared" \
	--node-name cp-2 --address 127.0.0.1 >/dev/null
start_daemon_token_only "$T/cp2srv"
expect_exit 0 "upload-certs on the joined node without --config" \
	"$PKISHARE" upload-certs --pki-dir "$T/cp2/pki"
KEY=$(tail -1 "$T/last.out")
check "... says it seals the profile the join kept" \
	grep -q "Cluster profile: from $T/cp2/pki/pkishare-profile.json (kept by the join)" "$T/last.out"
check "... and seals it" grep -q "Cluster profile for joining nodes' certificates: endpoint k8s-api.example.test:6443" "$T/last.out"
expect_exit 0 "cp-3 joins from the node that took over" join_token "$T/cp3/pki" cp-3 10.0.0.13
check "... its apiserver.crt has the control-plane endpoint" has_san "$T/cp3/pki/apiserver.crt" "DNS:k8s-api.example.test"
check "... and the certSANs" has_san "$T/cp3/pki/apiserver.crt" "IP Address:10.0.0.100"
check "... and the profile's algorithm (ECDSA)" bash -c \
	"openssl x509 -in '$T/cp3/pki/apiserver.crt' -noout -text | grep -q id-ecPublicKey"

# --config wins over the kept profile, and says so.
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: "other.example.test:6443"\n' >"$T/other.yaml"
expect_exit 0 "upload-certs --config on the joined node" \
	"$PKISHARE" upload-certs --pki-dir "$T/cp2/pki" --config "$T/other.yaml"
check "... says --config wins over the kept profile" \
	grep -q "Cluster profile: from --config $T/other.yaml (it wins over $T/cp2/pki/pkishare-profile.json" "$T/last.out"
check "... and seals the configuration's" grep -q "endpoint other.example.test:6443" "$T/last.out"

# A kept profile someone else could have written is refused, and nothing is uploaded.
BEFORE=$("$PKISHARE" status -o json | grep -o "\"id\": *\"[0-9a-f]*\"" | head -1)
chmod 0666 "$T/cp2/pki/pkishare-profile.json"
expect_exit 1 "a group- or world-writable kept profile is refused" \
	"$PKISHARE" upload-certs --pki-dir "$T/cp2/pki"
check "... saying why and what to do" bash -c "grep -q 'writable by group or others' '$T/last.err' && grep -q 'give the profile with --config' '$T/last.err'"
check "... and nothing was uploaded" [ "$("$PKISHARE" status -o json | grep -o "\"id\": *\"[0-9a-f]*\"" | head -1)" = "$BEFORE" ]

# A join command of the first node, run with the first --server down and the node that
# took over next: that pkishared has tokens of its own (review of issue 30, F8).
expect_exit 7 "the first node's token at the node that took over (second --server)" \
	env PKISHARE_TOKEN="$TOKN1" PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" join \
	--server 127.0.0.1:1 --server "$SERVER" --ca-cert-hash "$PIN" --pki-dir "$T/cp4/pki"
check "... says it may be another pkishared with its own tokens, and what to use" \
	bash -c "grep -q 'is not the first --server: it may be another pkishared' '$T/last.err' && grep -q 'print-join-command' '$T/last.err'"
check "... nothing written" [ ! -e "$T/cp4" ]
finish
