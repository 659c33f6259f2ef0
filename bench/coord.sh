#!/bin/bash
# bench/coord.sh - what coordination costs (issue 32): pkishare-coordd's operations against
# a real 3-member etcd cluster (TLS, client certificates) on loopback addresses of its own.
# Prints figures; asserts nothing.
#   CLAIMS=300 IDLE_SECONDS=20 bench/coord.sh
#
# - a claim's latency through coordd (pkishared's socket call to the answer: the snapshot
#   read and the compare-and-swap, two etcd round trips), median and 90th/99th percentile;
# - an announce's and a view's latency;
# - coordd's CPU while idle for IDLE_SECONDS, with and without a parked wait (its watch
#   of the prefix held open), and its wake-ups (voluntary context switches);
# - a fetch end to end (curl: TLS handshake, the claim, the bundle) from pkishared with
#   coordination on and from a standalone pkishared, median and p90: what coordination
#   adds to a join; pkishared's CPU per fetch in each; an idle coordinated pkishared's CPU
#   and wake-ups over IDLE_SECONDS (its watcher long-polls coordd).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
install_deps "${BUILD_DEPS[@]}" libcurl4-openssl-dev etcd-server openssl python3 curl
CLAIMS=${CLAIMS:-300}; IDLE=${IDLE_SECONDS:-20}
[ -d build-bench-coord ] || meson setup build-bench-coord -Dbuildtype=release -Dcoordination=enabled >/dev/null
ninja -C build-bench-coord >/dev/null
P=$PWD/build-bench-coord/client/pkishare; C=$PWD/build-bench-coord/coordd/pkishare-coordd
D=$PWD/build-bench-coord/daemon/pkishared; FETCHES=${FETCHES:-200}
T=$(mktemp -d /tmp/pkishare-bench-coord.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$T"' EXIT
cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=etcd-ca -keyout ca.key -out ca.crt 2>/dev/null
for i in 1 2 3; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=m$i" \
		-keyout "m$i.key" -out "m$i.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,IP:127.0.0.2%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$i" >"m$i.ext"
	openssl x509 -req -in "m$i.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
		-extfile "m$i.ext" -out "m$i.crt" 2>/dev/null
done
mkdir -p pki/etcd && cp ca.crt ca.key pki/etcd/
"$P" pki etcd-client-cert --pki-dir pki --out coordd >/dev/null
CLUSTER=m1=https://127.0.0.21:2380,m2=https://127.0.0.22:2380,m3=https://127.0.0.23:2380
for i in 1 2 3; do
	etcd --name "m$i" --data-dir "$T/data-$i" \
		--listen-client-urls "https://127.0.0.2$i:2379" --advertise-client-urls "https://127.0.0.2$i:2379" \
		--listen-peer-urls "https://127.0.0.2$i:2380" --initial-advertise-peer-urls "https://127.0.0.2$i:2380" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token "bench-$$" \
		--client-cert-auth --trusted-ca-file ca.crt --cert-file "m$i.crt" --key-file "m$i.key" \
		--peer-client-cert-auth --peer-trusted-ca-file ca.crt --peer-cert-file "m$i.crt" --peer-key-file "m$i.key" \
		--logger zap --log-outputs "$T/m$i.log" &
	PIDS+=($!)
done
printf 'etcd-endpoints = https://127.0.0.21:2379,https://127.0.0.22:2379,https://127.0.0.23:2379\netcd-ca = %s\netcd-cert = %s\netcd-key = %s\netcd-prefix = /bench/\nsocket = %s\n' \
	"$T/coordd/ca.crt" "$T/coordd/client.crt" "$T/coordd/client.key" "$T/coord.sock" >coordd.conf
up=0
for _ in $(seq 1 150); do "$C" --config coordd.conf --check >check.out 2>&1 && { up=1; break; }; sleep 0.2; done
[ "$up" = 1 ] || { echo "bench/coord.sh: etcd did not come up:"; cat check.out; tail -5 "$T/m1.log"; exit 1; }
"$C" --config coordd.conf 2>"$T/coordd.log" &
CPID=$!
PIDS+=($CPID)
for _ in $(seq 1 50); do [ -S coord.sock ] && break; sleep 0.1; done

/usr/bin/python3 - "$T/coord.sock" "$CLAIMS" "$CPID" "$IDLE" <<'PY'
import json, os, socket, statistics, sys, threading, time
sock, n, pid, idle = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s.connect(sock)
def call(op, args, timeout=5000, conn=s):
    c = os.urandom(16).hex()
    conn.send(json.dumps({"v": 1, "op": op, "cookie": c, "timeoutMs": timeout, "args": args}).encode())
    r = json.loads(conn.recv(65536)); assert r["cookie"] == c and r["ok"], r
    return r["result"]
def timed(op, args):
    t = time.perf_counter(); call(op, args); return (time.perf_counter() - t) * 1000
def pct(v, p): v = sorted(v); return v[min(len(v) - 1, int(len(v) * p))]
ann = []
for _ in range(20):
    ann.append(timed("announce", {"id": os.urandom(16).hex(), "keyId": os.urandom(8).hex(),
        "sha256": os.urandom(32).hex(), "bytes": 4096, "expiresAt": "2099-01-01T00:00:00Z",
        "maxFetches": 0, "hasExternal": False, "allowDropExternal": False, "origin": "bench"}))
bid = call("view", {})["current"]["id"]
claims = [timed("claim", {"id": bid, "claimId": os.urandom(16).hex(), "client": "n%d" % i,
    "cert": "", "source": "enrolled", "peer": "127.0.0.1:1"}) for i in range(n)]
views = [timed("view", {}) for _ in range(100)]
def cpu():
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    st = dict(l.split(":\t") for l in open("/proc/%s/status" % pid).read().splitlines() if ":\t" in l)
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK"), int(st["voluntary_ctxt_switches"])
c0, w0 = cpu(); time.sleep(idle); c1, w1 = cpu()
rev = call("view", {})["revision"]
s2 = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET); s2.connect(sock)
waits = {"n": 0}
def waiter():
    end = time.time() + idle
    while time.time() < end:
        call("wait", {"since": rev}, timeout=30000, conn=s2); waits["n"] += 1
