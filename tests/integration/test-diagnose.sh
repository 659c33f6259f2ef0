#!/bin/bash
# Diagnose the cause, not the symptom (issue 30): what a joining operator is told when a
# join is refused, and that a refusal decided before the fetch spends nothing (neither a
# fetch nor a join token's use). Real binaries, the README's commands, scratch dirs only.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
start_daemon "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
upload "$R/pki"
WRONG=$(printf '%064d' 7)

# uses_left TOKEN_ID: the token's uses left as `token list -o json` says ("" if gone).
uses_left() {
	"$PKISHARE" token list -o json | python3 -c '
import json, sys
for t in json.load(sys.stdin):
    if t["id"] == sys.argv[1]:
        print(t.get("usesLeft", ""))' "$1"
}
# join_token TOKEN KEY DIR [args]: a token join as the README prints it.
join_token() {
	local tok=$1 key=$2 dir=$3; shift 3
	env PKISHARE_TOKEN="$tok" PKISHARE_CERTIFICATE_KEY="$key" "$PKISHARE" join \
		--server "$SERVER" --ca-cert-hash "$PIN" --node-name cp-2 --pki-dir "$dir" "$@"
}

# --- P4: a wrong key with a --uses 1 token spends nothing; the corrected join works.
TOK=$("$PKISHARE" token create --uses 1)
TID=${TOK%%.*}
expect_exit 4 "P4: a wrong key is refused by the plan" join_token "$TOK" "$WRONG" "$T/p4/pki"
check "P4: ... saying nothing was fetched or written" err_has "nothing was fetched or written"
check "P4: ... and the token's use is still there" [ "$(uses_left "$TID")" = 1 ]
check "P4: ... no enrollment happened" bash -c "! grep -q 'event=enroll.*result=ok' '$DAEMON_LOG'"
check "P4: ... nothing written" [ ! -e "$T/p4" ]
expect_exit 0 "P4: a dry run with the right key" join_token "$TOK" "$KEY" "$T/p4/pki" --dry-run
check "P4: ... spends no use of the token either" [ "$(uses_left "$TID")" = 1 ]
expect_exit 0 "P4: the corrected join works with the same --uses 1 token" join_token "$TOK" "$KEY" "$T/p4/pki"
check "P4: ... byte-identical" diff -r -x pkishare-joined.json "$R/pki" "$T/p4/pki"
check "P4: ... which spent the token" [ -z "$(uses_left "$TID")" ]
expect_exit 7 "P4: the token again, for another directory: used up" join_token "$TOK" "$KEY" "$T/p4b/pki"
check "P4: ... said as used up, and when" err_has "used up: its last use was spent at "
check "P4: ... without naming the node it enrolled (public views never name other nodes)" \
	bash -c "! grep -q \"cp-2\" '$T/last.err'"
check "P4: ... which the audit log still names" \
	grep -Eq "result=token-used-up: .*its last use enrolled \"?cp-2\"? at" "$DAEMON_LOG"
check "P4: ... not taken for a kubeadm token" bash -c "! grep -q 'kubeadm bootstrap token' '$T/last.err'"
check "P4: ... the token was checked, not spent" err_has "checked, not spent"
expect_exit 7 "P4: an unknown token" join_token abcdef.0123456789abcdef "$KEY" "$T/p4u/pki"
check "P4: ... still gets the kubeadm hint" err_has "kubeadm bootstrap token"
# A refusal only after the fetch (a shared file with other contents) says the token's use
# was spent by the enrollment.
mkdir -p "$T/p4b/pki" && chmod 700 "$T/p4b/pki"
cp "$R/pki/ca.crt" "$T/p4b/pki/ca.crt"
echo "not the cluster's" >"$T/p4b/pki/front-proxy-ca.crt"
TOK2=$("$PKISHARE" token create --uses 1)
expect_exit 10 "P4: a refusal after the fetch" join_token "$TOK2" "$KEY" "$T/p4b/pki"
check "P4: ... says a use of the join token was spent" err_has "one use of the join token was spent"
check "P4: ... and that the fetch was spent" err_has "the bundle was fetched from"
# The same token again (its last use was spent by that refused join): told so without the
# claim that the join was done (review of issue 30, F7).
expect_exit 7 "P4: the token whose last use a refused join spent, again" join_token "$TOK2" "$KEY" "$T/p4b/pki"
check "P4: ... does not say the join was done" bash -c "! grep -q 'its join was done' '$T/last.err'"
check "P4: ... says what to do if that join was refused after its fetch" \
	err_has "if that join was refused after its fetch, or this is another node, create a new token"

