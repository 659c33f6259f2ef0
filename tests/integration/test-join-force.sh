#!/bin/bash
# join --force into the PKI directory of another cluster (issue 30 P5), as the "CA of
# another cluster" message suggests: the old cluster's node certificates (signed by a CA
# the install replaces) are never kept silently. Without --advertise-address the join is
# refused before the fetch, naming them and what to do; decrypt --force refuses before it
# writes; with --advertise-address they are made anew in the same step, and the join says
# which ones it replaced. Every refusal leaves the directory as it was.
. "$(dirname "$0")/lib.sh"
R=$T/r
make_pki "$R"
start_daemon "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
upload "$R/pki" --max-fetches 10
join_into() { # join_into DIR [ARGS]
	local dir=$1; shift
	env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" join --server "$SERVER" \
		--ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
		--pki-dir "$dir" "$@"
}
fetches() { "$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["fetches"])'; }
# The node's directory from another cluster: its shared PKI and its node certificates.
"$PKISHARE" pki init --dir "$T/old" --node-name node-9 --address 10.0.0.19 --key-type ecdsa \
	--node-certs --advertise-address 10.0.0.19 >/dev/null
OLD=$T/old/pki
BEFORE=$(tree_sum "$OLD")

expect_exit 10 "join into another cluster's directory" join_into "$OLD"
check "... suggests --force" err_has "CA of another cluster"
F0=$(fetches); [ -n "$F0" ] || fail "status -o json gives no fetch count"
expect_exit 10 "join --force without --advertise-address: refused" join_into "$OLD" --force
check "... names the old node certificates" err_has "apiserver.crt"
check "... and what to do" err_has "\-\-advertise-address"
check "... before the fetch" [ "$(fetches)" = "$F0" ]
check "... the directory as it was" [ "$(tree_sum "$OLD")" = "$BEFORE" ]
expect_exit 10 "join --force --dry-run without --advertise-address: refused too" join_into "$OLD" --force --dry-run

curl_fetch "$R" node-3 >"$T/bundle.json"
expect_exit 10 "decrypt --force into it: refused" env PKISHARE_CERTIFICATE_KEY="$KEY" \
	"$PKISHARE" decrypt --force --pki-dir "$OLD" "$T/bundle.json"
check "... names the old node certificates" err_has "apiserver.crt"
check "... says how to make new ones" err_has "pki node-certs"
check "... the directory as it was" [ "$(tree_sum "$OLD")" = "$BEFORE" ]

expect_exit 0 "join --force --advertise-address: made anew" join_into "$OLD" --force \
	--node-name node-9 --advertise-address 10.0.0.19
check "... says which node certificates it replaced" grep -q "Replacing.*apiserver.crt.*signed by another CA" "$T/last.out"
check "the new apiserver.crt chains to the installed CA" openssl verify -CAfile "$OLD/ca.crt" "$OLD/apiserver.crt"
check "... and etcd/peer.crt to the installed etcd CA" openssl verify -CAfile "$OLD/etcd/ca.crt" "$OLD/etcd/peer.crt"
check "... front-proxy-client.crt to the front-proxy CA" openssl verify -CAfile "$OLD/front-proxy-ca.crt" "$OLD/front-proxy-client.crt"
check "the installed CA is this cluster's" cmp "$OLD/ca.crt" "$R/pki/ca.crt"
finish
