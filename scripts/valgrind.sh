#!/bin/bash
# scripts/valgrind.sh - memcheck over the unit tests, the fuzz corpora and one whole
# upload + join + curl session (daemon and client both under valgrind). Fails on any
# invalid access or leak. Run by scripts/test.sh; needs a built ./build-test.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-test}
VG=(valgrind --quiet --error-exitcode=66 --leak-check=full --show-leak-kinds=definite,indirect
	--errors-for-leak-kinds=definite,indirect --track-fds=no)
meson test -C "$B" --no-rebuild --suite unit --suite fuzz --wrapper "${VG[*]}" --num-processes 2 --print-errorlogs

T=$(mktemp -d /tmp/pkishare-vg.XXXXXX)
PID=
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; rm -rf "$T"' EXIT
P=$B/client/pkishare
"$P" pki init --dir "$T/c" --key-type ecdsa --address 127.0.0.1 >/dev/null
"${VG[@]}" --log-file="$T/daemon.vg" "$B/daemon/pkishared" --config /dev/null --listen 127.0.0.1:0 \
	--tls-cert "$T/c/pkishared/tls.crt" --tls-key "$T/c/pkishared/tls.key" \
	--client-ca "$T/c/clients/ca.crt" --admin-socket "$T/a.sock" 2>"$T/daemon.log" &
PID=$!
for _ in $(seq 1 200); do grep -q "listening on" "$T/daemon.log" && break; sleep 0.1; done
SERVER=$(grep -o 'listening on [^ ]*' "$T/daemon.log" | cut -d' ' -f3)
export PKISHARE_ADMIN_SOCKET=$T/a.sock
"${VG[@]}" "$P" upload-certs --pki-dir "$T/c/pki" >"$T/up"
KEY=$(tail -1 "$T/up")
"${VG[@]}" "$P" join --dry-run --server "https://$SERVER/" --ca-cert-hash "$("$P" pki ca-cert-hash "$T/c/pki/ca.crt")" \
	--certificate-key "$KEY" --cert "$T/c/clients/node-2.crt" --key "$T/c/clients/node-2.key" --pki-dir "$T/j/pki" >/dev/null
"${VG[@]}" "$P" join --server "$SERVER" --ca-cert-hash "$("$P" pki ca-cert-hash "$T/c/pki/ca.crt")" \
	--certificate-key "$KEY" --cert "$T/c/clients/node-2.crt" --key "$T/c/clients/node-2.key" --pki-dir "$T/j/pki" >/dev/null
curl -sS --cacert "$T/c/pki/ca.crt" --cert "$T/c/clients/node-3.crt" --key "$T/c/clients/node-3.key" \
	"https://$SERVER/v1/bundle" | "${VG[@]}" "$P" decrypt --certificate-key "$KEY" --pki-dir "$T/k/pki" >/dev/null
"${VG[@]}" "$P" token create >/dev/null
"${VG[@]}" "$P" status >/dev/null
diff -r -x pkishare-joined.json "$T/c/pki" "$T/j/pki" && diff -r -x pkishare-joined.json "$T/c/pki" "$T/k/pki"
kill -TERM "$PID"; rc=0; wait "$PID" || rc=$?; PID=
if [ "$rc" != 0 ] || grep -q "^==[0-9]*==" "$T/daemon.vg"; then
	echo "valgrind found problems in pkishared (exit $rc):"; cat "$T/daemon.vg"; exit 1
fi
echo "valgrind: unit tests, fuzz corpora, daemon and client session clean"
