#!/bin/bash
# pkishared as a systemd service: the units verify and reach an exposure of 1.5 or lower;
# socket activation of both sockets by name; READY=1, STATUS= and WATCHDOG=1 on a test
# NOTIFY_SOCKET; SIGHUP swaps the serving certificate and keeps the held bundle.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
: "${UNIT_FILE:?}"

# 1. systemd-analyze verify and security, on the built unit pointed at the built binary.
mkdir -p "$T/units" "$T/man/man8" "$T/man/man5" "$T/man/man1"
sed -e "s#^ExecStart=[^ ]*#ExecStart=$PKISHARED#" -e "s#^ExecStop=+[^ ]*#ExecStop=+$PKISHARED#" -e "s#^ExecReload=[^ ]*#ExecReload=$PKISHARE#" "$UNIT_FILE" >"$T/units/pkishared.service"
cp "$SRC/systemd/pkishared.socket" "$SRC/systemd/pkishared-admin.socket" "$T/units/"
cp "$SRC/docs/pkishared.8" "$T/man/man8/"; cp "$SRC/docs/pkishared.conf.5" "$T/man/man5/"; cp "$SRC/docs/pkishare.1" "$T/man/man1/"
if command -v systemd-analyze >/dev/null; then
	check "systemd-analyze verify passes" bash -c "MANPATH='$T/man' systemd-analyze verify '$T/units/pkishared.service' '$T/units/pkishared.socket' '$T/units/pkishared-admin.socket' >'$T/verify.out' 2>&1 || { cat '$T/verify.out' >&2; exit 1; }; ! grep -q . '$T/verify.out' || { cat '$T/verify.out' >&2; exit 1; }"
	systemd-analyze security --offline=true "$T/units/pkishared.service" >"$T/security.out" 2>&1 || true
	EXPOSURE=$(grep -o 'Overall exposure level for pkishared.service: [0-9.]*' "$T/security.out" | grep -o '[0-9.]*$' || echo 99)
	check "exposure $EXPOSURE is 1.5 or lower" /usr/bin/python3 -c "import sys; sys.exit(0 if float('$EXPOSURE') <= 1.5 else 1)"
else
	fail "systemd-analyze is not installed"
fi

# A configuration error does not restart forever, and the first start does not wait for
# network-online.target (both sockets come from systemd).
check "unit: start limit of 5 starts a minute" bash -c "grep -qx 'StartLimitBurst=5' '$UNIT_FILE' && grep -qx 'StartLimitIntervalSec=60' '$UNIT_FILE'"
check "unit: exit 2 and 78 (configuration errors) are not restarted" grep -qx 'RestartPreventExitStatus=2 78' "$UNIT_FILE"
check "socket unit: one socket for IPv6 and IPv4 clients (BindIPv6Only=both)" grep -qx 'BindIPv6Only=both' "$SRC/systemd/pkishared.socket"
check "unit: no network-online.target dependency" bash -c "! grep -Eq '^(Wants|After|Requires)=.*network-online' '$UNIT_FILE'"

R=$T/c1
make_pki "$R"

# Memory that cannot be locked is said once, with the limit (no CAP_IPC_LOCK, limit 0).
# (AddressSanitizer makes mlock a no-op that succeeds: nothing to see in that build.)
if grep -qa __asan_init "$PKISHARED"; then
	echo "mlock warning: not checked in the AddressSanitizer build (mlock is a no-op there)"
elif command -v setpriv >/dev/null && command -v prlimit >/dev/null; then
	prlimit --memlock=0:0 setpriv --bounding-set -ipc_lock --inh-caps -ipc_lock -- \
		"${PKISHARED_RUN[@]}" --listen 127.0.0.1:0 --tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
		--client-ca "$R/clients/ca.crt" --admin-socket "$T/nolock.sock" >"$T/nolock.log" 2>&1 &
	NL=$!
	for _ in $(seq 1 100); do grep -q "listening on" "$T/nolock.log" && break; sleep 0.05; done
	kill "$NL"; wait "$NL" || true
	check "without CAP_IPC_LOCK and with RLIMIT_MEMLOCK 0: a warning naming the limit" \
		bash -c "grep -q 'cannot lock memory.*RLIMIT_MEMLOCK is 0 bytes.*CAP_IPC_LOCK' '$T/nolock.log'"
	check "and the daemon still started" grep -q "listening on" "$T/nolock.log"
fi
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
export PKISHARE_ADMIN_SOCKET=$T/admin.sock ADMIN=$T/admin.sock DAEMON_LOG=$T/daemon.log
SERVER=127.0.0.1:$PORT

# 2+3. Socket activation with both sockets passed in, under a test NOTIFY_SOCKET that
#      asks for a watchdog every 0.6 s.
/usr/bin/python3 "$(dirname "$0")/notify-listen.py" "$T/notify.sock" 6 "$T/notify.out" &
NOTIFY_PID=$!
for _ in $(seq 1 50); do [ -S "$T/notify.sock" ] && break; sleep 0.05; done
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=600000 systemd-socket-activate \
	-l "127.0.0.1:$PORT" -l "$T/admin.sock" --fdname=https:admin \
	-E NOTIFY_SOCKET -E WATCHDOG_USEC \
	"${PKISHARED_RUN[@]}" --tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
	--client-ca "$R/clients/ca.crt" --listen 127.0.0.1:1 --admin-socket "$T/unused.sock" >"$DAEMON_LOG" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 100); do [ -S "$T/admin.sock" ] && break; sleep 0.05; done
