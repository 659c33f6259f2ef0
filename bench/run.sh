#!/bin/bash
# bench/run.sh - what serving costs pkishared, beside nginx and gnutls-serv serving the
# same bytes over mutual TLS with the same certificates. Prints tables; asserts nothing.
#   ROUNDS=3 SECONDS_PER_ROUND=3 JOINS=50 STALLED=50 bench/run.sh
#
# The figure that matters is the server's own CPU time per connection (utime + stime of
# all its threads, from /proc/PID/stat, over a run of `openssl s_time -new`): one s_time
# client is the bottleneck on a small machine, so connections per second mostly measure
# the client. Syscalls per connection come from `perf stat -e raw_syscalls:sys_enter`.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
install_deps "${BUILD_DEPS[@]}" "${RUN_DEPS[@]}" nginx-light gnutls-bin linux-perf procps bc
ROUNDS=${ROUNDS:-3}; SECS=${SECONDS_PER_ROUND:-3}; JOINS=${JOINS:-50}; STALLED=${STALLED:-50}
[ -d build-bench ] || meson setup build-bench -Dbuildtype=release >/dev/null
ninja -C build-bench >/dev/null
P=$PWD/build-bench/client/pkishare; D=$PWD/build-bench/daemon/pkishared
T=$(mktemp -d /tmp/pkishare-bench.XXXXXX)
PIDS=()
stop_all() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	[ -f "$T/nginx.pid" ] && kill "$(cat "$T/nginx.pid")" 2>/dev/null
	PIDS=(); rm -f "$T/nginx.pid"; sleep 0.3
}
trap 'stop_all; rm -rf "$T"' EXIT
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
# CPU seconds of processes (comma-separated pids), all threads.
cpu_s() { for p in ${1//,/ }; do cat "/proc/$p/stat"; done |
	awk -v hz="$(getconf CLK_TCK)" '{sub(/.*\) /, ""); s += $12 + $13} END {printf "%.4f\n", s / hz}'; }
anon_kb() { for p in ${1//,/ }; do awk '/^Anonymous:/ {print $2}' "/proc/$p/smaps_rollup"; done | awk '{s+=$1} END {print s}'; }

"$P" pki init --dir "$T/c" --address 127.0.0.1 >/dev/null # RSA cluster CA, ECDSA serving key
"$P" pki serving-cert --pki-dir "$T/c/pki" --out "$T/rsa" --address 127.0.0.1 --serving-key-type rsa >/dev/null
CLIENT=(-cert "$T/c/clients/node-2.crt" -key "$T/c/clients/node-2.key" -CAfile "$T/c/pki/ca.crt")

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

# start_servers CERTDIR: pkishared holding a bundle (--tls-failure-limit: the stalled
# clients below are cut at handshake-timeout and counted against 127.0.0.1, which then
# turned the joins away), nginx serving the same bytes as a
# file, gnutls-serv requiring and verifying client certificates; sets PORT_*, PID_*.
start_servers() {
	local cert=$1/tls.crt key=$1/tls.key
	PORT_P=$(free_port); PORT_N=$(free_port); PORT_G=$(free_port)
	export PKISHARE_ADMIN_SOCKET=$T/admin.sock
	"$D" --listen "127.0.0.1:$PORT_P" --tls-cert "$cert" --tls-key "$key" \
		--client-ca "$T/c/clients/ca.crt" --admin-socket "$T/admin.sock" --log-level warning \
		--tls-failure-limit 100000 2>"$T/d.log" &
	PID_P=$!; PIDS+=("$PID_P")
	for _ in $(seq 1 100); do [ -S "$T/admin.sock" ] && break; sleep 0.05; done
	sleep 0.2
	"$P" upload-certs --pki-dir "$T/c/pki" --ttl 2h >"$T/up"
	KEY=$(tail -1 "$T/up")
	mkdir -p "$T/www/v1"
	curl -sS --cacert "$T/c/pki/ca.crt" --cert "$T/c/clients/node-2.crt" --key "$T/c/clients/node-2.key" \
		"https://127.0.0.1:$PORT_P/v1/bundle" >"$T/www/v1/bundle"
	cat >"$T/nginx.conf" <<NGINX
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx-error.log;
events { worker_connections 1024; }
http {
    access_log off;
    server {
        listen 127.0.0.1:$PORT_N ssl;
        ssl_certificate $cert;
        ssl_certificate_key $key;
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
	gnutls-serv --http --httpdata "$T/www/v1/bundle" --port "$PORT_G" --x509certfile "$cert" \
		--x509keyfile "$key" --x509cafile "$T/c/clients/ca.crt" --require-client-cert \
		--verify-client-cert --priority "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" >/dev/null 2>&1 &
	PID_G=$!; PIDS+=("$PID_G")
	sleep 0.5
	local master; master=$(cat "$T/nginx.pid")
	PID_N=$( (echo "$master"; pgrep -P "$master") | tr '\n' ',' | sed 's/,$//')
	PID_NW=$(pgrep -P "$master" | head -1) # the worker: it does the TLS
}

# stime PORT SECONDS: connections made (full handshake + fetch each).
stime() { openssl s_time -connect "127.0.0.1:$1" -new -time "$2" -www /v1/bundle "${CLIENT[@]}" 2>/dev/null |
	awk '/connections in .* real seconds/ {print $1; exit}'; }
# cpu_per_conn PORT PIDS: the server's CPU milliseconds per connection over one run.
cpu_per_conn() {
	local before after n
	before=$(cpu_s "$2"); n=$(stime "$1" "$SECS"); after=$(cpu_s "$2")
	echo "scale=4; ($after - $before) * 1000 / $n" | bc
}
# syscalls_per_conn PORT PID: syscalls of all the server's threads per connection.
syscalls_per_conn() {
	perf stat -e raw_syscalls:sys_enter -p "$2" -x, -o "$T/perf.out" -- \
		openssl s_time -connect "127.0.0.1:$1" -new -time 2 -www /v1/bundle "${CLIENT[@]}" >"$T/st.out" 2>/dev/null
	local calls n
	calls=$(awk -F, '/raw_syscalls/ {print $1}' "$T/perf.out")
	n=$(awk '/connections in .* real seconds/ {print $1; exit}' "$T/st.out")
	echo "scale=1; $calls / $n" | bc
}
# stalled PORT PID: % of one core the server spends while STALLED clients sit mid-handshake 5 s.
stalled() {
	local s
	s=$(/usr/bin/python3 tests/integration/stall.py 127.0.0.1 "$1" "$2" "$STALLED" 5 2>"$T/stall.err")
	# "*": the server stopped accepting before all were open (one handshake at a time).
	echo "$(echo "scale=2; $s * 100 / 5" | bc)$(grep -q . "$T/stall.err" && echo '*')"
}
# rate PORT CLIENTS: connections per second with that many concurrent s_time clients.
rate() {
	local i
	for i in $(seq 1 "$2"); do stime "$1" "$SECS" >"$T/rate.$i" & done
	wait
	cat "$T/rate."* | awk -v s="$SECS" '{n += $1} END {printf "%.0f\n", n / s}'
	rm -f "$T/rate."*
}

declare -A R
for kt in ecdsa rsa; do
	start_servers "$([ $kt = ecdsa ] && echo "$T/c/pkishared" || echo "$T/rsa")"
	[ "$kt" = ecdsa ] && ANON_HELD=$(anon_kb "$PID_P") && RSS_HELD=$(ps -o rss= -p "$PID_P")
	rm -f "$T"/cpu.*
	for r in $(seq 1 "$ROUNDS"); do # alternating, so drift hits all three alike
		cpu_per_conn "$PORT_P" "$PID_P" >>"$T/cpu.p"
		cpu_per_conn "$PORT_N" "$PID_N" >>"$T/cpu.n"
		cpu_per_conn "$PORT_G" "$PID_G" >>"$T/cpu.g"
	done
	R[$kt.cpu.p]=$(median <"$T/cpu.p"); R[$kt.cpu.n]=$(median <"$T/cpu.n"); R[$kt.cpu.g]=$(median <"$T/cpu.g")
	R[$kt.sys.p]=$(syscalls_per_conn "$PORT_P" "$PID_P")
	R[$kt.sys.n]=$(syscalls_per_conn "$PORT_N" "$PID_NW")
	R[$kt.sys.g]=$(syscalls_per_conn "$PORT_G" "$PID_G")
	R[$kt.stall.p]=$(stalled "$PORT_P" "$PID_P")
	R[$kt.stall.n]=$(stalled "$PORT_N" "$PID_N")
	R[$kt.stall.g]=$(stalled "$PORT_G" "$PID_G")
	for c in 1 2; do
		R[$kt.rate$c.p]=$(rate "$PORT_P" $c); R[$kt.rate$c.n]=$(rate "$PORT_N" $c); R[$kt.rate$c.g]=$(rate "$PORT_G" $c)
	done
	if [ "$kt" = ecdsa ]; then
		# pkishare join end to end (process start, handshake, fetch, open, write, fsync),
		# curl fetching the same bundle, and the floor: starting pkishare at all. Timed
		# from one Python process, so no date/bc forks are counted.
		PIN=$("$P" pki ca-cert-hash "$T/c/pki/ca.crt")
		/usr/bin/python3 - "$P" "$PORT_P" "$PIN" "$KEY" "$T" "$JOINS" <<'PY' >"$T/join.txt"
import statistics, subprocess, sys, time
P, port, pin, key, T, n = sys.argv[1:]
def timed(argv):
    s = time.monotonic()
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=True)
    return (time.monotonic() - s) * 1000
client = ["--cert", T + "/c/clients/node-2.crt", "--key", T + "/c/clients/node-2.key"]
j, c, v = [], [], []
for i in range(int(n)):
    j.append(timed([P, "join", "--server", "127.0.0.1:" + port, "--ca-cert-hash", pin,
                    "--certificate-key", key, "--pki-dir", "%s/j%d/pki" % (T, i)] + client))
    c.append(timed(["curl", "-sS", "-o", "/dev/null", "--cacert", T + "/c/pki/ca.crt"] + client +
                   ["https://127.0.0.1:%s/v1/bundle" % port]))
    v.append(timed([P, "--version"]))
p90 = lambda x: sorted(x)[int(len(x) * 0.9 + 0.999) - 1]
print("%.1f %.1f %.1f %.1f %.1f" % (statistics.median(j), p90(j), statistics.median(c), p90(c),
                                    statistics.median(v)))
PY
		read -r JOIN_MED JOIN_P90 CURL_MED CURL_P90 START_MED <"$T/join.txt"
		SIZE=$(stat -c %s "$T/www/v1/bundle")
	fi
	stop_all
done

ratio() { echo "scale=2; $1 / $2" | bc; }
row() { printf '%-52s %11s %11s %11s\n' "$@"; }
for kt in ecdsa rsa; do
	printf '\n%s serving key (%s rounds of %ss, medians)\n' "$([ $kt = ecdsa ] && echo "ECDSA P-256" || echo "RSA-2048")" "$ROUNDS" "$SECS"
	row "measure" "pkishared" "nginx" "gnutls-serv"
	row "server CPU per mTLS connection + fetch, ms" "${R[$kt.cpu.p]}" "${R[$kt.cpu.n]}" "${R[$kt.cpu.g]}"
	row "  pkishared / that server" "" "$(ratio "${R[$kt.cpu.p]}" "${R[$kt.cpu.n]}")" "$(ratio "${R[$kt.cpu.p]}" "${R[$kt.cpu.g]}")"
	row "syscalls per connection (nginx: its worker)" "${R[$kt.sys.p]}" "${R[$kt.sys.n]}" "${R[$kt.sys.g]}"
	row "% of a core, $STALLED clients stalled mid-handshake 5 s" "${R[$kt.stall.p]}" "${R[$kt.stall.n]}" "${R[$kt.stall.g]}"
	row "connections/s, one s_time client" "${R[$kt.rate1.p]}" "${R[$kt.rate1.n]}" "${R[$kt.rate1.g]}"
	row "connections/s, two s_time clients" "${R[$kt.rate2.p]}" "${R[$kt.rate2.n]}" "${R[$kt.rate2.g]}"
done
printf '\n* the server stopped accepting before all %s stalled clients were connected\n\n' "$STALLED"
row "pkishare join, median ms ($JOINS joins, ECDSA key)" "$JOIN_MED" "" ""
row "pkishare join, 90th percentile ms" "$JOIN_P90" "" ""
row "curl fetch of the same bundle (a process), median ms" "$CURL_MED" "" ""
row "curl fetch, 90th percentile ms" "$CURL_P90" "" ""
row "pkishare --version (starting the process), median ms" "$START_MED" "" ""
row "resident memory holding a ${SIZE}-byte bundle, KiB" "$RSS_HELD" "" ""
row "  of which anonymous (not shared library pages), KiB" "$ANON_HELD" "" ""
row "start to READY=1, median ms (5 starts)" "$READY" "" ""
printf '\nsignatures per handshake cost (openssl speed, 1 s each):\n'
openssl speed -seconds 1 ecdsap256 rsa2048 2>/dev/null | grep -E '^(rsa|.*ecdsa)' | grep -v '^sign' || true
printf 'machine: %s, %s cores, %s\n' "$(uname -m)" "$(nproc)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
