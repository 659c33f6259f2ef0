#!/bin/bash
# scripts/demo.sh - the main job on an embedded default, shown to a person:
# a throwaway cluster PKI, pkishared on 127.0.0.1, an upload, a join by the client and a
# join by curl + pkishare decrypt, then what happened. Touches nothing outside a scratch
# directory (kept for inspection with --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
KEEP=0
[ "${1:-}" = "--keep" ] && KEEP=1
install_deps "${BUILD_DEPS[@]}" "${RUN_DEPS[@]}"

if [ ! -d build ]; then meson setup build >/dev/null; fi
ninja -C build >/dev/null
PKISHARE=$PWD/build/client/pkishare
PKISHARED=$PWD/build/daemon/pkishared
D=$(mktemp -d /tmp/pkishare-demo.XXXXXX)
DAEMON_PID=
finish() {
	[ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null || true
	if [ "$KEEP" = 1 ]; then echo "(scratch directory kept: $D)"; else rm -rf "$D"; fi
}
trap finish EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
# runk COMMAND...: run with the certificate key in the environment, never an argument
# (every local user can read a process's arguments); shown as an operator types it.
runk() { printf '$ PKISHARE_CERTIFICATE_KEY=KEY %s\n' "$*"; PKISHARE_CERTIFICATE_KEY=$KEY "$@"; }

step "1. First control-plane node: a throwaway cluster PKI (kubeadm's layout)"
run "$PKISHARE" pki init --dir "$D/node1" --node-name node-1 --address 127.0.0.1 --client node-2 --client node-3
PIN=$("$PKISHARE" pki ca-cert-hash "$D/node1/pki/ca.crt")

step "2. Start pkishared on 127.0.0.1 (mutual TLS; admin socket in the scratch directory)"
export PKISHARE_ADMIN_SOCKET=$D/admin.sock
# The log exists before the daemon starts (the wait below must not race its creation),
# and --config /dev/null: the demo never merges a packaged /etc/pkishare/pkishared.conf.
: >"$D/pkishared.log"
"$PKISHARED" --config /dev/null --listen 127.0.0.1:0 --tls-cert "$D/node1/pkishared/tls.crt" \
	--tls-key "$D/node1/pkishared/tls.key" --client-ca "$D/node1/clients/ca.crt" \
	--admin-socket "$PKISHARE_ADMIN_SOCKET" 2>>"$D/pkishared.log" &
DAEMON_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$D/pkishared.log" && [ -S "$PKISHARE_ADMIN_SOCKET" ] && break; sleep 0.05; done
SERVER=$(grep -o 'listening on [^ ]*' "$D/pkishared.log" | cut -d' ' -f3)
echo "pkishared (pid $DAEMON_PID) listening on $SERVER"

step "3. Seal the shared PKI under a fresh certificate key and upload it (sealed in the client)"
run "$PKISHARE" upload-certs --pki-dir "$D/node1/pki" | tee "$D/upload.out"
KEY=$(tail -1 "$D/upload.out")
run "$PKISHARE" status

step "4. Joining node 2: pkishare join (server pinned by --ca-cert-hash, client certificate)"
runk "$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" \
	--cert "$D/node1/clients/node-2.crt" --key "$D/node1/clients/node-2.key" --pki-dir "$D/node2/pki"

step "5. Joining node 3: plain curl, piped into pkishare decrypt"
printf '$ curl --cacert ca.crt --cert node-3.crt --key node-3.key https://%s/v1/bundle | PKISHARE_CERTIFICATE_KEY=KEY pkishare decrypt --pki-dir %s\n' "$SERVER" "$D/node3/pki"
curl -sS --fail-with-body --cacert "$D/node1/pki/ca.crt" --cert "$D/node1/clients/node-3.crt" \
	--key "$D/node1/clients/node-3.key" "https://$SERVER/v1/bundle" |
	PKISHARE_CERTIFICATE_KEY=$KEY "$PKISHARE" decrypt --pki-dir "$D/node3/pki"

step "6. And what a stranger gets: a wrong key, and no client certificate"
PKISHARE_CERTIFICATE_KEY=$("$PKISHARE" certificate-key) "$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" \
	--cert "$D/node1/clients/node-2.crt" --key "$D/node1/clients/node-2.key" --pki-dir "$D/stranger/pki" || echo "(exit status $?)"
curl -sS --cacert "$D/node1/pki/ca.crt" "https://$SERVER/v1/bundle" || echo "(curl exit status $?: no bundle without a client certificate)"

step "What happened"
same() { diff -r -x pkishare-joined.json "$D/node1/pki" "$1" >/dev/null && echo "identical" || echo "DIFFERENT"; }
cat <<TXT
- node-1's PKI (ca, front-proxy-ca, etcd/ca, sa) was sealed with XChaCha20-Poly1305 under a
  certificate key that only the operator and the joining nodes saw; pkishared holds only
  the ciphertext, in locked memory, until $(grep -o 'at [0-9TZ:-]*' "$D/upload.out" | head -1 | cut -c4-).
- node-2 (pkishare join) checked the server against $PIN
  before sending anything, then fetched, authenticated and installed 8 files:
  $(same "$D/node2/pki") to node-1's, modes $(stat -c %a "$D/node2/pki/ca.key") for keys, $(stat -c %a "$D/node2/pki/ca.crt") for certificates.
- node-3 (curl + pkishare decrypt) got the same bundle: $(same "$D/node3/pki") to node-1's.
- a wrong key was told it is not the bundle's key, a client with no certificate got
  nothing, and neither wrote a file: $( [ -e "$D/stranger" ] && echo "SOMETHING WAS WRITTEN" || echo "nothing written").
- pkishared's audit log (journald fields when run by systemd):
TXT
grep "audit:" "$D/pkishared.log" | sed -E 's/^pkishared: audit: event=([^ ]+) peer=([^ ]+) client=(.*) bundle=([^ ]+) result=([^:]+): (.*)$/    \1 \5  peer=\2 client=\3: \6/' | cut -c1-110
