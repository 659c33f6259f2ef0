#!/bin/bash
# An operator's kubeadm habits carry over: Go durations (1h30m0s, 1.5h) wherever a
# duration is taken, a pasted key trimmed of blanks and line endings (blanks inside named),
# a hint when a kubeadm bootstrap token is tried, unknown fields of a kubeadm configuration
# warned with FILE:LINE, certificateKey in an InitConfiguration refused with a reason, and
# upload-certs --pki-dir /etc/kubernetes asks whether /etc/kubernetes/pki was meant.
. "$(dirname "$0")/lib.sh"
R=$T/r
make_pki "$R"
start_daemon "$R" --max-ttl 25h0m0s --enroll-ttl 0.25h
check "pkishared takes Go durations (--max-ttl 25h0m0s, --enroll-ttl 0.25h)" grep -q "max TTL 90000s" "$DAEMON_LOG"
expires_in() { "$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["expiresInSeconds"])'; }
upload "$R/pki" --ttl 1h30m0s
S=$(expires_in)
check "upload-certs --ttl 1h30m0s: 5400 s ($S)" bash -c "[ $S -gt 5390 ] && [ $S -le 5400 ]"
upload "$R/pki" --ttl 1.5h
S=$(expires_in)
check "upload-certs --ttl 1.5h: 5400 s ($S)" bash -c "[ $S -gt 5390 ] && [ $S -le 5400 ]"
# kubeadm's /etc/kubernetes where its /etc/kubernetes/pki is meant (review of issue 30).
expect_exit 1 "upload-certs --pki-dir of the PKI directory's parent" "$PKISHARE" upload-certs --pki-dir "$R"
check "... asks whether the PKI directory below was meant" err_has "missing ($R/ca.crt); did you mean --pki-dir $R/pki? (its ca.crt is there)"
expect_exit 1 "upload-certs --pki-dir of a directory without a PKI below" "$PKISHARE" upload-certs --pki-dir "$R/clients"
check "... gets no such question" bash -c "! grep -q 'did you mean' '$T/last.err'"
expect_exit 0 "token create --ttl 1h30m0s" "$PKISHARE" token create --ttl 1h30m0s
expect_exit 2 "--ttl 0 (kubeadm's never) is refused" "$PKISHARE" token create --ttl 0
check "... saying why" err_has "kubeadm's 0, never, is not taken"

PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
J=(join --server "$SERVER" --ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key")
expect_exit 0 "a pasted key with blanks and a line ending around it" "$PKISHARE" "${J[@]}" \
	--certificate-key "  $KEY"$'\r\n' --pki-dir "$T/a/pki"
check "... installs the bundle" diff -r -x pkishare-joined.json "$R/pki" "$T/a/pki"
printf ' %s\r\n' "$KEY" >"$T/key.txt"
expect_exit 0 "a key from standard input with CRLF" "$PKISHARE" "${J[@]}" --certificate-key - \
	--pki-dir "$T/a/pki" <"$T/key.txt"
printf '\n\r\n \t%s\r\n' "$KEY" >"$T/key-blank.txt"
expect_exit 0 "a key from standard input after blank lines and a CRLF" "$PKISHARE" "${J[@]}" \
	--certificate-key - --pki-dir "$T/a/pki" <"$T/key-blank.txt"
curl_fetch "$R" node-2 >"$T/bundle-blank.json"
expect_exit 0 "... and so does decrypt's --certificate-key -" bash -c "'$PKISHARE' decrypt \
	--certificate-key - --pki-dir '$T/a/pki' '$T/bundle-blank.json' <'$T/key-blank.txt'"
printf '\n\n' >"$T/key-none.txt"
expect_exit 2 "blank lines and no key on standard input: still refused" "$PKISHARE" "${J[@]}" \
	--certificate-key - --pki-dir "$T/b/pki" <"$T/key-none.txt"
expect_exit 2 "a key with a blank inside" "$PKISHARE" "${J[@]}" \
	--certificate-key "${KEY:0:32} ${KEY:32}" --pki-dir "$T/b/pki"
check "... names the blank and where" err_has "character 33 is a space inside the key"

# A kubeadm bootstrap token has our tokens' form: say so.
expect_exit 7 "a kubeadm bootstrap token" "$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" \
	--certificate-key "$KEY" --token abcdef.0123456789abcdef --pki-dir "$T/b/pki"
check "... gets a hint that it may be kubeadm's" err_has "hint: a kubeadm bootstrap token"
check "... nothing written" [ ! -e "$T/b" ]

# kubeadm join's own flags: refused with what to use (not taken by getopt as an
# abbreviation: --discovery-token would otherwise be --discovery-token-ca-cert-hash).
expect_exit 2 "kubeadm's --discovery-token" "$PKISHARE" join --server "$SERVER" --discovery-token abcdef.0123456789abcdef \
	--ca-cert-hash "$PIN" --certificate-key "$KEY" --pki-dir "$T/b/pki"
check "... says it is kubeadm's and what pkishare takes" err_has "discovery-token is kubeadm join's, not pkishare join's; pkishare join takes --token"
expect_exit 2 "kubeadm's --apiserver-advertise-address" "$PKISHARE" "${J[@]}" --certificate-key "$KEY" \
	--apiserver-advertise-address=10.0.0.2 --pki-dir "$T/b/pki"
check "... points to --advertise-address" err_has "pkishare join takes --advertise-address IP"
expect_exit 2 "kubeadm's --discovery-token-unsafe-skip-ca-verification" "$PKISHARE" "${J[@]}" --certificate-key "$KEY" \
	--discovery-token-unsafe-skip-ca-verification --pki-dir "$T/b/pki"
check "... says the server is always verified" err_has "pkishare always verifies the server"
check "... nothing written by any of them" [ ! -e "$T/b" ]

# Unknown fields of a kubeadm configuration: warned with FILE:LINE, as kubeadm warns.
cat >"$T/kubeadm.yaml" <<'YAML'
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
nodeRegistration:
  name: cp1
bootstrapTokenz: []
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
controlPlaneEndpoint: cp.example.com:6443
apiServer:
  certsans: [extra.example.com]
networking:
  serviceSubnet: 10.96.0.0/12
  dnsdomain: example.local
YAML
expect_exit 0 "upload-certs --config with misspelt fields" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/kubeadm.yaml"
check "... warns about the InitConfiguration field with FILE:LINE" err_has "kubeadm.yaml:5: unknown field 'bootstrapTokenz' in InitConfiguration; ignored"
check "... and a misspelt certSANs, with the field it differs from in case" err_has "kubeadm.yaml:11: unknown field 'certsans' in ClusterConfiguration.apiServer (did you mean 'certSANs'?); ignored"
check "... and a nested one" err_has "kubeadm.yaml:14: unknown field 'dnsdomain' in ClusterConfiguration.networking (did you mean 'dnsDomain'?)"

# certificateKey in an InitConfiguration: refused with a reason, nothing uploaded.
ID=$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')
cat >"$T/init.yaml" <<YAML
apiVersion: kubeadm.k8s.io/v1beta4
kind: InitConfiguration
certificateKey: $("$PKISHARE" certificate-key)
---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
controlPlaneEndpoint: cp.example.com:6443
YAML
expect_exit 2 "certificateKey in InitConfiguration" "$PKISHARE" upload-certs --pki-dir "$R/pki" --config "$T/init.yaml"
check "... refused with FILE:LINE and the reason" err_has "init.yaml:3: InitConfiguration.certificateKey is not taken from a configuration file: the key must not outlive its bundle"
check "... nothing was uploaded" bash -c "'$PKISHARE' status -o json | grep -q '$ID'"
# kubectl's -o=json form is taken as -o json (review of issue 30, low items).
expect_exit 0 "status -o=json" "$PKISHARE" status -o=json
check "... prints the JSON" /usr/bin/python3 -c "import json; json.load(open('$T/last.out'))"
expect_exit 0 "token list -o=json" "$PKISHARE" token list -o=json
check "... prints the JSON" /usr/bin/python3 -c "import json; json.load(open('$T/last.out'))"
finish
