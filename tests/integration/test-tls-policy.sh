#!/bin/bash
# TLS policy seen from outside with openssl: TLS 1.3 and TLS 1.2 AEAD work, older
# protocols and CBC suites are refused, and the daemon keeps serving.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
start_daemon "$R"
C=(-connect "127.0.0.1:$PORT" -CAfile "$R/pki/ca.crt" -cert "$R/clients/node-2.crt" -key "$R/clients/node-2.key")
# negotiates ARGS...: did a handshake with these s_client options agree on a cipher?
negotiates() {
	echo | timeout 10 openssl s_client "${C[@]}" "$@" >"$T/sc.out" 2>&1 || true
	grep -q "Cipher is [A-Z0-9]" "$T/sc.out" && ! grep -q "Cipher is (NONE)" "$T/sc.out"
}
refused() { ! negotiates "$@"; }
check "TLS 1.3 handshake works" negotiates -tls1_3
check "TLS 1.2 ECDHE-AEAD works" negotiates -tls1_2 -cipher ECDHE-ECDSA-AES256-GCM-SHA384
check "TLS 1.1 refused" refused -tls1_1 -cipher DEFAULT@SECLEVEL=0
check "TLS 1.0 refused" refused -tls1 -cipher DEFAULT@SECLEVEL=0
check "TLS 1.2 CBC suite refused" refused -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA
check "TLS 1.2 CBC-SHA256 suite refused" refused -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA256
check "daemon still serves after refused handshakes" daemon_serves "$R"
check "refused handshakes audited (not counted as refused certificates)" grep -q "result=tls-failed" "$DAEMON_LOG"
finish
