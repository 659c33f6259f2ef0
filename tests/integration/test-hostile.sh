#!/bin/bash
# Hostile input and overload against the running daemon and the client. After each case:
# a clear error, nothing written, no secret leaked, and the daemon still serves a good
# client. (More cases live in test-refusals.sh, test-tokens.sh and test-kubeadm.sh;
# docs/threat-model.md lists them all.)
. "$(dirname "$0")/lib.sh"
D=$(dirname "$0")

R=$T/c1
make_pki "$R"
start_daemon "$R" --connection-max-age 3s --connection-timeout 60s
upload "$R/pki"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
curl_fetch "$R" node-3 >"$T/good.json"
ID=$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')
alive() { check "$1: daemon still serves, bundle $ID still held" bash -c \
	"'$PKISHARE' status -o json | grep -q '$ID' && curl -sS -o /dev/null -w '%{http_code}' --cacert '$R/pki/ca.crt' --cert '$R/clients/node-2.crt' --key '$R/clients/node-2.key' https://127.0.0.1:$PORT/healthz | grep -q 200"; }

# Admin API: hostile upload bodies are refused with 400 and a reason; the held bundle stays.
put() { curl -sS -o "$T/put.out" -w '%{http_code}' --unix-socket "$ADMIN" -X PUT --data-binary @"$1" \
	http://localhost/v1/bundle || true; }
mutate() { /usr/bin/python3 - "$T/good.json" "$T/m.json" "$1" <<'PY'
import json, sys
text = open(sys.argv[1], "rb").read()
how = sys.argv[3]
d = json.loads(text)
if how == "non-utf8":
    out = text.replace(b'"SealedBundle"', b'"Sealed\xff\xfeBundle"')
elif how == "duplicate":
    out = text.replace(b'"kind": "SealedBundle",', b'"kind": "SealedBundle", "kind": "SealedBundle",')
elif how == "missing":
    del d["keyId"]; out = json.dumps(d).encode()
elif how == "base64":
    d["files"][0]["data"] = "@@@@not base64@@@@"; out = json.dumps(d).encode()
elif how == "nul-name":
    d["files"][0]["name"] = "ca.crt\u0000.evil"; out = json.dumps(d).encode()
elif how == "unknown-name":
    d["files"][0]["name"] = "kubelet.conf"; out = json.dumps(d).encode()
elif how == "traversal":
    d["files"][0]["name"] = "../../../etc/cron.d/x"; out = json.dumps(d).encode()
elif how == "truncated":
    out = text[: len(text) // 2]
elif how == "deep":
    out = b"[" * 100000 + b"]" * 100000
elif how == "wrong-type":
    d["files"] = "all of them"; out = json.dumps(d).encode()
open(sys.argv[2], "wb").write(out)
PY
}
for how in non-utf8 duplicate missing base64 nul-name unknown-name traversal truncated deep wrong-type; do
	mutate "$how"
	code=$(put "$T/m.json")
	check "upload of a bundle with $how: 400 (got $code)" [ "$code" = 400 ]
	check "upload of a bundle with $how: says why" grep -q '"reason": "bad-bundle"' "$T/put.out"
	expect_exit 1 "pkishare decrypt of a bundle with $how refused" "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$T/never/pki" "$T/m.json"
done
check "no hostile bundle wrote anything" [ ! -e "$T/never" ]
alive "hostile uploads"

# A chunked upload over the cap is cut while it streams in.
head -c 3000000 /dev/zero | tr '\0' '{' >"$T/big"
code=$(curl -sS -o /dev/null -w '%{http_code}' --unix-socket "$ADMIN" -X PUT -H "Transfer-Encoding: chunked" \
	--data-binary @"$T/big" http://localhost/v1/bundle || true)
check "chunked oversized upload: 413 (got $code)" [ "$code" = 413 ]
alive "chunked oversized upload"

# Public API: a body on GET, an unknown route, a garbage request line.
C=(--cacert "$R/pki/ca.crt" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key")
code=$(curl -sS -o /dev/null -w '%{http_code}' "${C[@]}" -X GET --data "x=1" "https://127.0.0.1:$PORT/v1/bundle" || true)
check "GET with a body: 405 (got $code)" [ "$code" = 405 ]
code=$(curl -sS -o /dev/null -w '%{http_code}' "${C[@]}" "https://127.0.0.1:$PORT/v1/../etc/passwd" --path-as-is || true)
check "path traversal in the URL: 404 (got $code)" [ "$code" = 404 ]
(printf 'GARBAGE\r\n\r\n'; sleep 1) | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$PORT" -cert "$R/clients/node-2.crt" -key "$R/clients/node-2.key" >"$T/garbage.out" 2>/dev/null || true
check "garbage request line: connection closed, no bundle" bash -c "! grep -q SealedBundle '$T/garbage.out'"
(printf 'BREW /v1/bundle HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 1) | timeout 10 openssl s_client -quiet -connect "127.0.0.1:$PORT" -cert "$R/clients/node-2.crt" -key "$R/clients/node-2.key" >"$T/brew.out" 2>/dev/null || true
check "unknown method: 405, no bundle" bash -c "grep -q 'HTTP/1.1 405' '$T/brew.out' && ! grep -q SealedBundle '$T/brew.out'"
alive "malformed requests"

# Client certificates: expired, not yet valid, and from the right CA but for servers only.
/usr/bin/python3 "$D/mkcert.py" "$R/clients/ca.crt" "$R/clients/ca.key" "$T/expired" node-x -30 -1
/usr/bin/python3 "$D/mkcert.py" "$R/clients/ca.crt" "$R/clients/ca.key" "$T/future" node-y 1 30
for c in expired future; do
	rc=0; curl -sS --cacert "$R/pki/ca.crt" --cert "$T/$c.crt" --key "$T/$c.key" "https://127.0.0.1:$PORT/v1/bundle" >"$T/$c.out" 2>&1 || rc=$?
	check "$c client certificate: refused (curl exit $rc)" bash -c "[ $rc != 0 ] && ! grep -q SealedBundle '$T/$c.out'"
	expect_exit 7 "$c client certificate: join refused" "$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" \
		--cert "$T/$c.crt" --key "$T/$c.key" --certificate-key "$KEY" --pki-dir "$T/never/pki"
done
check "expired certificate: the reason is logged" grep -q "refused in the TLS handshake: .*expired" "$DAEMON_LOG"
alive "bad client certificates"

# An address that keeps presenting refused certificates is turned away at accept() for
# the rest of the minute (--tls-failure-limit, 30 by default); other addresses are not.
for i in $(seq 1 31); do
	curl -sS -o /dev/null --interface 127.0.0.9 --cacert "$R/pki/ca.crt" --cert "$T/expired.crt" --key "$T/expired.key" \
		"https://127.0.0.1:$PORT/healthz" 2>/dev/null || true
done
code=$(curl -sS -o /dev/null -w '%{http_code}' --interface 127.0.0.9 "${C[@]}" "https://127.0.0.1:$PORT/healthz" 2>/dev/null || true)
check "after 31 refused certificates, even a good one from that address is turned away (got ${code:-none})" [ "$code" != 200 ]
check "turning away counted in the metrics" bash -c "curl -sS ${C[*]} https://127.0.0.1:$PORT/metrics | grep -q 'stage=\"tls-handshake\"} [1-9]'"
alive "an address turned away"

# Enrollment: no token, a garbage CSR, a huge CSR.
code=$(curl -sS -o "$T/e.out" -w '%{http_code}' -k --data-binary "x" "https://127.0.0.1:$PORT/v1/enroll" || true)
check "enroll without a token: 401 (got $code)" [ "$code" = 401 ]
TOKEN=$("$PKISHARE" token create)
code=$(curl -sS -o "$T/e.out" -w '%{http_code}' -k -H "Authorization: Bearer $TOKEN" --data-binary "not a csr" "https://127.0.0.1:$PORT/v1/enroll" || true)
check "enroll with a garbage CSR: 400 (got $code)" [ "$code" = 400 ]
head -c 100000 /dev/urandom | base64 >"$T/huge.csr"
code=$(curl -sS -o "$T/e.out" -w '%{http_code}' -k -H "Authorization: Bearer $TOKEN" --data-binary @"$T/huge.csr" "https://127.0.0.1:$PORT/v1/enroll" || true)
check "enroll with a huge CSR: 413 (got $code)" [ "$code" = 413 ]
check "the token secret never reached the log" bash -c "! grep -q '${TOKEN#*.}' '$DAEMON_LOG'"
alive "hostile enrollment"

# A slow-drip client is cut at --connection-max-age (3 s here) although it is never idle.
DRIP=$(/usr/bin/python3 "$D/slowdrip.py" 127.0.0.1 "$PORT" "$R/pki/ca.crt" "$R/clients/node-2.crt" "$R/clients/node-2.key" 20)
check "slow-drip request cut before 20 s (after ${DRIP}s)" [ "$DRIP" != open ]
check "slow-drip cut audited" grep -q "result=too-slow" "$DAEMON_LOG"
alive "slow drip"

# A legitimate join gets through while 300 idle connections are open (from other
# loopback addresses, under the per-address limit).
/usr/bin/python3 - "$PORT" >"$T/idle.out" 2>&1 <<'PY' &
import socket, sys, time
conns = []
for i in range(300):
    s = socket.socket()
    s.bind(("127.0.0.%d" % (2 + i % 6), 0))
    s.connect(("127.0.0.1", int(sys.argv[1])))
    conns.append(s)
print("open", len(conns), flush=True)
time.sleep(6)
PY
IDLE_PID=$!
for _ in $(seq 1 50); do grep -q "open 300" "$T/idle.out" && break; sleep 0.1; done
check "300 idle connections are open" grep -q "open 300" "$T/idle.out"
expect_exit 0 "a join succeeds meanwhile" "$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" \
	--key "$R/clients/node-2.key" --certificate-key "$KEY" --pki-dir "$T/joined/pki"
check "that join is byte-identical" diff -r -x pkishare-joined.json "$R/pki" "$T/joined/pki"
wait "$IDLE_PID" || true
alive "idle connections"

# Targets that cannot be written: a full filesystem and a read-only one (in a private
# mount namespace; skipped where mounting is not allowed).
if unshare -m true 2>/dev/null; then
	cat >"$T/fs.sh" <<SH
set -e
mkdir -p "$T/full" "$T/ro"
mount -t tmpfs -o size=8k tmpfs "$T/full"
dd if=/dev/zero of="$T/full/filler" bs=1k count=100 2>/dev/null || true
mkdir -p "$T/full/pki"; echo keep >"$T/full/pki/apiserver.crt" || true
mount -t tmpfs -o ro,size=64k tmpfs "$T/ro"
rc=0; "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$T/full/pki" "$T/good.json" 2>"$T/full.err" || rc=\$?
echo "full \$rc"; ls -A "$T/full/pki" | tr '\n' ' '; echo
rc=0; "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$T/ro/pki" "$T/good.json" 2>"$T/ro.err" || rc=\$?
echo "ro \$rc"
SH
	if unshare -m bash "$T/fs.sh" >"$T/fs.out" 2>"$T/fs.err"; then
		check "full filesystem: refused" grep -q "^full [1-9]" "$T/fs.out"
		check "full filesystem: says so" grep -q "No space left" "$T/full.err"
		check "full filesystem: the target holds exactly what it held" grep -qx "apiserver.crt *" "$T/fs.out"
		check "read-only filesystem: refused" grep -q "^ro [1-9]" "$T/fs.out"
		check "read-only filesystem: says so" grep -q "Read-only file system" "$T/ro.err"
	else
		echo "skip: cannot mount tmpfs here ($(head -1 "$T/fs.err")); full and read-only filesystem cases did not run"
	fi
else
	echo "skip: no mount namespaces here; full and read-only filesystem cases did not run"
fi
# Log forging: libmicrohttpd unescapes %0A (and %0D) in the path, and a client without a
# certificate reaches the "no client certificate" refusal, whose line names the URL. No
# peer-controlled string may start a line of its own in the stderr log.
lines=$(wc -l <"$DAEMON_LOG")
FORGED='pkishared: audit: event=fetch peer=127.0.0.1:1 client=node-9 source=client-ca bundle=x result=ok: forged'
for sep in %0A %0D%0A %0D; do
	code=$(curl -sS -o /dev/null -w '%{http_code}' --path-as-is --cacert "$R/pki/ca.crt" \
		"https://127.0.0.1:$PORT/v1/bundle${sep}$(printf '%s' "$FORGED" | sed 's/ /%20/g')" 2>/dev/null || true)
	check "URL with $sep and a forged audit line: 403 (got $code)" [ "$code" = 403 ]
done
sleep 0.2
tail -n +$((lines + 1)) "$DAEMON_LOG" >"$T/forge.log"
check "the refusals are audited, one line each" bash -c "[ \$(grep -c 'no client certificate' '$T/forge.log') = 3 ]"
check "no forged line starts with 'pkishared: audit: event=fetch'" bash -c "! grep -q '^pkishared: audit: event=fetch' '$T/forge.log'"
check "no carriage return reaches the log" bash -c "! grep -q \$'\\r' '$T/forge.log'"
check "every new log line is one of the daemon's own" bash -c "! grep -v '^pkishared: ' '$T/forge.log' | grep -q ."
check "the URL is quoted, its newline shown as \\x0a" grep -q 'refused request for "/v1/bundle\\x0apkishared: audit: event=fetch' "$T/forge.log"
alive "forged log lines"
check "no certificate key in any log or message" bash -c "! grep -rq '$KEY' '$DAEMON_LOG' '$T'/*.err 2>/dev/null"
finish