# --- P9: a completed join run again after --max-fetches was reached is harmless, as the
# README says: "Already joined", exit 0, nothing changed; a node that never joined is told
# what became of the bundle by the plan, spending nothing.
join_n2() { # join_n2 DIR [args]: the README's certificate join
	local dir=$1; shift
	env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" \
		--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$dir" "$@"
}
upload "$R/pki" --max-fetches 1
expect_exit 0 "P9: a join with --max-fetches 1" join_n2 "$T/p9/pki"
BEFORE=$(tree_sum "$T/p9/pki")
expect_exit 0 "P9: the same join again, the bundle used up" join_n2 "$T/p9/pki"
check "P9: ... says already joined, and why nothing was compared" grep -q "Already joined: .*holds no bundle now (used-up)" "$T/last.out"
check "P9: ... nothing changed" [ "$(tree_sum "$T/p9/pki")" = "$BEFORE" ]
expect_exit 0 "P9: ... and as a dry run" join_n2 "$T/p9/pki" --dry-run
check "P9: ... which says the same" grep -q "Already joined" "$T/last.out"
expect_exit 5 "P9: a node that never joined: used up, said by the plan" join_n2 "$T/p9new/pki"
check "P9: ... with what to do" err_has "upload-certs"
check "P9: ... nothing written" [ ! -e "$T/p9new" ]
expect_exit 5 "P9: --force cannot replace from a used-up bundle" join_n2 "$T/p9/pki" --force
check "P9: ... nothing changed" [ "$(tree_sum "$T/p9/pki")" = "$BEFORE" ]
rm "$T/p9/pki/sa.key"
expect_exit 5 "P9: a target missing a shared file is not taken as joined" join_n2 "$T/p9/pki"
upload "$R/pki"
# The printed token command run again after it worked (a script, Ansible): its --uses 1
# token is used up, and the bundle still held; the target holds this cluster's PKI
# (found by an outside review: exit 7 before).
PRINTED="PATH=$(dirname "$PKISHARE"):\$PATH $(env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" print-join-command --server "$SERVER" 2>/dev/null)"
expect_exit 0 "P9: the printed token join" bash -c "$PRINTED --pki-dir '$T/p9t/pki'"
BEFORE=$(tree_sum "$T/p9t/pki")
expect_exit 0 "P9: the same printed command again, its token used up" bash -c "$PRINTED --pki-dir '$T/p9t/pki'"
check "P9: ... says already joined" grep -q "Already joined: .*the join token is no longer good (used-up)" "$T/last.out"
check "P9: ... nothing changed" [ "$(tree_sum "$T/p9t/pki")" = "$BEFORE" ]
expect_exit 7 "P9: ... but another node with that token is refused" bash -c "$PRINTED --pki-dir '$T/p9t2/pki'"
check "P9: ... nothing written there" [ ! -e "$T/p9t2" ]

# --- P11: pkishared run by hand keeps nothing across a restart (documented); what the
# joiner is told then says so, for the bundle and for a token made before the restart.
OLDTOK=$("$PKISHARE" token create --uses 1)
stop_daemon
start_daemon "$R"
expect_exit 6 "P11: after a by-hand restart, a certificate join" join_n2 "$T/p11/pki"
check "P11: ... says pkishared holds no bundle, perhaps from a restart" err_has "holds no bundle (.*restarted without systemd's store"
check "P11: ... not 'no bundle has been uploaded'" bash -c "! grep -q 'no bundle has been uploaded' '$T/last.err'"
check "P11: ... and to upload again" err_has "upload-certs"
expect_exit 7 "P11: a token made before the restart" join_token "$OLDTOK" "$KEY" "$T/p11/pki"
check "P11: ... the hint covers a token from before a restart" err_has "before pkishared restarted without systemd's store"
check "P11: ... and a kubeadm token" err_has "kubeadm bootstrap token"
check "P11: nothing written" [ ! -e "$T/p11" ]
upload "$R/pki"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")