t = threading.Thread(target=waiter); c2, w2 = cpu(); t.start(); t.join(); c3, w3 = cpu()
print("%-58s %10s %10s %10s" % ("coordd against a 3-member etcd (TLS, loopback)", "median", "p90", "p99"))
for name, v in (("announce (key id + current, one txn), ms", ann),
                ("claim (snapshot read + compare-and-swap), ms", claims),
                ("view (snapshot + count), ms", views)):
    print("%-58s %10.2f %10.2f %10.2f" % (name, statistics.median(v), pct(v, .9), pct(v, .99)))
print("%-58s %10d" % ("claims measured", n))
print("%-58s %10.3f CPU s, %d wake-ups" % ("idle %gs, no wait parked" % idle, c1 - c0, w1 - w0))
print("%-58s %10.3f CPU s, %d wake-ups (%d waits)" % ("idle %gs, a wait parked (its watch open)" % idle,
      c3 - c2, w3 - w2, waits["n"]))
PY

# pkishared with and without coordination: the same PKI, the same client, one fetch per
# TLS connection (a repeat by the same certificate: claimed in etcd, not counted).
"$P" pki init --dir "$T/n" --node-name bench-1 --address 127.0.0.24 --node-certs --client bench-2 >/dev/null
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
task_wakeups() { cat /proc/"$1"/task/*/status | awk '/^voluntary_ctxt_switches/ {n += $2} END {print n}'; }
fetch_run() { # fetch_run LABEL [pkishared flags]
	local label=$1; shift
	: >"$T/empty.conf"
	"$D" --config "$T/empty.conf" --listen 127.0.0.24:9443 --tls-cert "$T/n/pkishared/tls.crt" \
		--tls-key "$T/n/pkishared/tls.key" --client-ca "$T/n/clients/ca.crt" \
		--admin-socket "$T/admin.sock" --log-level warning "$@" 2>>"$T/pkishared.log" &
	local dpid=$!
	for _ in $(seq 1 50); do [ -S "$T/admin.sock" ] && break; sleep 0.1; done
	sleep 1
	PKISHARE_ADMIN_SOCKET=$T/admin.sock "$P" upload-certs --pki-dir "$T/n/pki" --no-profile >/dev/null
	local c0; c0=$(cpu_of "$dpid")
	for _ in $(seq 1 "$FETCHES"); do
		curl -s -o /dev/null -w '%{time_total}\n' --cacert "$T/n/pki/ca.crt" \
			--cert "$T/n/clients/bench-2.crt" --key "$T/n/clients/bench-2.key" \
			https://127.0.0.24:9443/v1/bundle
	done >"$T/times-$label"
	local c1; c1=$(cpu_of "$dpid")
	/usr/bin/python3 - "$T/times-$label" "$label" "$c0" "$c1" "$FETCHES" <<'PY'
import os, statistics, sys
v = sorted(float(x) * 1000 for x in open(sys.argv[1]))
tck = os.sysconf("SC_CLK_TCK")
cpu = (int(sys.argv[4]) - int(sys.argv[3])) / tck / int(sys.argv[5]) * 1000
print("%-58s %10.2f %10.2f %10s" % ("fetch end to end (curl), %s, ms" % sys.argv[2],
      statistics.median(v), v[int(len(v) * .9)], ""))
print("%-58s %10.3f" % ("pkishared CPU per fetch, %s, ms" % sys.argv[2], cpu))
PY
	if [ "$label" = coordinated ]; then
		local i0 w0 i1 w1
		i0=$(cpu_of "$dpid"); w0=$(task_wakeups "$dpid")
		sleep "$IDLE"
		i1=$(cpu_of "$dpid"); w1=$(task_wakeups "$dpid")
		printf '%-58s %10.3f CPU s, %d wake-ups (all threads)\n' \
			"pkishared idle ${IDLE}s, coordination on" \
			"$(/usr/bin/python3 -c "print(($i1 - $i0) / $(getconf CLK_TCK))")" $((w1 - w0))
	fi
	kill "$dpid"; wait "$dpid" 2>/dev/null || true
}
fetch_run coordinated --coord-socket "$T/coord.sock" --node-name bench-1
fetch_run standalone

# Time from upload to N holders: three coordinated pkishared (one coordd, three node
# names), each upload-certs --replicas 3 timed from its start to "Held by 3", beside a
# plain upload-certs on the same nodes (the difference is the copies: the watch, a
# connection through coordd, TLS, the digest check, the hold and its registration).
REPL=${REPLICA_RUNS:-10}
"$P" pki init --dir "$T/r" --node-name rep-1 --address 127.0.0.24 --node-certs >/dev/null
RP=()
for i in 1 2 3; do
	"$P" pki serving-cert --pki-dir "$T/r/pki" --out "$T/r/s$i" --node-name "rep-$i" \
		--address "127.0.0.2$((i + 3))" >/dev/null
	"$D" --config "$T/empty.conf" --listen "127.0.0.2$((i + 3)):9443" \
		--tls-cert "$T/r/s$i/tls.crt" --tls-key "$T/r/s$i/tls.key" \
		--admin-socket "$T/radmin$i.sock" --log-level warning --coord-socket "$T/coord.sock" \
		--node-name "rep-$i" 2>>"$T/replicas.log" &
	RP+=($!)
	PIDS+=($!)
done
for i in 1 2 3; do for _ in $(seq 1 50); do [ -S "$T/radmin$i.sock" ] && break; sleep 0.1; done; done
sleep 2
timed_upload() { # timed_upload [flags]: milliseconds
	local t0 t1
	t0=$(date +%s%N)
	PKISHARE_ADMIN_SOCKET=$T/radmin1.sock "$P" upload-certs --pki-dir "$T/r/pki" --no-profile "$@" \
		>/dev/null || echo "upload failed" >&2
	t1=$(date +%s%N)
	echo $(((t1 - t0) / 1000000))
}
for _ in $(seq 1 "$REPL"); do timed_upload; done >"$T/up-plain"
for _ in $(seq 1 "$REPL"); do timed_upload --replicas 3; done >"$T/up-repl"
/usr/bin/python3 - "$T/up-plain" "$T/up-repl" <<'PY'
import statistics, sys
p = sorted(int(x) for x in open(sys.argv[1])); r = sorted(int(x) for x in open(sys.argv[2]))
print("%-58s %10.1f %10.1f" % ("upload-certs, one node (ms)", statistics.median(p), p[int(len(p) * .9)]))
print("%-58s %10.1f %10.1f" % ("upload-certs --replicas 3, until 3 hold it (ms)",
      statistics.median(r), r[int(len(r) * .9)]))
PY
