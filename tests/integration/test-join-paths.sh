#!/bin/bash
# Both documented join paths give the same node (issue 30 P1): after `upload-certs
# --config kubeadm.yaml`, `pkishare join --advertise-address A` and the README's curl path
# (`curl ... | pkishare decrypt`, then `pkishare pki node-certs --advertise-address A`)
# make node certificates with the same SANs, the sealed profile's endpoint and certSANs
# included: decrypt keeps the profile in the PKI directory (root-only) and pki node-certs
# says which profile it used.
. "$(dirname "$0")/lib.sh"
R=$T/r
make_pki "$R"
start_daemon "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
cat >"$T/kubeadm.yaml" <<'YAML'
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
controlPlaneEndpoint: cp.example.com:6443
apiServer:
  certSANs: [lb.example.com, 10.0.0.200]
etcd:
  local:
    serverCertSANs: [etcd.example.com]
    peerCertSANs: [peer.example.com]
networking:
  serviceSubnet: 10.97.0.0/16
  dnsDomain: corp.local
YAML
upload "$R/pki" --config "$T/kubeadm.yaml" --max-fetches 5

# Path 1: pkishare join, node certificates in the same step.
expect_exit 0 "pkishare join --advertise-address" env PKISHARE_CERTIFICATE_KEY="$KEY" \
	"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/a/pki" \
	--node-name node-9 --advertise-address 10.0.0.19

# Path 2: curl | decrypt, then pki node-certs (the README's three-node example).
curl_fetch "$R" node-3 | PKISHARE_CERTIFICATE_KEY=$KEY "$PKISHARE" decrypt \
	--pki-dir "$T/b/pki" >"$T/decrypt.out" 2>&1 || fail "decrypt: $(cat "$T/decrypt.out")"
check "decrypt keeps the sealed profile in the PKI directory" test -f "$T/b/pki/pkishare-profile.json"
check "... readable by its owner only" bash -c "[ \"\$(stat -c %a '$T/b/pki/pkishare-profile.json')\" = 600 ]"
expect_exit 0 "pki node-certs --advertise-address" "$PKISHARE" pki node-certs \
	--pki-dir "$T/b/pki" --node-name node-9 --advertise-address 10.0.0.19
check "pki node-certs says which profile it used" grep -q "Cluster profile: $T/b/pki/pkishare-profile.json" "$T/last.out"
check "... and what it holds" grep -q "endpoint cp.example.com:6443" "$T/last.out"

sans() { openssl x509 -in "$1" -noout -ext subjectAltName | tail -n +2 | tr -d ' ' | tr , '\n' | sort; }
for c in apiserver etcd/server etcd/peer; do
	check "$c: the same SANs on both paths" diff <(sans "$T/a/pki/$c.crt") <(sans "$T/b/pki/$c.crt")
done
check "the curl path's apiserver certificate names the control-plane endpoint" bash -c \
	"openssl x509 -in '$T/b/pki/apiserver.crt' -noout -ext subjectAltName | grep -q 'DNS:cp.example.com'"
check "... and the certSANs" bash -c \
	"openssl x509 -in '$T/b/pki/apiserver.crt' -noout -ext subjectAltName | grep -q 'DNS:lb.example.com.*IP Address:10.0.0.200\|IP Address:10.0.0.200.*DNS:lb.example.com'"
check "join keeps the same profile file" cmp "$T/a/pki/pkishare-profile.json" "$T/b/pki/pkishare-profile.json"

# A profile file another user could have written is not taken.
mkdir -p "$T/c" && cp -a "$T/b/pki" "$T/c/pki" && rm -f "$T/c/pki/apiserver."* 
chmod 0666 "$T/c/pki/pkishare-profile.json"
BEFORE=$(tree_sum "$T/c/pki")
expect_exit 1 "a profile file writable by others is refused" "$PKISHARE" pki node-certs \
	--pki-dir "$T/c/pki" --node-name node-9 --advertise-address 10.0.0.19
check "... saying why and what to do" err_has "pkishare-profile.json"
check "... nothing written" [ "$(tree_sum "$T/c/pki")" = "$BEFORE" ]

# A later bundle without a profile empties the kept one: never taken for this cluster's.
upload "$R/pki" --max-fetches 5 --no-profile
curl_fetch "$R" node-3 | PKISHARE_CERTIFICATE_KEY=$KEY "$PKISHARE" decrypt \
	--pki-dir "$T/b/pki" >"$T/decrypt2.out" 2>&1 || fail "decrypt (no profile): $(cat "$T/decrypt2.out")"
check "a bundle without a profile empties the kept one" grep -qx '{}' "$T/b/pki/pkishare-profile.json"
expect_exit 0 "pki node-certs --force after it" "$PKISHARE" pki node-certs --force \
	--pki-dir "$T/b/pki" --node-name node-9 --advertise-address 10.0.0.19
check "... says no profile is kept" grep -q "Cluster profile: none kept in" "$T/last.out"
check "... and the endpoint is gone from the API server certificate" bash -c \
	"! openssl x509 -in '$T/b/pki/apiserver.crt' -noout -ext subjectAltName | grep -q cp.example.com"

# No profile kept (a bundle without one): said, kubeadm's defaults.
make_pki "$T/r2"
rm -f "$T/r2/pki/apiserver."*
expect_exit 0 "pki node-certs without a kept profile" "$PKISHARE" pki node-certs \
	--pki-dir "$T/r2/pki" --node-name node-9 --advertise-address 10.0.0.19
check "... says it used kubeadm's defaults" grep -q "Cluster profile: none kept in" "$T/last.out"
finish