# --- P3 and P2 (clock): this node's clock out of step with the server's is named in the
# plan, before the fetch, never blamed on the pin or on the bundle's age.
FT=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
if [ -e "$FT" ]; then
	# at_clock OFFSET DIR [args]: join with a client certificate, as the README shows,
	# on a node whose wall clock is moved by OFFSET (the server's is not).
	at_clock() {
		local off=$1 dir=$2; shift 2
		env LD_PRELOAD="$FT" FAKETIME="$off" DONT_FAKE_MONOTONIC=1 \
			ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
			PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" join --server "$SERVER" \
			--ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" \
			--key "$R/clients/node-2.key" --pki-dir "$dir" "$@"
	}
	fetches() { "$PKISHARE" status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["fetches"])'; }
	upload "$R/pki" --ttl 1h --max-fetches 2
	expect_exit 1 "P3: a clock 3 h ahead (past the bundle's expiry): the dry run refuses" \
		at_clock +3h "$T/p3/pki" --dry-run
	check "P3: ... naming this node's clock and the skew" err_has "this node's clock reads .*ahead of $SERVER's"
	check "P3: ... and what to do (NTP)" err_has "NTP"
	check "P3: ... not 'run upload-certs again'" bash -c "! grep -q 'upload-certs' '$T/last.err'"
	expect_exit 1 "P3: the join refuses the same way" at_clock +3h "$T/p3/pki"
	check "P3: ... before the fetch: nothing fetched" [ "$(fetches)" = 0 ]
	check "P3: ... nothing written" [ ! -e "$T/p3" ]
	expect_exit 1 "P3: 10 min ahead with this node's certificates to make: refused in the plan" \
		at_clock +10m "$T/p3/pki" --advertise-address 10.0.0.12 --dry-run
	check "P3: ... the certificates would not be valid yet elsewhere" err_has "not be valid yet"
	expect_exit 0 "P3: 10 min ahead without certificates to make: joins, with a warning" \
		at_clock +10m "$T/p3b/pki"
	check "P3: ... the warning names the clock" err_has "warning: this node's clock reads .*ahead of"
	expect_exit 1 "P2: a clock 1 h behind (the serving certificate not yet valid)" \
		at_clock -1h "$T/p2c/pki"
	check "P2: ... is not blamed on the pin" bash -c "! grep -q 'not the cluster you meant' '$T/last.err'"
	check "P2: ... names this node's clock as behind" err_has "this node's clock is at least .* behind"
	# Both the cluster CA and the serving certificate are newer than this clock; the one
	# named is the one the check failed on, with its own date (the review found "its
	# certificate is valid from" with the CA's notBefore).
	CA_FROM=$(date -u -d "$(openssl x509 -in "$R/pki/ca.crt" -noout -startdate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
	check "P2: ... names the certificate whose dates fail: the cluster CA, with its notBefore" \
		err_has "the pinned cluster CA (CN kubernetes) is not valid before $CA_FROM"
	check "P2: ... not the serving certificate" bash -c "! grep -q 'its certificate\|its serving certificate' '$T/last.err'"
	check "P2: ... and what to do" err_has "timedatectl"
	check "P2: ... nothing written" [ ! -e "$T/p2c" ]
else
	echo "libfaketime is not installed (scripts/test.sh installs it): clock checks skipped"
fi

# --- P2: the right pin, the wrong server. A kubeadm habit, --server HOST:6443, reaches the
# API server (its certificate from the same cluster CA); a serving certificate without the
# address the joiner used. Neither is blamed on the pin.
# join_at SERVER DIR: a certificate join against SERVER.
join_at() {
	env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" join --server "$1" --ca-cert-hash "$PIN" \
		--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$2"
}
# serve CERT KEY [CHAIN]: an openssl s_server on a free port of $SADDR (127.0.0.1 unless
# set) with that certificate (the API server's, as kubeadm lays it out); sets OPORT, OPID.
serve() {
	local addr=${SADDR:-127.0.0.1}
	OPORT=$(python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1],0)); print(s.getsockname()[1])' "$addr")
	openssl s_server -quiet -accept "$addr:$OPORT" -cert "$1" -key "$2" ${3:+-cert_chain "$3"} \
		-www </dev/null >"$T/s_server.log" 2>&1 &
	OPID=$!
	for _ in $(seq 1 100); do
		(echo >"/dev/tcp/$addr/$OPORT") 2>/dev/null && break
		sleep 0.05
	done
}
A=$T/api-pki # the first node's own certificates, apiserver.crt among them
cp -a "$R/pki" "$A"
"$PKISHARE" pki node-certs --pki-dir "$A" --node-name node-1 --advertise-address 127.0.0.1 >/dev/null
serve "$A/apiserver.crt" "$A/apiserver.key"
expect_exit 9 "P2: the API server (its leaf only, as kubeadm serves it)" join_at "127.0.0.1:$OPORT" "$T/p2a/pki"
check "P2: ... is named as the API server" err_has "Kubernetes API server, not pkishared"
check "P2: ... with pkishared's port to use" err_has "9443"
check "P2: ... the pin is not blamed" bash -c "! grep -q 'not the cluster you meant' '$T/last.err'"
kill "$OPID"; wait "$OPID" 2>/dev/null || true
serve "$A/apiserver.crt" "$A/apiserver.key" "$R/pki/ca.crt"
expect_exit 9 "P2: the API server sending its CA too" join_at "localhost:$OPORT" "$T/p2a/pki"
check "P2: ... is named as the API server" err_has "Kubernetes API server, not pkishared"
kill "$OPID"; wait "$OPID" 2>/dev/null || true
# By the address its certificate names (as a real API server's names its advertise
# address): the chain verifies against the pin, so only its kubernetes.default name tells
# it apart; a join token must never be sent to it (found by an outside review).
serve "$A/apiserver.crt" "$A/apiserver.key" "$R/pki/ca.crt"
expect_exit 9 "P2: the API server at the address its certificate names" join_at "127.0.0.1:$OPORT" "$T/p2a/pki"
check "P2: ... is named as the API server" err_has "Kubernetes API server, not pkishared"
TOKEN_API=$("$PKISHARE" token create --uses 1)
expect_exit 9 "P2: ... a token join too, before the token is sent" env PKISHARE_TOKEN="$TOKEN_API" \
	PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" join --server "127.0.0.1:$OPORT" --ca-cert-hash "$PIN" \
	--pki-dir "$T/p2t/pki"
