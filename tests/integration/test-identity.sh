#!/bin/bash
# Client identities: what a client certificate must be (EKU clientAuth, CA:FALSE,
# digitalSignature where key usage is present), enrolled identities kept apart from the
# client CA's (audit, fetch log, metrics, enrolled-fetch), and audit lines a CN cannot
# forge.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
start_daemon "$R" --allow 'node-*' --allow 'evil*'
upload "$R/pki" --ttl 1h
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")

# mkcert NAME SUBJECT EXTENSIONS: a P-256 certificate from the operator's client CA.
mkcert() {
	printf '%s\n' "$3" >"$T/$1.ext"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "$2" \
		-keyout "$T/$1.key" -out "$T/$1.csr" 2>/dev/null
	openssl x509 -req -in "$T/$1.csr" -CA "$R/clients/ca.crt" -CAkey "$R/clients/ca.key" \
		-CAcreateserial -days 1 -extfile "$T/$1.ext" -out "$T/$1.crt" 2>/dev/null
}
fetch_code() { # fetch_code NAME
	curl -sS -o /dev/null -w '%{http_code}' --cacert "$R/pki/ca.crt" --cert "$T/$1.crt" \
		--key "$T/$1.key" "https://127.0.0.1:$PORT/v1/bundle" 2>/dev/null || true
}
mkcert good /CN=node-7 "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
mkcert noeku /CN=node-8 "keyUsage=critical,digitalSignature"
mkcert isca /CN=node-9 "basicConstraints=critical,CA:TRUE
extendedKeyUsage=clientAuth"
mkcert nodsig /CN=node-10 "extendedKeyUsage=clientAuth
keyUsage=critical,keyEncipherment"
mkcert server /CN=node-11 "extendedKeyUsage=serverAuth"

check "client certificate with EKU clientAuth: 200" [ "$(fetch_code good)" = 200 ]
check "no extended key usage: refused in the handshake" [ "$(fetch_code noeku)" = 000 ]
check "a CA certificate (CA:TRUE): refused in the handshake" [ "$(fetch_code isca)" = 000 ]
# OpenSSL's client will not sign with that certificate; Go's presents it as it is, and
# GnuTLS refuses its signature (key usage violation) before our own check would.
export GOPROXY=off GO111MODULE=off GOCACHE=$T/gocache GOPATH=$T/gopath
go build -o "$T/tlsclient" "$(dirname "$0")/tlsclient.go"
check "the Go client gets 200 with the good certificate" \
	[ "$("$T/tlsclient" "127.0.0.1:$PORT" "$T/good.crt" "$T/good.key" /v1/bundle)" = 200 ]
check "key usage without digitalSignature: refused in the handshake" \
	[ "$("$T/tlsclient" "127.0.0.1:$PORT" "$T/nodsig.crt" "$T/nodsig.key" /v1/bundle)" = 000 ]
check "server purpose only: refused in the handshake" [ "$(fetch_code server)" = 000 ]
# A refused certificate is told so in TLS's terms (alert access_denied), not by a bare
# close: openssl over TLS 1.3, curl over TLS 1.2.
# (-ign_eof: s_client waits for the server instead of leaving at the end of its input,
# which over TLS 1.3 can come before the server has judged the certificate.)
timeout 20 openssl s_client -ign_eof -connect "127.0.0.1:$PORT" -noservername \
	-cert "$T/noeku.crt" -key "$T/noeku.key" -CAfile "$R/pki/ca.crt" </dev/null \
	>"$T/alert13.out" 2>&1 || true
check "TLS 1.3: the refusal arrives as alert access denied" grep -q 'alert access denied' "$T/alert13.out"
curl -sS --tlsv1.2 --tls-max 1.2 -o /dev/null --cacert "$R/pki/ca.crt" --cert "$T/isca.crt" \
	--key "$T/isca.key" "https://127.0.0.1:$PORT/v1/bundle" 2>"$T/alert12.out" || true
check "TLS 1.2: curl reports alert access denied" grep -q 'alert access denied' "$T/alert12.out"

sleep 0.2
check "the reasons are logged" bash -c "grep -q 'no extended key usage clientAuth' '$DAEMON_LOG' &&
	grep -q 'CA:TRUE' '$DAEMON_LOG'"

# A CN with spaces and an '=' cannot forge fields in the stderr audit line.
mkcert evil "/CN=evil result=ok source=client-ca" "extendedKeyUsage=clientAuth"
check "a CN with spaces still fetches (it is on the allow-list)" [ "$(fetch_code evil)" = 200 ]
sleep 0.2
check "the CN is quoted in the audit line" grep -q 'client="evil result=ok source=client-ca" source=client-ca' "$DAEMON_LOG"

