# lib.sh - shared helpers for the integration tests: a scratch directory, a throwaway
# PKI, a real pkishared on 127.0.0.1 (port picked by the kernel) and assertions.
# Sourced by each test; PKISHARE, PKISHARED and PROTO_DIR come from meson.
set -euo pipefail

: "${PKISHARE:?}" "${PKISHARED:?}" "${PROTO_DIR:?}"
T=$(mktemp -d /tmp/pkishare-it.XXXXXX)
DAEMON_PID=
# Never the host's /etc/pkishare/pkishared.conf: every daemon a test starts names its
# configuration file (an empty one unless the test gives its own --config after it).
NO_CONF=$T/pkishared-empty.conf
: >"$NO_CONF"
PKISHARED_RUN=("$PKISHARED" --config "$NO_CONF")
FAILS=0
CHECKS=0

cleanup() {
	if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
		kill "$DAEMON_PID" 2>/dev/null || true
		wait "$DAEMON_PID" 2>/dev/null || true
	fi
	[ -n "${KEEP_T:-}" ] || rm -rf "$T"
}
trap cleanup EXIT

pass() { CHECKS=$((CHECKS + 1)); echo "ok: $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL: $*" >&2; }
check() { # check DESCRIPTION COMMAND...
	local what=$1; shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
# expect_exit CODE DESCRIPTION COMMAND... (stderr kept in $T/last.err)
expect_exit() {
	local want=$1 what=$2; shift 2
	local rc=0
	"$@" >"$T/last.out" 2>"$T/last.err" || rc=$?
	if [ "$rc" = "$want" ]; then pass "$what (exit $rc)"; else
		fail "$what: exit $rc, wanted $want"; sed 's/^/    /' "$T/last.err" >&2; fi
}
err_has() { grep -q -- "$1" "$T/last.err"; }
finish() {
	echo "$CHECKS checks, $FAILS failed"
	[ "$FAILS" = 0 ]
}

# make_pki DIR [extra pki init args]
make_pki() {
	local dir=$1; shift
	"$PKISHARE" pki init --dir "$dir" --node-name node-1 --address 127.0.0.1 \
		--key-type ecdsa "$@" >"$dir.init.log"
}

# start_daemon PKIROOT [extra args]: sets PORT, SERVER, ADMIN, DAEMON_LOG
start_daemon() {
	local root=$1; shift
	start_daemon_token_only "$root" --client-ca "$root/clients/ca.crt" "$@"
}

# start_daemon_token_only PKIROOT [extra args]: the same without a client CA (token-only:
# only nodes that enroll with a join token can fetch).
start_daemon_token_only() {
	local root=$1; shift
	ADMIN=$T/admin.sock
	DAEMON_LOG=$T/daemon.log
	"${PKISHARED_RUN[@]}" --listen 127.0.0.1:0 --tls-cert "$root/pkishared/tls.crt" \
		--tls-key "$root/pkishared/tls.key" \
		--admin-socket "$ADMIN" "$@" >"$DAEMON_LOG" 2>&1 &
	DAEMON_PID=$!
	# Up to 30 s (a sanitizer build on a loaded machine starts slowly); a daemon that
	# exited ends the wait at once.
	for _ in $(seq 1 600); do
		if grep -q "listening on" "$DAEMON_LOG" 2>/dev/null && [ -S "$ADMIN" ]; then break; fi
		kill -0 "$DAEMON_PID" 2>/dev/null || break
		sleep 0.05
	done
	SERVER=$(grep -o 'listening on [^ ]*' "$DAEMON_LOG" | head -1 | cut -d' ' -f3 || true)
	PORT=${SERVER##*:}
	export PKISHARE_ADMIN_SOCKET=$ADMIN
	if [ -z "$PORT" ]; then
		cat "$DAEMON_LOG" >&2
		# What it was doing, for a start that hangs (seen once, with an empty log).
		if kill -0 "$DAEMON_PID" 2>/dev/null; then
			echo "daemon (pid $DAEMON_PID) still running after 30 s; its threads wait in:" >&2
			cat /proc/"$DAEMON_PID"/task/*/wchan 2>/dev/null | tr '\0' ' ' >&2 || true
			echo >&2
			ls -l /proc/"$DAEMON_PID"/fd >&2 2>/dev/null || true
		else
			local rc=0
			wait "$DAEMON_PID" 2>/dev/null || rc=$?
			echo "daemon exited with status $rc before it listened" >&2
		fi
		echo "daemon did not start" >&2
		exit 1
	fi
}

stop_daemon() {
	kill "$DAEMON_PID"
	wait "$DAEMON_PID" || true
	DAEMON_PID=
}

# upload PKIDIR [args]: sets KEY
upload() {
	local dir=$1; shift
	"$PKISHARE" upload-certs --pki-dir "$dir" "$@" >"$T/upload.out"
	KEY=$(tail -1 "$T/upload.out")
}

# curl_fetch ROOT CLIENT -> bundle on stdout (mutual TLS, CA-verified)
curl_fetch() {
	curl -sS --cacert "$1/pki/ca.crt" --cert "$1/clients/$2.crt" --key "$1/clients/$2.key" \
		"https://127.0.0.1:$PORT/v1/bundle"
}

# Is the daemon alive and serving a good client?
daemon_serves() {
	kill -0 "$DAEMON_PID" 2>/dev/null &&
		curl -sS -o /dev/null -w '%{http_code}' --cacert "$1/pki/ca.crt" \
			--cert "$1/clients/node-2.crt" --key "$1/clients/node-2.key" \
			"https://127.0.0.1:$PORT/healthz" | grep -q 200
}

# A fingerprint of a directory tree (names, modes, contents) or "absent".
tree_sum() {
	if [ -e "$1" ]; then
		(cd "$1" && find . -printf '%p %m %y\n' | sort && find . -type f -print0 | sort -z |
			xargs -0 -r sha256sum) | sha256sum | cut -d' ' -f1
	else echo absent; fi
}
