#!/bin/bash
# The serving path: stalled handshakes cost the daemon nothing (it waits in the kernel),
# the client identity is decided once, in the handshake (a refused certificate never
# reaches a route; one fetch names its identity once in the audit log), and a fetch is
# served while the bundle is wiped under it.
. "$(dirname "$0")/lib.sh"

# The serving key is ECDSA P-256 by default (GnuTLS signs it far faster than RSA), still
# signed by the cluster CA, which keeps kubeadm's RSA default.
"$PKISHARE" pki init --dir "$T/d" --address 127.0.0.1 >"$T/d.log"
check "pki init: serving key ECDSA P-256 by default" bash -c "openssl x509 -in '$T/d/pkishared/tls.crt' -noout -text | grep -q 'NIST CURVE: P-256'"
check "pki init: cluster CA keeps RSA" bash -c "openssl x509 -in '$T/d/pki/ca.crt' -noout -text | grep -q rsaEncryption"
check "pki init: the serving certificate is signed by the cluster CA" \
	openssl verify -CAfile "$T/d/pki/ca.crt" "$T/d/pkishared/tls.crt"
"$PKISHARE" pki serving-cert --pki-dir "$T/d/pki" --out "$T/d/rsa" --serving-key-type rsa >/dev/null
check "pki serving-cert --serving-key-type rsa: an RSA serving key" bash -c "openssl x509 -in '$T/d/rsa/tls.crt' -noout -text | grep -q rsaEncryption"

R=$T/c1
make_pki "$R"
start_daemon "$R"
upload "$R/pki" --ttl 1h

# A client that sends a ClientHello and then says nothing for 2 s. libmicrohttpd's epoll
# mode spun a whole core on it (2.0 s of CPU in 2 s); waiting in select costs ~0.
cpu=$(/usr/bin/python3 "$(dirname "$0")/stall.py" 127.0.0.1 "$PORT" "$DAEMON_PID" 1 2)
check "one stalled handshake for 2 s: daemon CPU ${cpu}s < 0.5 s" \
	/usr/bin/python3 -c "import sys; sys.exit(0 if float('$cpu') < 0.5 else 1)"
cpu=$(/usr/bin/python3 "$(dirname "$0")/stall.py" 127.0.0.1 "$PORT" "$DAEMON_PID" 50 2)
check "50 stalled handshakes for 2 s: daemon CPU ${cpu}s < 0.5 s" \
	/usr/bin/python3 -c "import sys; sys.exit(0 if float('$cpu') < 0.5 else 1)"
check "the daemon serves after stalled clients" daemon_serves "$R"

# One fetch: the identity is decided once and named once.
: >"$DAEMON_LOG.mark"
lines_before=$(wc -l <"$DAEMON_LOG")
curl_fetch "$R" node-3 >"$T/b.json"
sleep 0.2
tail -n +"$((lines_before + 1))" "$DAEMON_LOG" >"$T/one.log"
check "one fetch: one audit line" [ "$(grep -c 'audit:' "$T/one.log")" = 1 ]
check "one fetch: it names the identity and where it comes from" \
	grep -q 'event=fetch .*client=node-3 source=client-ca .*result=ok' "$T/one.log"

# A certificate refused in the handshake never reaches a route: no HTTP-level refusal,
# one audit event with the reason.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=stranger \
	-keyout "$T/stranger.key" -out "$T/stranger.crt" -days 1 2>/dev/null
lines_before=$(wc -l <"$DAEMON_LOG")
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$R/pki/ca.crt" --cert "$T/stranger.crt" \
	--key "$T/stranger.key" "https://127.0.0.1:$PORT/v1/bundle" 2>/dev/null || true)
sleep 0.2
tail -n +"$((lines_before + 1))" "$DAEMON_LOG" >"$T/ref.log"
check "foreign certificate: no HTTP answer (got ${code:-none})" [ "${code:-000}" = 000 ]
check "foreign certificate: one audit event, refused in the handshake" \
	[ "$(grep -c 'result=tls-refused' "$T/ref.log")" = 1 ]
check "foreign certificate: it never reached a route" bash -c "! grep -q 'result=forbidden\|event=fetch' '$T/ref.log'"

# Bare TCP connects and idle connections do not count against the address: a join from
# it still works afterwards (they used to lock it out after 30).
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
/usr/bin/python3 - "$PORT" <<'PY'
import socket, sys
for _ in range(40):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.close()
PY
expect_exit 0 "join after 40 bare TCP connects from the same address" "$PKISHARE" join --server "$SERVER" \
	--ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
	--certificate-key "$KEY" --pki-dir "$T/j1/pki"

# Many concurrent fetches served by reference while the bundle is deleted under them:
# every answer is either the whole bundle or a clean refusal.
pids=()
for i in $(seq 1 20); do
	curl -sS -o "$T/par.$i" -w '%{http_code}\n' --cacert "$R/pki/ca.crt" --cert "$R/clients/node-2.crt" \
		--key "$R/clients/node-2.key" "https://127.0.0.1:$PORT/v1/bundle" >"$T/par.$i.code" 2>/dev/null &
	pids+=($!)
done
"$PKISHARE" delete-certs >/dev/null 2>&1 || true
wait "${pids[@]}" || true
bad=0
for i in $(seq 1 20); do
	case $(cat "$T/par.$i.code") in
	200) cmp -s "$T/par.$i" "$T/b.json" || bad=$((bad + 1)) ;;
	410) ;;
	*) bad=$((bad + 1)) ;;
	esac
done
check "fetches racing a delete: whole bundles or 410, nothing else ($bad bad)" [ "$bad" = 0 ]
check "the daemon serves after the race" daemon_serves "$R"
finish
