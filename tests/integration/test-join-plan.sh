#!/bin/bash
# A join is planned, then done: a dry run and a join refused before installing spend no
# fetch (--max-fetches counts identities that received the bundle; a re-run join of the
# same client-ca identity is not counted again), every input is checked before the fetch,
# and the node certificates go into the same atomic install as the shared PKI, so any
# refusal leaves the target exactly as it was and says truthfully what was done.
. "$(dirname "$0")/lib.sh"
R=$T/r
make_pki "$R" --client node-2 --client node-3 --client node-4
start_daemon "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
join_as() { # join_as CLIENT PKIDIR [args]
	local who=$1 dir=$2; shift 2
	"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --certificate-key "$KEY" \
		--cert "$R/clients/$who.crt" --key "$R/clients/$who.key" --pki-dir "$dir" "$@"
}

# --max-fetches 1: a dry run does not use the one fetch.
upload "$R/pki" --max-fetches 1
expect_exit 0 "dry run with --max-fetches 1" join_as node-2 "$T/dry/pki" --dry-run
check "... says nothing was fetched" grep -q "nothing was fetched or written" "$T/last.out"
check "... and names the bundle's key id as matching" grep -q "key id [0-9a-f]* matches" "$T/last.out"
check "... writes nothing" [ ! -e "$T/dry" ]
expect_exit 0 "the real join after the dry run still gets the bundle" join_as node-2 "$T/a/pki"
check "... byte-identical" diff -r "$R/pki" "$T/a/pki"

# --max-fetches 2 for two nodes: no mistake of the first locks the second out.
upload "$R/pki" --max-fetches 2
GOOD=$KEY
KEY=$("$PKISHARE" certificate-key)
expect_exit 4 "a wrong key: refused before the fetch" join_as node-2 "$T/b/pki"
check "... says the key is not the bundle's and nothing was fetched" \
	bash -c "grep -q 'is not the one bundle' '$T/last.err' && grep -q 'nothing was fetched or written' '$T/last.err'"
KEY=$GOOD
: >"$T/plain-file"
expect_exit 1 "a target that cannot be made: refused before the fetch" join_as node-2 "$T/plain-file/pki"
check "... naming what is in the way" err_has "plain-file is not a directory; nothing was fetched or written"
expect_exit 2 "a bad --advertise-address: refused before the fetch" join_as node-2 "$T/b/pki" \
	--advertise-address 10.0.0
expect_exit 2 "an upper-case node name: refused before the fetch" join_as node-2 "$T/b/pki" \
	--advertise-address 10.0.0.2 --node-name CP-2
check "... nothing written by any of them" [ ! -e "$T/b" ]
# A present apiserver.crt made for another address: found before the fetch.
"$PKISHARE" pki node-certs --pki-dir "$R/pki" --node-name cp-9 --advertise-address 10.0.0.9 >/dev/null
mkdir -p "$T/c/pki"
cp "$R/pki/apiserver.crt" "$R/pki/apiserver.key" "$T/c/pki/"
BEFORE=$(tree_sum "$T/c/pki")
expect_exit 10 "a present apiserver.crt with other SANs: refused" join_as node-2 "$T/c/pki" \
	--advertise-address 10.0.0.2 --node-name cp-2
check "... saying so" err_has "apiserver.crt is already there and kubeadm would refuse it: its SANs lack .*nothing was changed"
check "... before the fetch" bash -c "! grep -q 'Fetched the sealed bundle' '$T/last.out'"
check "... and the target is exactly as it was" [ "$(tree_sum "$T/c/pki")" = "$BEFORE" ]
check "... no ca.key installed" [ ! -e "$T/c/pki/ca.key" ]
expect_exit 0 "node-2 joins, with its node certificates" join_as node-2 "$T/d/pki" \
	--advertise-address 10.0.0.2 --node-name cp-2
check "... the shared PKI and node certificates in one install" \
	grep -q "Installed the shared PKI and this node's certificates into .* in one step" "$T/last.out"
check "... apiserver.crt for the node's address" bash -c \
	"openssl x509 -in '$T/d/pki/apiserver.crt' -noout -ext subjectAltName | grep -q 'IP Address:10.0.0.2'"
check "... signed by the shared CA" openssl verify -CAfile "$R/pki/ca.crt" "$T/d/pki/apiserver.crt"
expect_exit 0 "node-2 joins again: harmless" join_as node-2 "$T/d/pki" --advertise-address 10.0.0.2 \
	--node-name cp-2
check "... and says so" grep -q "Already installed: .*nothing was changed" "$T/last.out"
check "... node certificates checked and kept" grep -q "0 generated, 7 already present" "$T/last.out"
check "the daemon logged the repeat as not counted" grep -q "again, not counted" "$DAEMON_LOG"
expect_exit 0 "node-3 still gets the bundle (second of --max-fetches 2)" join_as node-3 "$T/e/pki"
check "... the shared files" bash -c "cmp -s '$R/pki/ca.key' '$T/e/pki/ca.key' && cmp -s '$R/pki/sa.key' '$T/e/pki/sa.key'"
expect_exit 5 "a third identity: the two fetches were all that was spent" join_as node-4 "$T/f/pki"

# After the fetch: a present certificate from another CA (its chain needs the bundle's CA)
# is refused, and the shared PKI is not left behind.
upload "$R/pki"
make_pki "$T/other"
"$PKISHARE" pki node-certs --pki-dir "$T/other/pki" --node-name cp-2 --advertise-address 10.0.0.2 >/dev/null
mkdir -p "$T/g/pki"
cp "$T/other/pki/front-proxy-client.crt" "$T/other/pki/front-proxy-client.key" "$T/g/pki/"
BEFORE=$(tree_sum "$T/g/pki")
expect_exit 10 "a node certificate of another CA: refused" join_as node-2 "$T/g/pki" \
	--advertise-address 10.0.0.2 --node-name cp-2
check "... saying why" err_has "front-proxy-client.crt is already there and kubeadm would refuse it: it is not signed by this cluster's CA"
check "... and the target is exactly as it was (no shared PKI left behind)" [ "$(tree_sum "$T/g/pki")" = "$BEFORE" ]
check "... no 'Installed' claimed" bash -c "! grep -q Installed '$T/last.out'"
finish
