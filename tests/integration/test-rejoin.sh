#!/bin/bash
# A join run again, from the operator's side (outside review of issue 30). With a join
# token (an enrolled identity is new every time, so the daemon counts each fetch), a repeat
# while the same bundle is held spends no token use and no fetch: the install records the
# bundle (pkishare-joined.json, 0644) and the plan finds it. "Already joined" does not
# ignore --advertise-address: missing node certificates are made here from the CAs and the
# kept profile, as pki node-certs makes them; ones for another name are refused with the
# command that replaces them. It checks that the files are what they claim to be.
. "$(dirname "$0")/lib.sh"
R=$T/n1
make_pki "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
printf 'apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\ncontrolPlaneEndpoint: "k8s-api.example.test:6443"\napiServer:\n  certSANs: ["10.0.0.100"]\nencryptionAlgorithm: ECDSA-P256\n' >"$T/kubeadm.yaml"
start_daemon_token_only "$R"
fetches() { "$PKISHARE" status -o json | python3 -c 'import json,sys; b=json.load(sys.stdin)["bundle"]; print(b["fetches"] if b else "none")'; }
uses_left() { "$PKISHARE" token list -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["usesLeft"])'; }
join() { # join PKIDIR [args]
	local dir=$1; shift
	PKISHARE_TOKEN=$TOK PKISHARE_CERTIFICATE_KEY=$KEY "$PKISHARE" join --server "$SERVER" \
		--ca-cert-hash "$PIN" --pki-dir "$dir" --node-name cp-2 "$@"
}

# F2: a repeat join with a token spends nothing while the same bundle is held.
upload "$R/pki" --max-fetches 2 --config "$T/kubeadm.yaml"
TOK=$("$PKISHARE" token create --uses 3)
expect_exit 0 "cp-2 joins with a token" join "$T/cp2/pki"
check "... the install records the bundle" grep -q "\"bundleId\": \"$(grep -o 'bundle [0-9a-f]*' "$T/upload.out" | head -1 | cut -d' ' -f2)\"" "$T/cp2/pki/pkishare-joined.json"
check "... with the pin" grep -q "\"caCertHash\": \"$PIN\"" "$T/cp2/pki/pkishare-joined.json"
check "... readable by all (public metadata, 0644)" [ "$(stat -c %a "$T/cp2/pki/pkishare-joined.json")" = 644 ]
check "one fetch counted" [ "$(fetches)" = 1 ]
check "one token use spent" [ "$(uses_left)" = 2 ]
BEFORE=$(tree_sum "$T/cp2/pki")
expect_exit 0 "the same join again" join "$T/cp2/pki"
check "... says already joined with the bundle, nothing fetched, no token use spent" bash -c \
	"grep -q 'Already joined with bundle [0-9a-f]* at .*nothing was fetched and no token use was spent' '$T/last.out'"
check "... enrolled nothing, fetched nothing" bash -c "! grep -q -e Enrolled -e Fetched '$T/last.out'"
check "... no fetch counted" [ "$(fetches)" = 1 ]
check "... no token use spent" [ "$(uses_left)" = 2 ]
check "... nothing changed" [ "$(tree_sum "$T/cp2/pki")" = "$BEFORE" ]

# F3: run again with --advertise-address: the node certificates are made here.
expect_exit 0 "the same join with --advertise-address makes the node certificates" \
	join "$T/cp2/pki" --advertise-address 10.0.0.12
check "... from the kept profile, said" grep -q "Cluster profile: $T/cp2/pki/pkishare-profile.json" "$T/last.out"
check "... saying so, and not 'nothing was changed'" bash -c \
	"grep -q \"Already joined.*this node's certificates were made here\" '$T/last.out' && ! grep -q 'nothing was changed' '$T/last.out'"
check "... apiserver.crt made with the profile's endpoint and the address" bash -c \
	"openssl x509 -in '$T/cp2/pki/apiserver.crt' -noout -ext subjectAltName | grep -q 'DNS:k8s-api.example.test.*IP Address:10.0.0.12'"
check "... signed by the cluster CA" openssl verify -CAfile "$R/pki/ca.crt" "$T/cp2/pki/apiserver.crt"
check "... no fetch, no token use" bash -c "[ '$(fetches)' = 1 ] && [ '$(uses_left)' = 2 ]"
BEFORE=$(tree_sum "$T/cp2/pki")
expect_exit 10 "again for another address: refused" join "$T/cp2/pki" --advertise-address 10.0.0.99
check "... naming the exact pki node-certs command" err_has \
	"pkishare pki node-certs --pki-dir $T/cp2/pki --node-name cp-2 --advertise-address 10.0.0.99 --force"
check "... changing nothing" [ "$(tree_sum "$T/cp2/pki")" = "$BEFORE" ]

# The bundle used up (the 404 path) and asked for node certificates: made, not ignored.
"$PKISHARE" delete-certs >/dev/null
expect_exit 0 "node certificates asked for after the bundle is gone (a fresh target copy)" bash -c \
	"cp -a '$T/cp2' '$T/cp2b' && rm -f '$T/cp2b/pki/apiserver'* '$T/cp2b/pki/etcd/peer'* &&
	 PKISHARE_TOKEN=$TOK PKISHARE_CERTIFICATE_KEY=$KEY '$PKISHARE' join --server '$SERVER' \
	 --ca-cert-hash '$PIN' --pki-dir '$T/cp2b/pki' --node-name cp-2 --advertise-address 10.0.0.12"
check "... the missing ones made" bash -c "[ -s '$T/cp2b/pki/apiserver.crt' ] && [ -s '$T/cp2b/pki/etcd/peer.crt' ]"
check "... saying the bundle is gone and the certificates were made here" \
	grep -q "Already joined: .*holds no bundle now (deleted).*certificates were made here" "$T/last.out"

# Files that are not what they claim are not a completed join.
echo "not a key" >"$T/cp2b/pki/sa.key"
expect_exit 5 "a sa.key that is not a key is not 'Already joined'" join "$T/cp2b/pki"
check "... said" err_has "sa.key is not a private key: not taken as a completed join"
finish
