#!/bin/bash
# Lifetime: TTL enforced by the reaper with no request arriving, one-time keys, rotation,
# max fetches, delete-certs, --max-ttl; and wiped bundles leave no copy in memory.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
start_daemon "$R" --max-ttl 1h
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
join_to() { # join_to DIR [CLIENT]
	"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --cert "$R/clients/${2:-node-2}.crt" \
	--key "$R/clients/${2:-node-2}.key" --certificate-key "$KEY" --pki-dir "$1"; }
export PKISHARE
bundle_held() { "$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["bundle"] else 1)'; }
export -f bundle_held

# Nothing uploaded yet.
KEY=$("$PKISHARE" certificate-key)
expect_exit 6 "join before any upload: not found" join_to "$T/j0/pki"
check "not found: says to run upload-certs" err_has "upload-certs"

# A TTL of a few seconds: fetch before works, then the reaper wipes it unasked.
upload "$R/pki" --ttl 3s
curl_fetch "$R" node-3 >"$T/short.json"
expect_exit 0 "fetch before the deadline" join_to "$T/j1/pki"
sleep 4.2
check "reaper logged the expiry without any request" grep -q "event=expire" "$DAEMON_LOG"
check "status shows no bundle after the deadline" bash -c "! bundle_held"
"$PKISHARE" status >"$T/status.txt"
check "status says the last one expired" grep -q "expired at" "$T/status.txt"
code=$(curl -sS -o "$T/gone.json" -w '%{http_code}' --cacert "$R/pki/ca.crt" --cert "$R/clients/node-3.crt" \
	--key "$R/clients/node-3.key" "https://127.0.0.1:$PORT/v1/bundle")
check "fetch after the deadline: 410 (got $code)" [ "$code" = 410 ]
check "410 body has reason expired" grep -q '"reason": "expired"' "$T/gone.json"
expect_exit 3 "join after expiry: exit 3" join_to "$T/j2/pki"
check "expired: says to run upload-certs" err_has "upload-certs"
check "expired: nothing written" [ ! -e "$T/j2" ]
expect_exit 3 "curl output of an expired bundle piped to decrypt" "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$T/j3/pki" "$T/gone.json"
if [ "$(id -u)" = 0 ]; then
	check "no 32-byte run of the expired bundle left in daemon memory" /usr/bin/python3 "$(dirname "$0")/memscan.py" "$DAEMON_PID" "$T/short.json"
fi

# Rotation: a new upload wipes the old bundle at once; the old key is told it rotated.
upload "$R/pki"
OLDKEY=$KEY
curl_fetch "$R" node-3 >"$T/first.json"
if [ "$(id -u)" = 0 ]; then
	# Positive control: while the bundle is held the scanner must find it.
	check "memory scan finds a bundle that is still held" bash -c "! /usr/bin/python3 '$(dirname "$0")/memscan.py' '$DAEMON_PID' '$T/first.json' 2>/dev/null"
fi
upload "$R/pki"
check "each upload makes a fresh key" [ "$KEY" != "$OLDKEY" ]
check "the replaced bundle was wiped (audited)" grep -q "wiped: replaced by" "$DAEMON_LOG"
KEY_SAVE=$KEY; KEY=$OLDKEY
expect_exit 4 "join with the rotated key: exit 4" join_to "$T/j4/pki"
check "rotated: message says so" err_has "rotated"
KEY=$KEY_SAVE
expect_exit 0 "join with the new key" join_to "$T/j5/pki"
if [ "$(id -u)" = 0 ]; then
	check "no 32-byte run of the rotated bundle left in daemon memory" /usr/bin/python3 "$(dirname "$0")/memscan.py" "$DAEMON_PID" "$T/first.json"
fi

# A key id the daemon has seen before is refused (409).
expect_exit 1 "re-upload with a used key" "$PKISHARE" upload-certs --pki-dir "$R/pki" --certificate-key "$OLDKEY"
check "used key: 409 reason key-reused" err_has "key-reused"
check "used key: the held bundle is untouched" bundle_held

# --max-fetches: the Nth identity's fetch is the last; counted before sending (the same
# client-ca identity fetching again is not counted: test-join-plan.sh).
upload "$R/pki" --max-fetches 2
expect_exit 0 "fetch 1 of 2" join_to "$T/m1/pki" node-2
expect_exit 0 "fetch 2 of 2" join_to "$T/m2/pki" node-3
expect_exit 5 "fetch 3 of 2: used up" join_to "$T/m3/pki" node-2
check "used up: nothing held" bash -c "! bundle_held"

# delete-certs wipes on demand; a second delete says there is nothing.
upload "$R/pki"
expect_exit 0 "delete-certs" "$PKISHARE" delete-certs
check "deleted: nothing held" bash -c "! bundle_held"
expect_exit 5 "join after delete: exit 5" join_to "$T/d1/pki"
expect_exit 6 "delete-certs with nothing held" "$PKISHARE" delete-certs

# --ttl over the daemon's --max-ttl is refused, not silently cut.
expect_exit 2 "--ttl over --max-ttl" "$PKISHARE" upload-certs --pki-dir "$R/pki" --ttl 2h
check "max ttl: message names both" err_has "longer than pkishared's --max-ttl 1h"
# An unreachable daemon.
expect_exit 11 "upload with no daemon" "$PKISHARE" upload-certs --pki-dir "$R/pki" --admin-socket "$T/nothing.sock"
check "no daemon: says to check pkishared" err_has "is pkishared running"
# SIGTERM: exit 0, socket removed.
kill -TERM "$DAEMON_PID"; rc=0; wait "$DAEMON_PID" || rc=$?; DAEMON_PID=
check "SIGTERM: exit 0 (got $rc)" [ "$rc" = 0 ]
check "SIGTERM: admin socket removed" [ ! -e "$ADMIN" ]
finish
