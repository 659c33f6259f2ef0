#!/bin/bash
# Over IPv6 loopback: join by client certificate and by token, curl + decrypt, a refusal,
# and bracketed addresses in status and the audit log. The client sends no SNI for an IP
# literal (RFC 6066): "::1" as SNI made GnuTLS end the handshake.
. "$(dirname "$0")/lib.sh"

if ! ip -6 addr show lo 2>/dev/null | grep -q '::1/128'; then
	echo "no IPv6 loopback here: skipped" >&2
	exit 77
fi
R=$T/c1
make_pki "$R" --address ::1
start_daemon "$R" --listen '[::1]:0'
check "the daemon listens on a bracketed IPv6 address" bash -c "[[ '$SERVER' =~ ^\[::1\]:[0-9]+$ ]]"
upload "$R/pki"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")

expect_exit 0 "join over IPv6 with a client certificate" "$PKISHARE" join --server "$SERVER" \
	--ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
	--certificate-key "$KEY" --pki-dir "$T/j1/pki"
check "join over IPv6: byte-identical" diff -r "$R/pki" "$T/j1/pki"
TOKEN=$("$PKISHARE" token create)
expect_exit 0 "join over IPv6 with a join token (enrollment)" "$PKISHARE" join --server "$SERVER" \
	--ca-cert-hash "$PIN" --token "$TOKEN" --certificate-key "$KEY" --node-name cp-6 --pki-dir "$T/j2/pki"
curl -sS -g --cacert "$R/pki/ca.crt" --cert "$R/clients/node-3.crt" --key "$R/clients/node-3.key" \
	"https://$SERVER/v1/bundle" >"$T/b.json"
expect_exit 0 "curl over IPv6 + decrypt" "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$T/j3/pki" "$T/b.json"
WRONG=$("$PKISHARE" certificate-key)
expect_exit 4 "a wrong key over IPv6 is refused as such" "$PKISHARE" join --server "$SERVER" \
	--ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
	--certificate-key "$WRONG" --pki-dir "$T/j4/pki"
"$PKISHARE" status -o json >"$T/status.json"
check "status: listen address bracketed" grep -q "\"listen\": \"\\[::1\\]:$PORT\"" "$T/status.json"
check "status: fetch log peers bracketed" grep -q '"peer": "\[::1\]:[0-9]*"' "$T/status.json"
check "audit lines: peers bracketed with their port" grep -q 'event=fetch peer=\[::1\]:[0-9]* client=node-2' "$DAEMON_LOG"
finish
