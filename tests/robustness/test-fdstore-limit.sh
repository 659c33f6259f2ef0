#!/bin/bash
# The state is reported as kept only when it is: under fd stores smaller than the held
# state needs (FileDescriptorStoreMax= of 0, 2 and 3; the shipped unit has 8), status,
# STATUS= and metrics say the state is not kept and why, before anything is lost; where
# status says kept, an acknowledged upload and its used key survive kill -9. Where the
# limit cannot be learnt at all, status says so. A bundle as long-lived as --max-ttl
# allows is restored, not refused.
. "$(dirname "$0")/../integration/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
R=$T/r
make_pki "$R"
js() { "$PKISHARE" status -o json | /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
up() {
	for _ in $(seq 200); do "$PKISHARE" status >/dev/null 2>&1 && return 0; sleep 0.05; done
	return 1
}
run_case() { # run_case NAME FDSTORE.PY-ARGS...
	local name=$1; shift
	D=$T/$name
	mkdir -p "$D"
	/usr/bin/python3 "$HERE/../integration/fdstore.py" "$D" "$@" -- "$PKISHARED" --config /dev/null \
		--tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
		--client-ca "$R/clients/ca.crt" ${EXTRA:-} >"$D/log" 2>&1 &
	MGR=$!
	export PKISHARE_ADMIN_SOCKET=$D/admin.sock
	up || { fail "$name: the daemon did not start"; cat "$D/log" >&2; return; }
	# fdstore.py writes pid and starts after its fork: under load the daemon can answer
	# before they exist.
	for _ in $(seq 200); do [ -s "$D/starts" ] && [ -s "$D/pid" ] && break; sleep 0.05; done
	upload "$R/pki" --ttl "${TTL:-60s}"
	ID=$(js 'j["bundle"]["id"]')
	KEPT=$(js 'j["state"]["kept"]')
	NOTE=$(js 'j["state"]["note"]')
	sleep 1.2 # STATUS= is refreshed once a second
	local n=$(($(cat "$D/starts") + 1))
	kill -KILL "$(cat "$D/pid")"
	for _ in $(seq 100); do [ "$(cat "$D/starts")" = "$n" ] && break; sleep 0.05; done
	up || fail "$name: no restart after kill -9"
	if [ "$KEPT" = True ]; then
		check "$name: status said kept, and the acknowledged bundle survived kill -9" [ "$(js 'j["bundle"] and j["bundle"]["id"]')" = "$ID" ]
		expect_exit 1 "$name: ... and its key is still refused" \
			"$PKISHARE" upload-certs --pki-dir "$R/pki" --certificate-key "$KEY"
	else
		pass "$name: status said not kept before the kill"
	fi
}

for max in 0 2 3; do
	run_case "max$max" --fdstore-max "$max"
	check "max$max: status says the state is not kept" [ "$KEPT" = False ]
	check "max$max: ... and why (FileDescriptorStoreMax=$max, needs 4)" bash -c "grep -qF 'FileDescriptorStoreMax=$max) and the held state needs 4' <<<\"\$1\"" _ "$NOTE"
	check "max$max: the log says so at start" grep -q "FileDescriptorStoreMax=$max" "$D/log"
	check "max$max: STATUS= says so" grep -q "NOT kept across restarts" "$D/status"
	check "max$max: metrics say so" bash -c "curl -s --unix-socket '$D/admin.sock' http://x/metrics | grep -qx 'pkishare_state_kept 0'"
	check "max$max: nothing was handed to the store" [ "$(grep -c '^pkishared-' "$D/store" || true)" = 0 ]
	kill "$MGR"; wait "$MGR" || true
done

run_case max4 --fdstore-max 4
check "max4 (enough): kept" [ "$KEPT" = True ]
kill "$MGR"; wait "$MGR" || true

# A lifetime the daemon accepts is one its restore accepts (the bound had two owners:
# --max-ttl took 1000 days, the restore refused more than 366).
EXTRA="--max-ttl 24000h" TTL=21600h run_case long-lived
check "a 900-day bundle: kept" [ "$KEPT" = True ]
check "... and restored, not refused" [ "$(js 'j["state"]["refused"]')" = "" ]
kill "$MGR"; wait "$MGR" || true
expect_exit 2 "--max-ttl over the bound is refused at start" "$PKISHARED" --config /dev/null --max-ttl 24024h

run_case unknown --no-fdstore-env
check "unknown limit: status says it could not be learnt" bash -c "grep -qF 'cannot learn this unit' <<<\"\$1\"" _ "$NOTE"
check "unknown limit: ... in the text of status too, not only -o json" bash -c "'$PKISHARE' status | grep -q '^note: .*cannot learn this unit'"
kill "$MGR"; wait "$MGR" || true
check "no sanitizer report" bash -c "! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' $T/*/log"
finish
