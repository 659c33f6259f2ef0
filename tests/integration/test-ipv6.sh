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
check "join over IPv6: byte-identical" diff -r -x pkishare-joined.json "$R/pki" "$T/j1/pki"
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
# The printed join commands work as printed (with --pki-dir added to keep /etc alone).
mkdir -p "$T/bin" "$T/paste"; ln -sf "$PKISHARE" "$T/bin/pkishare"
"$PKISHARE" token create --print-join-command --certificate-key "$KEY" >"$T/cmd.client" 2>/dev/null
check "printed join command names the bracketed server, quoted (a shell glob unquoted)" grep -q -- "--server '\[::1\]:$PORT' " "$T/cmd.client"
# A file the unquoted glob [::1]:PORT would match, in the directory it is pasted in.
touch "$T/paste/1:$PORT"
expect_exit 0 "the printed client command, pasted" bash -c "cd '$T/paste' && PATH='$T/bin':\$PATH \
	bash -c \"\$(sed 's|\$| --pki-dir $T/p1/pki|' '$T/cmd.client')\""
"$PKISHARE" token create --print-join-command --curl --certificate-key "$KEY" >"$T/cmd.curl" 2>/dev/null
sed -i '$ s|$| --pki-dir '"$T"'/p2/pki|' "$T/cmd.curl"
expect_exit 0 "the printed curl commands, pasted" bash -c "cd '$T/paste' && PATH='$T/bin':\$PATH bash -e '$T/cmd.curl'"
check "the pasted curl commands installed the PKI" diff -r -x pkishare-joined.json "$R/pki" "$T/p2/pki"
# Another client that sends the IP literal as SNI is refused by GnuTLS, and the audit
# line says so and what to do (not a silent close).
echo | timeout 10 openssl s_client -connect "$SERVER" -servername ::1 >/dev/null 2>&1 || true
sleep 0.2
check "an IP literal as SNI: audited with the reason and what to do" \
	grep -q 'result=tls-failed: .*sent the IP address ::1 as TLS server name (SNI).*-noservername' "$DAEMON_LOG"
"$PKISHARE" status -o json >"$T/status.json"
check "status: listen address bracketed" grep -q "\"listen\": \"\\[::1\\]:$PORT\"" "$T/status.json"
check "status: fetch log peers bracketed" grep -q '"peer": "\[::1\]:[0-9]*"' "$T/status.json"
check "audit lines: peers bracketed with their port" grep -q 'event=fetch peer=\[::1\]:[0-9]* client=node-2' "$DAEMON_LOG"

# --listen [::]:PORT takes IPv4 clients too (IPV6_V6ONLY off), shown as plain IPv4.
stop_daemon
start_daemon "$R" --listen '[::]:0'
check "[::]: an IPv6 client is served" bash -c "curl -sS -g -o /dev/null -w '%{http_code}' --cacert '$R/pki/ca.crt' \
	--cert '$R/clients/node-2.crt' --key '$R/clients/node-2.key' 'https://[::1]:$PORT/healthz' | grep -q 200"
check "[::]: an IPv4 client is served" bash -c "curl -sS -o /dev/null -w '%{http_code}' --cacert '$R/pki/ca.crt' \
	--cert '$R/clients/node-2.crt' --key '$R/clients/node-2.key' 'https://127.0.0.1:$PORT/healthz' | grep -q 200"
upload "$R/pki"
curl -sS -o /dev/null --cacert "$R/pki/ca.crt" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
	"https://127.0.0.1:$PORT/v1/bundle"
sleep 0.2
check "[::]: the IPv4 client is audited as 127.0.0.1, not ::ffff:127.0.0.1" grep -q 'event=fetch peer=127.0.0.1:[0-9]* ' "$DAEMON_LOG"
finish
