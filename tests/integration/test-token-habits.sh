#!/bin/bash
# kubeadm's token habits, from the operator's side (issue 30, P17): token delete takes the
# whole token (only its id is sent, the secret never shown) and several at once, a typo
# deletes nothing; token create -o json|yaml is honoured; usesLeft says "no limit" as
# null, never as 0; token create --description TEXT (kubeadm's) is kept and listed in a
# DESCRIPTION column, bounded and printable-checked with a clear refusal.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
start_daemon "$R"
ids() { "$PKISHARE" token list -o json | python3 -c 'import json,sys; print(" ".join(sorted(t["id"] for t in json.load(sys.stdin))))'; }

T1=$("$PKISHARE" token create)
T2=$("$PKISHARE" token create --uses 2)
T3=$("$PKISHARE" token create)
S1=${T1#*.}

# -o json: the token, its id, expiry and uses left (null: no limit); -o yaml the same.
expect_exit 0 "token create -o json" "$PKISHARE" token create -o json
check "token create -o json is JSON with the token" python3 -c '
import json,sys,re; j=json.load(open(sys.argv[1]))
assert re.fullmatch(r"[a-z0-9]{6}\.[a-z0-9]{16}", j["token"]) and j["id"] == j["token"][:6]
assert j["usesLeft"] is None and j["expiresAt"]' "$T/last.out"
J=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$T/last.out" || true)
expect_exit 0 "token create --uses 3 -o yaml" "$PKISHARE" token create --uses 3 --output yaml
check "token create -o yaml is YAML with the token and its uses" bash -c "grep -q '^token: \"[a-z0-9]\{6\}\.[a-z0-9]\{16\}\"$' '$T/last.out' && grep -q '^usesLeft: 3$' '$T/last.out'"
Y=$(sed -n 's/^id: "\(.*\)"$/\1/p' "$T/last.out")
expect_exit 2 "token create -o xml is refused" "$PKISHARE" token create -o xml
check "the refusal names the formats" err_has "json or yaml"
expect_exit 2 "token create -o json --print-join-command is refused" "$PKISHARE" token create -o json --print-join-command

# usesLeft: null for no limit, the number otherwise; the table still says unlimited.
check "token list -o json: no limit is null, a limit its number" python3 -c '
import json,subprocess,sys
l={t["id"]: t["usesLeft"] for t in json.loads(subprocess.check_output([sys.argv[1],"token","list","-o","json"]))}
assert l[sys.argv[2]] is None and l[sys.argv[3]] == 2, l' "$PKISHARE" "${T1%%.*}" "${T2%%.*}"
"$PKISHARE" token list -o yaml >"$T/list.yaml"
check "token list -o yaml lists every token" bash -c "[ \$(grep -c '^- id: ' '$T/list.yaml') = 5 ]"
check "token list -o yaml: no limit is null" grep -q "usesLeft: null" "$T/list.yaml"
"$PKISHARE" token list >"$T/list.txt"
check "token list: no limit reads unlimited" grep -q "^${T1%%.*} .* unlimited " "$T/list.txt"

# A typo among several deletes nothing, and the typo is never echoed (it may be a secret).
before=$(ids)
expect_exit 2 "token delete with a malformed argument among good ones" \
	"$PKISHARE" token delete "$T1" "${T2%%.*}x.notasecret"
check "nothing was deleted" test "$(ids)" = "$before"
check "the malformed argument is not echoed" bash -c "! grep -q notasecret '$T/last.err'"
check "the refusal says what a token looks like" err_has "abcdef.0123456789abcdef"

# The whole token and an id, at once.
expect_exit 0 "token delete TOKEN ID (kubeadm's form, several at once)" \
	"$PKISHARE" token delete "$T1" "${T2%%.*}"
check "both were deleted" bash -c "! ids=\$('$PKISHARE' token list) || ! echo \"\$ids\" | grep -q -e '^${T1%%.*} ' -e '^${T2%%.*} '"
check "the others are kept" bash -c "'$PKISHARE' token list | grep -q '^${T3%%.*} '"
check "the secret is never printed" bash -c "! grep -q '$S1' '$T/last.out' '$T/last.err'"
check "the secret is never logged" bash -c "! grep -q '$S1' '$DAEMON_LOG'"
expect_exit 0 "token delete of the -o tokens" "$PKISHARE" token delete "$J" "$Y" "${T3%%.*}"
check "no token is left" test -z "$(ids)"
expect_exit 6 "token delete of a token already deleted" "$PKISHARE" token delete "$T1"
check "the refusal says it was not deleted" err_has "not deleted"

# Descriptions no longer than the header: DESCRIPTION and USES LEFT still set apart, not
# one run of words (review of issue 30, low items).
S1=$("$PKISHARE" token create --description short)
"$PKISHARE" token list >"$T/list0.txt"
check "token list sets DESCRIPTION and USES LEFT apart" grep -q "DESCRIPTION   USES LEFT" "$T/list0.txt"
"$PKISHARE" token delete "${S1%%.*}" >/dev/null
# --description, as kubeadm token create takes it.
expect_exit 0 "token create --description" "$PKISHARE" token create --description "cp-2 in rack 4 (ticket #12)"
D1=$(cat "$T/last.out")
expect_exit 0 "token create without a description" "$PKISHARE" token create
D2=$(cat "$T/last.out")
"$PKISHARE" token list >"$T/list.txt"
check "token list has a DESCRIPTION column after EXPIRES, as kubeadm's" grep -q "^TOKEN  *EXPIRES  *DESCRIPTION  *USES LEFT  *USED$" "$T/list.txt"
check "token list shows the description" grep -q "^${D1%%.*} .* cp-2 in rack 4 (ticket #12) .*unlimited  *0$" "$T/list.txt"
check "token list shows <none> for a token without one" grep -q "^${D2%%.*} .* <none> .*unlimited  *0$" "$T/list.txt"
check "token list keeps the counts aligned" bash -c "[ \$(awk '{print index(\$0, \"USES LEFT\")}' '$T/list.txt' | head -1) = \$(grep '^${D2%%.*} ' '$T/list.txt' | awk '{print index(\$0, \"unlimited\")}') ]"
check "token list -o json has the description (\"\" for none)" python3 -c '
import json,subprocess,sys
l={t["id"]: t["description"] for t in json.loads(subprocess.check_output([sys.argv[1],"token","list","-o","json"]))}
assert l[sys.argv[2]] == "cp-2 in rack 4 (ticket #12)" and l[sys.argv[3]] == "", l' "$PKISHARE" "${D1%%.*}" "${D2%%.*}"
"$PKISHARE" token list -o yaml >"$T/list.yaml"
check "token list -o yaml has the description" grep -q 'description: "cp-2 in rack 4 (ticket #12)"' "$T/list.yaml"
expect_exit 0 "token create --description -o json" "$PKISHARE" token create --description "x y" -o json
check "token create -o json echoes the description" python3 -c '
import json,sys; assert json.load(open(sys.argv[1]))["description"] == "x y"' "$T/last.out"
before=$(ids)
expect_exit 2 "a description with a newline is refused" "$PKISHARE" token create --description "$(printf 'a\nb')"
check "... saying what a description may hold" err_has "printable ASCII"
check "... and that no token was created" err_has "no token was created"
expect_exit 2 "a description of 201 characters is refused" "$PKISHARE" token create --description "$(printf '%0201d' 0)"
check "... naming the bound" err_has "at most 200"
expect_exit 2 "a description outside ASCII is refused" "$PKISHARE" token create --description "caf$(printf '\xc3\xa9')"
check "the refused descriptions created nothing" test "$(ids)" = "$before"
expect_exit 0 "a description of exactly 200 characters is taken" "$PKISHARE" token create --description "$(printf '%0200d' 0)"
# The daemon checks it too (an older or another client): a clear 400, nothing created.
before=$(ids)
check "pkishared refuses a description with a control character itself" python3 -c '
import json,socket,sys
body=json.dumps({"id":"zzzzzz","secretHash":"00"*32,"ttlSeconds":60,"uses":1,"description":"a\tb"})
s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(("POST /v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)).encode())
r=b""
while True:
    d=s.recv(4096)
    if not d: break
    r+=d
assert r.startswith(b"HTTP/1.1 400") and b"printable ASCII" in r, r' "$ADMIN"
check "... and created nothing" test "$(ids)" = "$before"

# A blank description reads as none: refused; a long one is cut in the table, whole in JSON.
expect_exit 2 "token create --description of only spaces is refused" "$PKISHARE" token create --description "   "
check "... saying why" err_has "not only spaces"
LONG=$(printf 'd%.0s' $(seq 1 120))
TL=$("$PKISHARE" token create --description "$LONG")
check "a long description is cut in token list, the columns kept narrow" bash -c "'$PKISHARE' token list | grep '^${TL%%.*}' | grep -q 'ddd\.\.\. ' && [ \$('$PKISHARE' token list | awk '{print length}' | sort -n | tail -1) -lt 120 ]"
check "... and whole in -o json" bash -c "'$PKISHARE' token list -o json | grep -q '$LONG'"
"$PKISHARE" token delete "$TL" >/dev/null

# An expired token is told "expired at T" after the reaper removed it, not "unknown (a
# kubeadm bootstrap token?)" (review of issue 30, F8).
upload "$R/pki"
TE=$("$PKISHARE" token create --ttl 2s --uses 1)
for _ in $(seq 60); do "$PKISHARE" token list -o json | grep -q "${TE%%.*}" || break; sleep 0.1; done
check "the expired token was removed from the list" bash -c "! '$PKISHARE' token list | grep -q '${TE%%.*}'"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
PKISHARE_TOKEN=$TE PKISHARE_CERTIFICATE_KEY=$KEY expect_exit 7 "a join with the expired token is refused" \
	"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --pki-dir "$T/exp/pki" --node-name cp-9
check "... saying it expired, and when" err_has "join token expired at 20"
check "... not that it may be a kubeadm token" bash -c "! grep -q 'kubeadm bootstrap' '$T/last.err'"
check "... writing nothing" [ ! -e "$T/exp" ]
finish
