#!/bin/bash
# bench/run.sh - measured speed and weight of pkishared, beside nginx serving the same file
# over mutual TLS with the same certificates. Prints a table. Installs what it needs.
#   ROUNDS=3 SECONDS_PER_ROUND=5 JOINS=50 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
install_deps "${BUILD_DEPS[@]}" "${RUN_DEPS[@]}" nginx-light procps bc
ROUNDS=${ROUNDS:-3}; SECS=${SECONDS_PER_ROUND:-5}; JOINS=${JOINS:-50}
[ -d build-bench ] || meson setup build-bench -Dbuildtype=release >/dev/null
ninja -C build-bench >/dev/null
P=$PWD/build-bench/client/pkishare; D=$PWD/build-bench/daemon/pkishared
T=$(mktemp -d /tmp/pkishare-bench.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; [ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null; sleep 0.2; rm -rf "$T"' EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
p90() { sort -n | awk '{a[NR]=$1} END {i=int(NR*0.9+0.999); print a[i]}'; }
rss_kb() { ps -o rss= -p "$1" | awk '{s+=$1} END {print s}'; }
# Anonymous (private, not file-backed) memory, summed over processes: what the process
# itself costs, without the shared library pages that RSS counts once per process.
anon_kb() { for p in ${1//,/ }; do awk '/^Anonymous:/ {print $2}' "/proc/$p/smaps_rollup"; done | awk '{s+=$1} END {print s}'; }

"$P" pki init --dir "$T/c" --key-type ecdsa --address 127.0.0.1 >/dev/null

# Start to READY=1, measured with a notify socket (median of 5 starts).
for i in 1 2 3 4 5; do
	/usr/bin/python3 - "$D" "$T" <<'PY' >>"$T/ready.ms"
import os, socket, subprocess, sys, time
d, t = sys.argv[1], sys.argv[2]
path = t + "/notify.sock"
if os.path.exists(path): os.unlink(path)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(path)
env = dict(os.environ, NOTIFY_SOCKET=path)
start = time.monotonic()
p = subprocess.Popen([d, "--listen", "127.0.0.1:0", "--tls-cert", t + "/c/pkishared/tls.crt",
    "--tls-key", t + "/c/pkishared/tls.key", "--client-ca", t + "/c/clients/ca.crt",
    "--admin-socket", t + "/ready-admin.sock"], env=env, stderr=subprocess.DEVNULL)
while b"READY=1" not in s.recv(4096): pass
print("%.2f" % ((time.monotonic() - start) * 1000))
p.terminate(); p.wait()
PY
done
READY=$(median <"$T/ready.ms")

# pkishared with a bundle; nginx with the same certificates and a file of the same size.
PORT_P=$(free_port); PORT_N=$(free_port)
export PKISHARE_ADMIN_SOCKET=$T/admin.sock
"$D" --listen "127.0.0.1:$PORT_P" --tls-cert "$T/c/pkishared/tls.crt" --tls-key "$T/c/pkishared/tls.key" \
	--client-ca "$T/c/clients/ca.crt" --admin-socket "$T/admin.sock" --log-level warning 2>"$T/d.log" &
PIDS+=($!); DPID=$!
for _ in $(seq 1 100); do [ -S "$T/admin.sock" ] && break; sleep 0.05; done
sleep 0.3
RSS_IDLE=$(rss_kb "$DPID")
"$P" upload-certs --pki-dir "$T/c/pki" --ttl 2h >"$T/up"
KEY=$(tail -1 "$T/up")
C=(--cacert "$T/c/pki/ca.crt" --cert "$T/c/clients/node-2.crt" --key "$T/c/clients/node-2.key")
mkdir -p "$T/www/v1"
curl -sS "${C[@]}" "https://127.0.0.1:$PORT_P/v1/bundle" >"$T/www/v1/bundle"
SIZE=$(stat -c %s "$T/www/v1/bundle")
RSS_HELD=$(rss_kb "$DPID"); ANON_HELD=$(anon_kb "$DPID")
cat >"$T/nginx.conf" <<NGINX
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$PORT_N ssl;
        ssl_certificate $T/c/pkishared/tls.crt;
        ssl_certificate_key $T/c/pkishared/tls.key;
        ssl_client_certificate $T/c/clients/ca.crt;
        ssl_verify_client on;
        ssl_protocols TLSv1.3 TLSv1.2;
        ssl_session_tickets off;
        ssl_session_cache off;
        root $T/www;
        default_type application/json;
    }
}
NGINX
nginx -c "$T/nginx.conf" -p "$T"
sleep 0.3
NMASTER=$(cat "$T/nginx.pid")
NPIDS=$( (echo "$NMASTER"; pgrep -P "$NMASTER") | tr '\n' ',' | sed 's/,$//')
RSS_NGINX=$(ps -o rss= -p "$NPIDS" | awk '{s+=$1} END {print s}'); ANON_NGINX=$(anon_kb "$NPIDS")
NGINX_PROCS=$(echo "$NPIDS" | tr ',' '\n' | wc -l)

# Full handshakes + fetch per second, alternating servers, median of ROUNDS each.
stime() { openssl s_time -connect "127.0.0.1:$1" -new -time "$SECS" -www /v1/bundle \
	-cert "$T/c/clients/node-2.crt" -key "$T/c/clients/node-2.key" -CAfile "$T/c/pki/ca.crt" 2>/dev/null |
	awk '/connections in .* real seconds/ {print $1 / $4; exit}'; }
for r in $(seq 1 "$ROUNDS"); do
	stime "$PORT_P" >>"$T/hs.p"
	stime "$PORT_N" >>"$T/hs.n"
done
HS_P=$(median <"$T/hs.p"); HS_N=$(median <"$T/hs.n")

# pkishare join end to end (handshake, fetch, open, write, fsync), and a plain curl fetch.
PIN=$("$P" pki ca-cert-hash "$T/c/pki/ca.crt")
for i in $(seq 1 "$JOINS"); do
	s=$(date +%s%N)
	"$P" join --server "127.0.0.1:$PORT_P" --ca-cert-hash "$PIN" --certificate-key "$KEY" \
		--cert "$T/c/clients/node-2.crt" --key "$T/c/clients/node-2.key" --pki-dir "$T/j$i/pki" >/dev/null
	e=$(date +%s%N); echo "scale=2; ($e - $s) / 1000000" | bc >>"$T/join.ms"
	s=$(date +%s%N)
	curl -sS -o /dev/null "${C[@]}" "https://127.0.0.1:$PORT_P/v1/bundle"
	e=$(date +%s%N); echo "scale=2; ($e - $s) / 1000000" | bc >>"$T/curl.ms"
done

printf '\n%-58s %12s %12s\n' "measure" "pkishared" "nginx"
printf '%-58s %12s %12s\n' "full mTLS handshakes + fetch per second (median of $ROUNDS)" "$HS_P" "$HS_N"
printf '%-58s %12s\n' "  ratio pkishared / nginx" "$(echo "scale=2; $HS_P / $HS_N" | bc)"
printf '%-58s %12s\n' "pkishare join, median ms ($JOINS joins)" "$(median <"$T/join.ms")"
printf '%-58s %12s\n' "pkishare join, 90th percentile ms" "$(p90 <"$T/join.ms")"
printf '%-58s %12s\n' "curl fetch of the same bundle, median ms" "$(median <"$T/curl.ms")"
printf '%-58s %12s %12s\n' "resident memory, idle, KiB" "$RSS_IDLE" ""
printf '%-58s %12s %12s\n' "resident memory holding a ${SIZE}-byte bundle (nginx: $NGINX_PROCS procs), KiB" "$RSS_HELD" "$RSS_NGINX"
printf '%-58s %12s %12s\n' "  of which anonymous (not shared library pages), KiB" "$ANON_HELD" "$ANON_NGINX"
printf '%-58s %12s\n' "start to READY=1, median ms (5 starts)" "$READY"
printf '\nopenssl speed ecdsap256 (the signature each handshake costs):\n'
openssl speed -seconds 1 ecdsap256 2>/dev/null | tail -1
printf 'machine: %s, %s cores, %s\n' "$(uname -m)" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
