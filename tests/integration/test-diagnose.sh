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
check "P4: ... byte-identical" diff -r "$R/pki" "$T/p4/pki"
check "P4: ... which spent the token" [ -z "$(uses_left "$TID")" ]
expect_exit 7 "P4: the same join again: the token is used up" join_token "$TOK" "$KEY" "$T/p4/pki"
check "P4: ... said as used up, by which node" err_has "used up: its last use enrolled node 'cp-2'"
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

finish