check "P2: ... is named as the API server" err_has "Kubernetes API server, not pkishared"
check "P2: ... the token was not sent (s_server saw no request)" bash -c "! grep -q 'GET ' '$T/s_server.log'"
kill "$OPID"; wait "$OPID" 2>/dev/null || true
# A serving certificate for 10.9.9.9 (and loopback), joined at 127.0.0.2.
"$PKISHARE" pki serving-cert --pki-dir "$R/pki" --out "$T/sc" --node-name cp-9 --address 10.9.9.9 >/dev/null
SADDR=127.0.0.2 serve "$T/sc/tls.crt" "$T/sc/tls.key" "$R/pki/ca.crt"
check "P2: (the certificate does not name 127.0.0.2)" bash -c "! openssl x509 -in '$T/sc/tls.crt' -noout -ext subjectAltName | grep -q '127.0.0.2'"
expect_exit 9 "P2: a serving certificate without the address used" join_at "127.0.0.2:$OPORT" "$T/p2n/pki"
check "P2: ... says the pin is right and the certificate is not for 127.0.0.2" err_has "not for 127.0.0.2: it names .*10.9.9.9"
check "P2: ... and what to do" err_has "serving-cert"
check "P2: ... the pin is not blamed" bash -c "! grep -q 'not the cluster you meant' '$T/last.err'"
kill "$OPID"; wait "$OPID" 2>/dev/null || true
check "P2: nothing written by any of them" bash -c "[ ! -e '$T/p2a' ] && [ ! -e '$T/p2n' ]"

# P8's hint (a joined node can serve when the first one is down) only when no server
# answered; never for a server that answered and refused (an outside review found it
# after a refused certificate).
FREE=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_exit 11 "P8: nothing listens at the server" join_at "127.0.0.1:$FREE" "$T/p8/pki"
check "P8: ... the hint says a joined node can serve" err_has "a control-plane node that has already joined can serve"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=stranger \
	-addext extendedKeyUsage=clientAuth -keyout "$T/stranger.key" -out "$T/stranger.crt" -days 1 2>/dev/null
expect_exit 7 "P8: a certificate the server refuses" env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" join \
	--server "$SERVER" --ca-cert-hash "$PIN" --cert "$T/stranger.crt" --key "$T/stranger.key" --pki-dir "$T/p8b/pki"
check "P8: ... no hint about a node that is down" bash -c "! grep -q 'already joined can serve' '$T/last.err'"
finish