# An enrolled identity named like a client-CA node is kept apart.
TOKEN=$("$PKISHARE" token create --uses 3)
expect_exit 0 "join --token as node-2 (the name of a client-CA node)" "$PKISHARE" join \
	--server "$SERVER" --ca-cert-hash "$PIN" --token "$TOKEN" --certificate-key "$KEY" \
	--node-name node-2 --pki-dir "$T/e1/pki"
sleep 0.2
check "the enrolled fetch is audited as enrolled" grep -q 'event=fetch .*client=node-2 source=enrolled .*result=ok' "$DAEMON_LOG"
curl -sS --cacert "$R/pki/ca.crt" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
	"https://127.0.0.1:$PORT/v1/bundle" >/dev/null
"$PKISHARE" status -o json >"$T/status.json"
check "status: the fetch log tells the two node-2 apart" /usr/bin/python3 - "$T/status.json" <<'PY'
import json, sys
log = json.load(open(sys.argv[1]))["bundle"]["fetchLog"]
srcs = sorted(e["clientSource"] for e in log if e["client"] == "node-2")
sys.exit(0 if srcs == ["client-ca", "enrolled"] else 1)
PY
# The public description plans a join; who fetched (names, addresses, certificates) is
# the operator's, in status only.
curl -sS --cacert "$R/pki/ca.crt" --cert "$T/good.crt" --key "$T/good.key" \
	"https://127.0.0.1:$PORT/v1/bundle/info" >"$T/info.json"
check "bundle/info: the fields a joiner plans with, no fetch log, no other node" \
	/usr/bin/python3 - "$T/info.json" <<'PY'
import json, sys
text = open(sys.argv[1]).read()
info = json.loads(text)
want = {"id", "keyId", "createdAt", "expiresAt", "expiresInSeconds", "fetches",
        "maxFetches", "bytes", "profile"}
sys.exit(0 if set(info) == want and "node-2" not in text and "127.0.0.1" not in text
         and info["fetches"] >= 3 else 1)
PY
curl -sS --cacert "$R/pki/ca.crt" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
	"https://127.0.0.1:$PORT/metrics" >"$T/metrics"
check "metrics count fetches by source" grep -q 'pkishare_bundle_fetches_by_source_total{source="enrolled"} 1' "$T/metrics"

# --allow does not apply to enrolled identities; enrolled-fetch decides for them.
stop_daemon
start_daemon "$R" --allow 'nobody' --enrolled-fetch no
upload "$R/pki" --ttl 1h
TOKEN=$("$PKISHARE" token create --uses 3)
expect_exit 7 "enrolled-fetch no: join --token is refused" "$PKISHARE" join \
	--server "$SERVER" --ca-cert-hash "$PIN" --token "$TOKEN" --certificate-key "$KEY" \
	--node-name node-5 --pki-dir "$T/e2/pki"
check "enrolled-fetch no: the refusal says why" grep -q "enrolled-fetch = no" "$T/last.err"
check "enrolled-fetch no: nothing written" [ ! -e "$T/e2/pki" ]
check "client-CA identity not on --allow: 403" [ "$(fetch_code good)" = 403 ]

# The issuer of the leaf decides the source, whatever else the chain holds: GnuTLS
# reorders a presented chain and drops certificates that are not part of it, so an
# enrolled certificate followed by junk, by itself again, or by a self-signed certificate
# named like the enrollment CA (the real one is never given out; GnuTLS drops a
# self-signed last certificate all the same) must stay enrolled: no fetch under
# enrolled-fetch = no, its CN never matched against --allow.
stop_daemon
start_daemon "$R" --allow 'node-*' --enrolled-fetch no
upload "$R/pki" --ttl 1h
TOKEN=$("$PKISHARE" token create --uses 1)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=node-7 \
	-keyout "$T/enr.key" -out "$T/enr.csr" 2>/dev/null
code=$(curl -sS -o "$T/enr.crt" -w '%{http_code}' --cacert "$R/pki/ca.crt" \
	-H "Authorization: Bearer $TOKEN" --data-binary @"$T/enr.csr" \
	"https://127.0.0.1:$PORT/v1/enroll" 2>/dev/null || true)
check "enrolled node-7 by curl (got $code)" [ "$code" = 200 ]
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=junk \
	-days 1 -keyout "$T/junk.key" -out "$T/junk.crt" 2>/dev/null
