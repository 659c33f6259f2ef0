#!/bin/bash
# Enrollment under attack and over time: the token is checked before any CSR work, every
# failure of the route counts, only P-256 and RSA 2048-4096 with e=65537 are signed, a
# token use is spent only when a certificate is issued, and the enrollment CA is renewed
# before it expires while certificates it issued stay valid.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
start_daemon "$R" --auth-failure-limit 5
upload "$R/pki" --ttl 1h
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")

# csr NAME OPENSSL-GENPKEY-ARGS...: a CSR with CN=NAME for a key made with those arguments.
csr() {
	local n=$1; shift
	openssl genpkey "$@" -out "$T/$n.key" 2>/dev/null
	openssl req -new -key "$T/$n.key" -subj "/CN=$n" -out "$T/$n.csr" 2>/dev/null
}
# enroll CSRFILE TOKEN [IFACE]: the HTTP status; the body in $T/enroll.out
enroll() {
	curl -sS -o "$T/enroll.out" -w '%{http_code}' --cacert "$R/pki/ca.crt" ${3:+--interface "$3"} \
		-H "Authorization: Bearer $2" --data-binary @"$1" "https://127.0.0.1:$PORT/v1/enroll" 2>/dev/null || true
}
used() { "$PKISHARE" token list -o json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)[0]['used'])"; }

csr p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
csr p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
csr rsa512 -algorithm RSA -pkeyopt rsa_keygen_bits:512
csr rsa1024 -algorithm RSA -pkeyopt rsa_keygen_bits:1024
csr rsa2048 -algorithm RSA -pkeyopt rsa_keygen_bits:2048
csr rsa2048e3 -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -pkeyopt rsa_keygen_pubexp:3
TOKEN=$("$PKISHARE" token create --uses 2)

for k in p384 rsa512 rsa1024 rsa2048e3; do
	code=$(enroll "$T/$k.csr" "$TOKEN" 127.0.0.2)
	check "$k CSR refused with 400 (got $code)" [ "$code" = 400 ]
	check "$k CSR: the answer names the key policy" grep -q '"weak-key"' "$T/enroll.out"
done
check "refused CSRs spent no token use (used $(used))" [ "$(used)" = 0 ]
check "refused CSRs audited as weak-key" grep -q "result=weak-key" "$DAEMON_LOG"
code=$(enroll "$T/rsa2048.csr" "$TOKEN" 127.0.0.3)
check "RSA 2048 e=65537 CSR: 200 (got $code)" [ "$code" = 200 ]
code=$(enroll "$T/p256.csr" "$TOKEN" 127.0.0.3)
check "P-256 CSR: 200 (got $code)" [ "$code" = 200 ]
check "the two issued certificates are the two uses" bash -c "! '$PKISHARE' token list | grep -q '${TOKEN%%.*}'"

# A wrong token is refused before the CSR is looked at.
lines=$(wc -l <"$DAEMON_LOG")
code=$(enroll "$T/rsa2048e3.csr" aaaaaa.bbbbbbbbbbbbbbbb 127.0.0.4)
check "wrong token with a weak CSR: 401, not 400 (got $code)" [ "$code" = 401 ]
check "wrong token: the CSR was never judged" bash -c "tail -n +$((lines + 1)) '$DAEMON_LOG' | grep -q 'result=bad-token' &&
	! tail -n +$((lines + 1)) '$DAEMON_LOG' | grep -q 'weak-key\|bad-csr'"

# Every failure of the route counts: after 5 bad CSRs with a good token, the 6th try from
# that address is told to wait (429), while another address still enrolls.
TOKEN=$("$PKISHARE" token create --uses 5)
for _ in 1 2 3 4 5; do enroll "$T/rsa512.csr" "$TOKEN" 127.0.0.5 >/dev/null; done
code=$(enroll "$T/p256.csr" "$TOKEN" 127.0.0.5)
check "after 5 bad CSRs the address gets 429 (got $code)" [ "$code" = 429 ]
code=$(enroll "$T/p256.csr" "$TOKEN" 127.0.0.6)
check "another address still enrolls (got $code)" [ "$code" = 200 ]
stop_daemon

# The enrollment CA renews itself before it expires (here: lives 12 s, certificates 3 s,
# renewed when 6 s are left) and the previous one is retired once its certificates lapse.
# Built first: its certificate lives 3 s, a cold Go build on a loaded machine takes more.
export GOPROXY=off GO111MODULE=off GOCACHE=$T/gocache GOPATH=$T/gopath
go build -o "$T/tlsclient" "$(dirname "$0")/tlsclient.go"
start_daemon "$R" --enroll-ttl 3s --enroll-ca-lifetime 12s
upload "$R/pki" --ttl 1h
TOKEN=$("$PKISHARE" token create --uses 10)
ok=0
for i in 1 2 3 4; do
	"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --token "$TOKEN" \
		--certificate-key "$KEY" --node-name "cp-$i" --pki-dir "$T/r$i/pki" >/dev/null 2>"$T/r$i.err" && ok=$((ok + 1))
	sleep 3
done
check "joins by token across 12 s of renewals all succeed ($ok of 4)" [ "$ok" = 4 ]
check "the enrollment CA was renewed" grep -q "renewed the enrollment CA" "$DAEMON_LOG"
check "the previous enrollment CA was retired" grep -q "previous enrollment CA is no longer trusted" "$DAEMON_LOG"
# After renewals the CertificateRequest names the enrollment CAs in force, not the one
# of the start: a client that picks its certificate by those names (Go's crypto/tls)
# would otherwise send none with a certificate from the renewed CA.
code=$(enroll "$T/p256.csr" "$TOKEN")
check "enrolled after the renewals (got $code)" [ "$code" = 200 ]
cp "$T/enroll.out" "$T/renewed.crt"
ISSUER=$(openssl x509 -in "$T/renewed.crt" -noout -issuer -nameopt RFC2253 | sed 's/^issuer=CN=//')
check "the certificate comes from a renewed enrollment CA" grep -q "renewed the enrollment CA" "$DAEMON_LOG"
openssl s_client -connect "127.0.0.1:$PORT" -noservername </dev/null 2>/dev/null |
	sed -n '/Acceptable client certificate CA names/,/Requested Signature/p' >"$T/canames"
check "the CA names offered include its issuer ($ISSUER)" grep -q "$ISSUER" "$T/canames"
check "... and the operator's client CA" grep -q "pkishare-client-ca" "$T/canames"
check "Go's client sends the renewed CA's certificate and fetches (200)" \
	[ "$("$T/tlsclient" "127.0.0.1:$PORT" "$T/renewed.crt" "$T/p256.key" /v1/bundle)" = 200 ]
expect_exit 2 "enroll-ca-lifetime under three enroll-ttl is refused" "${PKISHARED_RUN[@]}" --tls-cert x \
	--tls-key x --client-ca x --enroll-ttl 10m --enroll-ca-lifetime 20m
finish