upload "$R/pki"
ID=$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')
check "socket activation: both sockets taken from systemd" grep -q "socket activation: 2 descriptor(s)" "$DAEMON_LOG"
check "socket activation: did not bind --listen or --admin-socket itself" [ ! -e "$T/unused.sock" ]
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
JOIN=(join --server "$SERVER" --ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key")
expect_exit 0 "join through the passed HTTPS socket" "$PKISHARE" "${JOIN[@]}" --certificate-key "$KEY" --pki-dir "$T/n1/pki"
check "join through socket activation: byte-identical" diff -r -x pkishare-joined.json "$R/pki" "$T/n1/pki"
wait "$NOTIFY_PID" || true
check "READY=1 sent" grep -q "READY=1" "$T/notify.out"
check "STATUS= says a bundle is held and until when" grep -q "STATUS=.*holding bundle ${ID:0:8} until 20" "$T/notify.out"
WD=$(grep -c "WATCHDOG=1" "$T/notify.out" || true)
check "periodic WATCHDOG=1 ($WD in ~5 s at 0.3 s intervals)" [ "$WD" -ge 5 ]

# 4. SIGHUP with a new serving certificate: the next handshake presents it, and the held
#    bundle is still served.
fp() { echo | openssl s_client -connect "$SERVER" -cert "$R/clients/node-2.crt" -key "$R/clients/node-2.key" 2>/dev/null |
	openssl x509 -noout -fingerprint -sha256; }
OLD_FP=$(fp)
"$PKISHARE" pki serving-cert --pki-dir "$R/pki" --out "$T/newtls" --node-name node-1 --address 127.0.0.1 --key-type ecdsa >/dev/null
cp "$T/newtls/tls.crt" "$R/pkishared/tls.crt"; cp "$T/newtls/tls.key" "$R/pkishared/tls.key"
kill -HUP "$(pgrep -f -n -- "--admin-socket $T/unused.sock")"
for _ in $(seq 1 200); do grep -q "reloaded the configuration" "$DAEMON_LOG" && break; sleep 0.1; done
NEW_FP=$(fp)
check "SIGHUP: the next handshake presents the new certificate" bash -c "[ -n '$NEW_FP' ] && [ '$NEW_FP' != '$OLD_FP' ] && [ '$NEW_FP' = \"\$(openssl x509 -in '$T/newtls/tls.crt' -noout -fingerprint -sha256)\" ]"
expect_exit 0 "SIGHUP: the held bundle is still served" "$PKISHARE" "${JOIN[@]}" --certificate-key "$KEY" --pki-dir "$T/n2/pki"
check "SIGHUP: same bundle id" grep -q "Opened bundle $ID" "$T/last.out"
# A broken file on reload keeps the running configuration.
echo garbage >"$R/pkishared/tls.key"
kill -HUP "$(pgrep -f -n -- "--admin-socket $T/unused.sock")"
sleep 0.5
expect_exit 0 "a bad reload keeps serving" "$PKISHARE" "${JOIN[@]}" --certificate-key "$KEY" --pki-dir "$T/n2/pki"

# 5. SIGTERM: exit 0.
kill -TERM "$(pgrep -f -n -- "--admin-socket $T/unused.sock")"; rc=0; wait "$DAEMON_PID" || rc=$?; DAEMON_PID=
[ "$rc" = 0 ] || tail -40 "$DAEMON_LOG" >&2
check "SIGTERM: exit 0 (got $rc)" [ "$rc" = 0 ]

# 6. The configuration file: settings from it, flags override it, errors name the line.
cat >"$T/pkishared.conf" <<CONF
# test configuration
tls-cert = $R/pkishared/tls.crt
tls-key = $T/newtls/tls.key
client-ca = $R/clients/ca.crt
listen = 127.0.0.1:1
ttl = 5m
CONF
cp "$T/newtls/tls.key" "$R/pkishared/tls.key"
start_daemon "$R" --config "$T/pkishared.conf"
check "configuration file read, --listen flag overrides it" [ "$PORT" != 1 ]
check "ttl from the file" grep -q "TTL 300s" "$DAEMON_LOG"
# listen is read by the one address parser when the file is read, by a reload too: a name
# there refuses the reload (which keeps the running configuration), as any bad value does.
sed -i 's/^listen = .*/listen = localhost:9443/' "$T/pkishared.conf"
expect_exit 1 "reload with 'listen = localhost:9443' in the file: refused" "$PKISHARE" reload
check "... the log names the file, the line and what listen takes" grep -q "pkishared.conf:5: listen: 'localhost:9443' is not an IP address; expected IPv4:PORT or \\[IPv6\\]:PORT" "$DAEMON_LOG"
expect_exit 0 "... and the daemon still answers" "$PKISHARE" status
sed -i 's/^listen = .*/listen = 127.0.0.1:1/' "$T/pkishared.conf"
stop_daemon
echo "bogus-setting = 1" >>"$T/pkishared.conf"
rc=0; "$PKISHARED" --config "$T/pkishared.conf" 2>"$T/conf.err" || rc=$?
check "unknown setting: exit 2, naming file and line (got $rc)" bash -c "[ $rc = 2 ] && grep -q 'pkishared.conf:7: unknown setting' '$T/conf.err'"

# 7. meson install puts everything where a distribution would.
if [ -n "${BUILD_ROOT:-}" ]; then
	meson install -C "$BUILD_ROOT" --destdir "$T/dest" --no-rebuild --quiet >/dev/null 2>&1 || true
	for f in sbin/pkishared bin/pkishare etc/pkishare/pkishared.conf share/man/man1/pkishare.1 \
		share/man/man8/pkishared.8 share/man/man5/pkishared.conf.5; do
		check "installed: $f" bash -c "find '$T/dest' -path '*/$f' | grep -q ."
	done
	for u in pkishared.service pkishared.socket pkishared-admin.socket; do
		check "installed unit: $u" bash -c "find '$T/dest' -path '*/systemd/system/$u' | grep -q ."
	done
fi
finish