ENROLL_CA=$(openssl x509 -in "$T/enr.crt" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=//')
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-subj "/$ENROLL_CA" -addext basicConstraints=critical,CA:TRUE -days 1 \
	-keyout "$T/fakeca.key" -out "$T/fakeca.crt" 2>/dev/null
cat "$T/enr.crt" "$T/junk.crt" >"$T/enr-junk.crt"
cat "$T/enr.crt" "$T/enr.crt" >"$T/enr-twice.crt"
cat "$T/enr.crt" "$T/fakeca.crt" >"$T/enr-ca.crt"
cp "$T/enr.key" "$T/enr-junk.key"
cp "$T/enr.key" "$T/enr-twice.key"
cp "$T/enr.key" "$T/enr-ca.key"
check "the enrolled certificate alone: 403 (enrolled-fetch = no)" [ "$(fetch_code enr)" = 403 ]
for v in enr-junk enr-twice enr-ca; do
	lines=$(wc -l <"$DAEMON_LOG")
	code=$(fetch_code "$v")
	check "$v: still enrolled, 403 under enrolled-fetch = no (got $code)" [ "$code" = 403 ]
	sleep 0.2
	check "$v: audited as enrolled, never as the client-CA node-7" bash -c \
		"tail -n +$((lines + 1)) '$DAEMON_LOG' | grep -q 'client=node-7 source=enrolled' &&
		! tail -n +$((lines + 1)) '$DAEMON_LOG' | grep -q 'source=client-ca'"
done
"$PKISHARE" status >"$T/status.txt"
check "status: no fetch was served" grep -q 'fetches:    0' "$T/status.txt"
check "a client-CA node-7 still fetches" [ "$(fetch_code good)" = 200 ]
"$PKISHARE" status >"$T/status.txt"
check "status text: the fetch is shown as the client CA's node-7" \
	grep -q 'fetch 1: .* by node-7 (client-ca) from 127.0.0.1:' "$T/status.txt"
expect_exit 2 "enrolled-fetch takes yes or no" "${PKISHARED_RUN[@]}" --tls-cert x --tls-key x --client-ca x --enrolled-fetch maybe
# A repeat fetch is free only for the same certificate: another certificate with the
# same CN (from the same client CA) is another identity and counts against max-fetches.
stop_daemon
start_daemon "$R"
mkcert twin1 /CN=node-9 "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
mkcert twin2 /CN=node-9 "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
mkcert twin3 /CN=node-9 "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
upload "$R/pki" --max-fetches 2
check "node-9's first certificate fetches" [ "$(fetch_code twin1)" = 200 ]
check "... again: same bytes, not counted" [ "$(fetch_code twin1)" = 200 ]
check "... one fetch counted" [ "$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["fetches"])')" = 1 ]
check "a second certificate with CN=node-9: counted (the last of 2)" [ "$(fetch_code twin2)" = 200 ]
check "a third certificate with CN=node-9: the bundle is used up (410)" [ "$(fetch_code twin3)" = 410 ]

# The same certificate in other encodings (the third outside review's fifth finding): an
# ECDSA signature verifies with s and with n - s, and GnuTLS takes an INTEGER with a
# leading zero; each re-encoding had another SHA-256 and was counted as another identity.
# A repeat is keyed by what the CA signed (issuer and serial), so they are one.
stop_daemon
start_daemon "$R"
mkcert once /CN=node-12 "extendedKeyUsage=clientAuth
keyUsage=critical,digitalSignature"
/usr/bin/python3 - "$T/once.crt" "$T" <<'PY'
import sys
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding

N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551  # P-256's order


def der(tag, body):
    n = len(body)
    if n < 0x80:
        return bytes([tag, n]) + body
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + body


def integer(v, pad=0):
    b = v.to_bytes((v.bit_length() + 8) // 8, "big")  # a sign byte where needed
    return der(0x02, b"\0" * pad + b)


cert = x509.load_pem_x509_certificate(open(sys.argv[1], "rb").read())
r, s = decode_dss_signature(cert.signature)
alg = der(0x30, der(0x06, bytes.fromhex("2a8648ce3d040302")))  # ecdsa-with-SHA256
for name, sig in (("highs", der(0x30, integer(r) + integer(N - s))),
                  ("zeros", der(0x30, integer(r, pad=1) + integer(s)))):
    body = cert.tbs_certificate_bytes + alg + der(0x03, b"\0" + sig)
    pem = x509.load_der_x509_certificate(der(0x30, body)).public_bytes(Encoding.PEM)
    open("%s/%s.crt" % (sys.argv[2], name), "wb").write(pem)
PY
cp "$T/once.key" "$T/highs.key"
cp "$T/once.key" "$T/zeros.key"
check "the re-encodings are other bytes" bash -c "! cmp -s '$T/once.crt' '$T/highs.crt' && ! cmp -s '$T/once.crt' '$T/zeros.crt'"
upload "$R/pki" --max-fetches 2
check "node-12 fetches" [ "$(fetch_code once)" = 200 ]
check "node-12's certificate with the signature's s as n - s: served" [ "$(fetch_code highs)" = 200 ]
check "... with a leading zero in the signature's r: served" [ "$(fetch_code zeros)" = 200 ]
check "... one fetch counted for the three" [ "$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["fetches"])')" = 1 ]
check "the next node still gets the bundle (the last of 2)" [ "$(fetch_code good)" = 200 ]
finish
