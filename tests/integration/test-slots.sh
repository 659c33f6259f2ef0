#!/bin/bash
# Connection slots (the third outside review's third finding): a few hundred connections
# that never finish a handshake, from a handful of addresses and taken again as soon as
# they are cut, no longer keep a node that finishes its handshake at once from being
# served. At connection-limit or per-network-limit the oldest connection that has shown
# no identity is cut for the newcomer; a handshake not finished within handshake-timeout
# is cut and counted against its address.
. "$(dirname "$0")/lib.sh"

R=$T/c
make_pki "$R"
SLOTS=$(dirname "$0")/slots.py

# fetches FROM N: N fetches of /healthz by a good client from source address FROM; how
# many were answered 200.
fetches() {
	local from=$1 n=$2 ok=0 i
	for i in $(seq 1 "$n"); do
		code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 10 --interface "$from" \
			--cacert "$R/pki/ca.crt" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
			"https://127.0.0.1:$PORT/healthz" 2>/dev/null || true)
		[ "$code" = 200 ] && ok=$((ok + 1))
		sleep 0.1
	done
	echo "$ok"
}

# Sixteen addresses of one /24, 40 slow connections each (under the per-address limit of
# 64), 640 in all, against a connection limit of 200: the network is held to its 128,
# and a node of another network is served; one of the same network too, in the place of
# the oldest silent connection.
start_daemon "$R" --connection-limit 200 --handshake-timeout 60s --connection-timeout 60s \
	--connection-max-age 60s
srcs=$(for i in $(seq 2 17); do printf '127.0.7.%d ' "$i"; done)
# shellcheck disable=SC2086
nice -n 10 /usr/bin/python3 "$SLOTS" 127.0.0.1 "$PORT" 8 40 $srcs >"$T/flood1.out" &
FLOOD=$!
sleep 2
ok=$(fetches 127.0.9.1 10)
check "16 addresses of one /24 hold slow connections: a node of another /24 is served ($ok of 10)" [ "$ok" = 10 ]
ok=$(fetches 127.0.7.200 10)
check "...and a node of the same /24, in the place of the oldest silent one ($ok of 10)" [ "$ok" = 10 ]
wait "$FLOOD" || true
echo "    flood: $(cat "$T/flood1.out")"
check "the cuts are audited as evicted" grep -q 'result=evicted.*per-network-limit' "$DAEMON_LOG"
stop_daemon

# Sixteen /24s, 20 slow connections each (320), against a connection limit of 100: at
# the limit the oldest silent connection is cut for each newcomer.
start_daemon "$R" --connection-limit 100 --handshake-timeout 60s --connection-timeout 60s \
	--connection-max-age 60s
srcs=$(for i in $(seq 10 25); do printf '127.0.%d.2 ' "$i"; done)
# shellcheck disable=SC2086
nice -n 10 /usr/bin/python3 "$SLOTS" 127.0.0.1 "$PORT" 8 20 $srcs >"$T/flood2.out" &
FLOOD=$!
sleep 2
ok=$(fetches 127.0.30.1 10)
check "16 networks fill connection-limit with slow connections: a good node is served ($ok of 10)" [ "$ok" = 10 ]
wait "$FLOOD" || true
echo "    flood: $(cat "$T/flood2.out")"
check "the cuts are audited as evicted" grep -q 'result=evicted.*connection-limit' "$DAEMON_LOG"
stop_daemon

# handshake-timeout: a connection that has not finished its handshake and sent its first
# request in time is cut, audited, and counted against its address (tls-failure-limit).
start_daemon "$R" --handshake-timeout 1s --tls-failure-limit 2
/usr/bin/python3 - "$PORT" >"$T/cut.out" <<'PY'
import socket, sys, time
socks = [socket.create_connection(("127.0.0.1", int(sys.argv[1])), source_address=("127.0.0.5", 0)) for _ in range(2)]
start = time.time()
for s in socks:
    s.settimeout(10)
    s.recv(1)  # b"" once cut
print("%.1f" % (time.time() - start))
PY
took=$(cat "$T/cut.out")
check "silent connections are cut after handshake-timeout (1 s; took ${took}s)" \
	/usr/bin/python3 -c "import sys; sys.exit(0 if 0.5 <= $took < 5 else 1)"
check "the cut is audited with its reason" grep -q 'peer=127.0.0.5:.*result=handshake-timeout.*handshake-timeout' "$DAEMON_LOG"
code=$(curl -sS -o /dev/null -w '%{http_code}' --interface 127.0.0.5 --cacert "$R/pki/ca.crt" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" "https://127.0.0.1:$PORT/healthz" 2>/dev/null || true)
check "two cut handshakes (--tls-failure-limit 2) turn the address away (got ${code:-none})" [ "${code:-000}" = 000 ]
ok=$(fetches 127.0.0.6 1)
check "...and no other address" [ "$ok" = 1 ]
# A client that finishes quickly and then idles is not a handshake-timeout.
check "a keep-alive connection idle past handshake-timeout after its first request is kept" \
	/usr/bin/python3 - "$PORT" "$R" <<'PY'
import socket, ssl, sys, time
port, r = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=r + "/pki/ca.crt")
ctx.check_hostname = False
ctx.load_cert_chain(r + "/clients/node-2.crt", r + "/clients/node-2.key")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)))
s.settimeout(5)


def healthz():
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    while b'"ok"' not in got:
        data = s.recv(4096)
        if not data:
            return b""
        got += data
    return got


healthz()
time.sleep(2)
sys.exit(0 if b" 200 " in healthz() else 1)
PY
check "the daemon serves" daemon_serves "$R"
finish
