#!/bin/bash
# A serving certificate file without its CA (the leaf alone, as an operator copies
# apiserver.crt-style files; outside review of issue 30): pkishared warns at start that
# joiners cannot check the pin and how to fix the file; a joiner is told the server sent
# no CA certificate (naming the leaf's issuer), not that the pin is wrong; nothing is sent
# or written.
. "$(dirname "$0")/lib.sh"
R=$T/c1
make_pki "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
awk '/BEGIN/{n++} n==1' "$R/pkishared/tls.crt" >"$T/leaf.crt"
mkdir -p "$T/leaf/pkishared" "$T/leaf/clients"
cp "$T/leaf.crt" "$T/leaf/pkishared/tls.crt"
cp "$R/pkishared/tls.key" "$T/leaf/pkishared/tls.key"
cp "$R/clients/"* "$T/leaf/clients/"
start_daemon "$T/leaf"
check "pkishared warns at start that the chain has no CA" \
	grep -q "warning: the serving certificate file $T/leaf/pkishared/tls.crt holds no CA certificate after the leaf" "$DAEMON_LOG"
check "... and how to fix it" grep -q "put the cluster CA's certificate after the leaf in that file ('pkishare pki serving-cert' writes it so)" "$DAEMON_LOG"
upload "$R/pki"
expect_exit 9 "a join against it is refused" "$PKISHARE" join --server "$SERVER" \
	--ca-cert-hash "$PIN" --certificate-key "$KEY" --cert "$R/clients/node-2.crt" \
	--key "$R/clients/node-2.key" --pki-dir "$T/n2/pki" --dry-run
check "... saying the server sent no CA certificate, naming the leaf's issuer" \
	err_has "the server sent no CA certificate, only its own (issued by /CN=kubernetes)"
check "... not blaming the pin" bash -c "! grep -q 'not the cluster you meant' '$T/last.err' && grep -q 'is not to blame' '$T/last.err'"
check "... nothing written" [ ! -e "$T/n2" ]
stop_daemon
# The full chain: no warning.
start_daemon "$R"
check "with the CA after the leaf, no such warning" bash -c "! grep -q 'holds no CA certificate' '$DAEMON_LOG'"
finish
