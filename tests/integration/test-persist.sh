#!/bin/bash
# The held state outlives pkishared's process through a file descriptor store
# (fdstore.py stands in for systemd; the system suite does the same under systemd 252):
# kill -9 loses nothing acknowledged and extends no deadline; a corrupted or partial store
# makes the daemon start empty and say why; expiry and SIGUSR1 (what the unit's ExecStop
# sends on systemctl stop) wipe files and take them out of the store. Twice: with
# memfd_secret where the kernel has it, and with the plain memfd fallback.
. "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
R=$T/r
make_pki "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
SECRETMEM=$(/usr/bin/python3 -c 'import ctypes; fd = ctypes.CDLL(None).syscall(447, 0); print("memfd_secret" if fd >= 0 else "memfd")')
echo "this kernel: $SECRETMEM"

js() { "$PKISHARE" status -o json | /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
restarted() { # restarted N: wait until the manager has started the daemon N times and it answers
	for _ in $(seq 100); do
		if [ "$(cat "$D/starts" 2>/dev/null)" = "$1" ] && "$PKISHARE" status >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.05
	done
	cat "$D/log" >&2
	return 1
}
kill9() { # kill the daemon, wait for the next start
	local n
	n=$(($(cat "$D/starts") + 1))
	kill -KILL "$(cat "$D/pid")" || { cat "$D/log" >&2; return 1; }
	restarted "$n"
}
join_as() { # join_as CLIENT DIR
	"$PKISHARE" join --server "127.0.0.1:$(cat "$D/port")" --ca-cert-hash "$PIN" \
		--certificate-key "$KEY" --cert "$R/clients/$1.crt" --key "$R/clients/$1.key" \
		--pki-dir "$2" >/dev/null 2>&1
}
in_store() { grep -c "^$1" "$D/store" || true; }
# store_has PREFIX N: the fake store (fdstore.py, which takes the daemon's notifications
# in its own time) holds N files named PREFIX..., waiting up to 5 s for it to catch up.
store_has() {
	for _ in $(seq 1 100); do
		[ "$(in_store "$1")" = "$2" ] && return 0
		sleep 0.05
	done
	return 1
}

for mode in "$SECRETMEM" memfd; do
	D=$T/$mode
	mkdir -p "$D"
	args=()
	[ "$mode" = memfd ] && args=(--deny-memfd-secret)
	/usr/bin/python3 "$HERE/fdstore.py" "$D" "${args[@]}" -- "${PKISHARED_RUN[@]}" \
		--tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
		--client-ca "$R/clients/ca.crt" >"$D/log" 2>&1 &
	MGR=$!
	export PKISHARE_ADMIN_SOCKET=$D/admin.sock
	restarted 1 || { fail "$mode: the daemon did not start under fdstore.py"; continue; }
	check "$mode: status says the state is kept ($mode)" [ "$(js 'j["state"]["memory"]')" = "$mode" ]
	check "$mode: key and state files in the store" [ "$(in_store pkishared-)" = 2 ]

	# Acknowledged changes survive kill -9.
	upload "$R/pki" --ttl 60s
	ID=$(js 'j["bundle"]["id"]')
	check "$mode: the bundle's file is in the store" [ "$(in_store pkishared-bundle-"$ID")" = 1 ]
	check "$mode: a join" join_as node-2 "$T/$mode-j1"
	TOKEN=$("$PKISHARE" token create --uses 1 | tail -1)
	LEFT=$(js 'j["bundle"]["expiresInSeconds"]')
	kill9 || fail "$mode: no restart after kill -9"
	check "$mode: kill -9: the same bundle" [ "$(js 'j["bundle"]["id"]')" = "$ID" ]
	check "$mode: kill -9: one fetch counted" [ "$(js 'j["bundle"]["fetches"]')" = 1 ]
	check "$mode: kill -9: the deadline is not extended" [ "$(js 'j["bundle"]["expiresInSeconds"]')" -le "$LEFT" ]
	check "$mode: kill -9: one restart survived" [ "$(js 'j["state"]["restores"]')" = 1 ]
	check "$mode: kill -9: the token is still there" [ "$(js 'len(j["tokens"])')" = 1 ]
	check "$mode: the log says what was resumed" grep -q "resumed the state kept in systemd's store .*bundle $ID, 1 join token(s), 1 key id(s)" "$D/log"
	check "$mode: a second join" join_as node-3 "$T/$mode-j2"
	check "$mode: a token join" "$PKISHARE" join --server "127.0.0.1:$(cat "$D/port")" \
		--ca-cert-hash "$PIN" --certificate-key "$KEY" --token "$TOKEN" --pki-dir "$T/$mode-j3"
	OLDKEY=$KEY
	expect_exit 1 "$mode: kill -9: a reused key is still refused" \
		"$PKISHARE" upload-certs --pki-dir "$R/pki" --certificate-key "$OLDKEY"
	check "$mode: ... saying so" err_has "already used"
	curl -s --unix-socket "$D/admin.sock" http://x/metrics >"$T/metrics"
	check "$mode: metrics count the restore" grep -qx "pkishare_state_restores_total 1" "$T/metrics"

	# An upload that reuses the held bundle's id with a new key (issue 22): the new file
	# has a name of its own, so dropping the old one does not take the new one with it.
	upload "$R/pki" --ttl 60s
	SAMEID=$(js 'j["bundle"]["id"]')
	NEWKEY=$(/usr/bin/python3 - "$PROTO_DIR" "$R/pki" "$SAMEID" "$T/same-id.json" <<'PY'
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import pkishare_seal as ps
key = os.urandom(32)
files = {n: (m, open(os.path.join(sys.argv[2], n), "rb").read()) for n, m in ps.SHARED.items()
         if os.path.exists(os.path.join(sys.argv[2], n))}
now = int(time.time())
doc = ps.seal_bundle(key, sys.argv[3], now, now + 60, files, {n: os.urandom(24) for n in files})
json.dump(doc, open(sys.argv[4], "w"))
print(key.hex())
PY
)
	check "$mode: same id, new key: accepted" bash -c "curl -sf --unix-socket '$D/admin.sock' -X PUT --data-binary @'$T/same-id.json' http://x/v1/bundle >/dev/null"
	check "$mode: ... one bundle file in the store" store_has pkishared-bundle- 1
	kill9
	check "$mode: same id, new key, kill -9: the bundle survives" [ "$(js 'j["bundle"] and j["bundle"]["id"]')" = "$SAMEID" ]
	check "$mode: ... restored whole" [ "$(js 'j["state"]["refused"]')" = "" ]
	expect_exit 1 "$mode: ... the new key stays used" \
		"$PKISHARE" upload-certs --pki-dir "$R/pki" --certificate-key "$NEWKEY"
	expect_exit 1 "$mode: ... and the key before it" \
		"$PKISHARE" upload-certs --pki-dir "$R/pki" --certificate-key "$KEY"

	# A restart right after an upload with a short life does not extend it.
	upload "$R/pki" --ttl 3s
	ID=$(js 'j["bundle"]["id"]')
	kill9
	check "$mode: a short-lived bundle restored with its own deadline" [ "$(js 'j["bundle"]["expiresInSeconds"]')" -le 3 ]
	sleep 3.5
	check "$mode: expiry: nothing held" [ "$(js 'j["bundle"]')" = None ]
	check "$mode: expiry: the bundle's file left the store" store_has pkishared-bundle- 0
	kill9
	check "$mode: after expiry and a restart: nothing held, the expiry remembered" \
		[ "$(js 'j["bundle"], j["previous"]["reason"]')" = "None expired" ]

	# A bundle file gone from the store: start empty, say why.
	upload "$R/pki"
	ID=$(js 'j["bundle"]["id"]')
	TOKEN=$("$PKISHARE" token create --uses 1 | tail -1)
	NAME=$(awk -v p="pkishared-bundle-$ID-" 'index($1, p) == 1 { print $1 }' "$D/store")
	check "$mode: the bundle's file has a numbered name" [ -n "$NAME" ]
	/usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(("FDSTOREREMOVE=1\nFDNAME=" + sys.argv[2]).encode(), sys.argv[1])' "$D/notify" "$NAME"
	sleep 0.2
	kill9
	WHY="the held bundle $ID was dropped: its file is missing from systemd's store (its join tokens and key-id history were kept)"
	check "$mode: a missing bundle file: nothing held" [ "$(js 'j["bundle"]')" = None ]
	check "$mode: ... and status says why" [ "$(js 'j["state"]["refused"]')" = "$WHY" ]
	check "$mode: ... the log says so" grep -qF "the kept state was not resumed whole: $WHY" "$D/log"
	check "$mode: ... and STATUS=" grep -qF "$WHY" "$D/status"
	check "$mode: ... the token is kept" [ "$(js 'len(j["tokens"])')" = 1 ]
	check "$mode: ... status text says only part was refused" bash -c "'$PKISHARE' status | grep -q '^refused: *part of the previous state: the held bundle'"
	if join_as node-2 "$T/$mode-lost"; then fail "$mode: ... a join after the loss succeeded"; else pass "$mode: ... a join is refused"; fi
	check "$mode: ... status shows it" [ "$(js 'j["previous"]["reason"]')" = lost-at-restart ]
	expect_exit 1 "$mode: ... every used key is still refused" \
		"$PKISHARE" upload-certs --pki-dir "$R/pki" --certificate-key "$KEY"
	check "$mode: ... saying so" err_has "already used"
	expect_exit 1 "$mode: ... the first key too" \
		"$PKISHARE" upload-certs --pki-dir "$R/pki" --certificate-key "$OLDKEY"

	# A corrupted state file: written through a copy of the manager's descriptor.
	upload "$R/pki"
	STATE_FD=$(awk '$1 == "pkishared-state" { n = split($2, p, "/"); print p[n] }' "$D/store")
	/usr/bin/python3 - "$MGR" "$STATE_FD" <<'PY'
import ctypes, mmap, os, sys
pidfd = os.pidfd_open(int(sys.argv[1]))
fd = ctypes.CDLL(None, use_errno=True).syscall(438, pidfd, int(sys.argv[2]), 0)  # pidfd_getfd
assert fd >= 0, ctypes.get_errno()
size = os.fstat(fd).st_size
m = mmap.mmap(fd, size)
slots = [i for i in range(size - 8) if m[i:i + 8] == b"PKSHSTAT"]
assert len(slots) == 2, slots  # both slots written by now
for off in slots:  # the first byte of each body, under the MAC
    m[off + 64] ^= 0x5A
PY
	kill9
	check "$mode: a corrupted state: nothing held" [ "$(js 'j["bundle"]')" = None ]
	check "$mode: ... and status says why" [ "$(js 'j["state"]["refused"]')" = "neither copy of the state passes its integrity check (MAC)" ]
	check "$mode: ... what it held is lost, not never uploaded" [ "$(js 'j["previous"]["reason"]')" = lost-at-restart ]
	code=$(curl -s -o "$T/$mode-lost.json" -w '%{http_code}' --cacert "$R/pki/ca.crt" \
		--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
		"https://127.0.0.1:$(cat "$D/port")/v1/bundle" || true)
	check "$mode: ... a joiner is told 410 lost ($code)" bash -c "[ '$code' = 410 ] && grep -q '\"lost\"' '$T/$mode-lost.json'"
	check "$mode: ... a fresh state is kept" [ "$(js 'j["state"]["restores"], j["state"]["kept"]')" = "0 True" ]
	check "$mode: ... refused files left the store" [ "$(in_store pkishared-)" = 2 ]
	check "$mode: ... metrics say so" bash -c "curl -s --unix-socket '$D/admin.sock' http://x/metrics | grep -qx 'pkishare_state_refused 1'"

	# ExecStop's helper where it cannot ask systemd (no private bus here): it keeps.
	if [ "$mode" = memfd ]; then
		KEPT=$(in_store pkishared-)
		expect_exit 0 "--on-stop without a reachable systemd exits 0" env MAINPID="$(cat "$D/pid")" "$PKISHARED" --on-stop
		check "... says it keeps the state" err_has "cannot ask systemd which job runs"
		sleep 0.3
		check "... and wiped nothing ($KEPT files kept)" [ "$(in_store pkishared-)" = "$KEPT" ]
		expect_exit 0 "--on-stop without MAINPID" env -u MAINPID "$PKISHARED" --on-stop
		check "... says the daemon is not running" err_has "no MAINPID"
	fi

	# SIGUSR1 (systemctl stop's ExecStop): every file wiped and out of the store.
	upload "$R/pki"
	kill -USR1 "$(cat "$D/pid")"
	sleep 0.3
	check "$mode: SIGUSR1: the store is empty" store_has pkishared- 0
	check "$mode: SIGUSR1: the daemon still serves what it holds" [ "$(js 'j["bundle"] is not None')" = True ]
	check "$mode: SIGUSR1: the log says so" grep -q "the state kept in systemd's store is wiped" "$D/log"
	kill9
	check "$mode: after SIGUSR1 and a restart: nothing held" [ "$(js 'j["bundle"], j["state"]["restores"]')" = "None 0" ]
	kill "$MGR" 2>/dev/null || echo "fdstore.py had already ended" >&2
	wait "$MGR" || true
	[ "$FAILS" = 0 ] || { echo "--- $mode: fdstore.py and pkishared's log" >&2; cat "$D/log" >&2; }
	check "$mode: no sanitizer report from any of the daemons" bash -c "! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' '$D/log'"
done

# Run by hand: nothing is kept, and status says so.
start_daemon "$R"
check "by hand: status says the state ends with the process" bash -c \
	"'$PKISHARE' status | grep -q 'state: *not kept across restarts (not started by systemd'"
finish
