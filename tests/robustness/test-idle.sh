#!/bin/bash
# An idle daemon costs nothing, after every kind of event: pkishared's CPU time over an
# idle window, its descriptors, threads and memory are measured at start and again after
# a reload, an expiry, an enrollment CA renewal, a restore after kill -9, stalled clients
# (while they stall and after they are cut) and aborted handshakes. CPU is measured as
# CPU seconds the process spent (/proc/PID/stat), never as a rate of anything: an idle
# daemon wakes about once a second, a spinning one spends the whole window.
. "$(dirname "$0")/../integration/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
FDSTORE=$HERE/../integration/fdstore.py
R=$T/r
make_pki "$R"
WINDOW=${PKS_IDLE_WINDOW:-2}
# An idle window may cost at most this much CPU (a spin costs the whole window).
MAX_CPU=$(awk -v w="$WINDOW" 'BEGIN { print w * 0.1 }')
MAX_RSS_GROWTH_KB=16384

D=$T/d
mkdir -p "$D"
/usr/bin/python3 "$FDSTORE" "$D" -- "$PKISHARED" --config /dev/null --tls-cert "$R/pkishared/tls.crt" \
	--tls-key "$R/pkishared/tls.key" --client-ca "$R/clients/ca.crt" \
	--connection-timeout 4s --connection-max-age 6s \
	--enroll-ttl 3s --enroll-ca-lifetime 12s >"$D/log" 2>&1 &
MGR=$!
export PKISHARE_ADMIN_SOCKET=$D/admin.sock
up() { # wait until the daemon answers
	for _ in $(seq 200); do "$PKISHARE" status >/dev/null 2>&1 && return 0; sleep 0.05; done
	cat "$D/log" >&2
	return 1
}
up || { fail "the daemon did not start under fdstore.py"; finish; exit 1; }
PORT=$(cat "$D/port")
pid() { cat "$D/pid"; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$(pid)/stat"; }
fds() { find "/proc/$(pid)/fd" -mindepth 1 | wc -l; }
threads() { awk '/^Threads:/ { print $2 }' "/proc/$(pid)/status"; }
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$(pid)/status"; }
HZ=$(getconf CLK_TCK)
idle_cpu() { # CPU seconds spent over WINDOW seconds of nothing
	local a b
	a=$(cpu_ticks)
	sleep "$WINDOW"
	b=$(cpu_ticks)
	awk -v a="$a" -v b="$b" -v hz="$HZ" 'BEGIN { printf "%.3f", (b - a) / hz }'
}
measure() { # measure EVENT [open]: the idle window after it, against the baseline
	local what=$1 cpu open=${2:-}
	cpu=$(idle_cpu)
	echo "after $what: ${cpu}s CPU in ${WINDOW}s idle, $(fds) fds, $(threads) threads, $(rss_kb) kB RSS"
	check "after $what: idle CPU ${cpu}s in ${WINDOW}s (at most ${MAX_CPU}s)" \
		awk -v c="$cpu" -v m="$MAX_CPU" 'BEGIN { exit !(c <= m) }'
	if [ -n "$open" ]; then
		check "during $what: the connections are open ($(fds) fds, baseline $BASE_FDS)" [ "$(fds)" -gt "$BASE_FDS" ]
	elif [ -n "${BASE_FDS:-}" ]; then
		check "after $what: descriptors back to the baseline ($(fds), baseline $BASE_FDS)" [ "$(fds)" = "$BASE_FDS" ]
		check "after $what: threads back to the baseline ($(threads), baseline $BASE_THREADS)" [ "$(threads)" = "$BASE_THREADS" ]
		check "after $what: memory within ${MAX_RSS_GROWTH_KB} kB of the baseline ($(rss_kb) kB, baseline $BASE_RSS kB)" \
			[ "$(rss_kb)" -le $((BASE_RSS + MAX_RSS_GROWTH_KB)) ]
	fi
}
settled() { # the daemon has closed every client connection
	for _ in $(seq 100); do
		[ "$(fds)" = "$BASE_FDS" ] && return 0
		sleep 0.1
	done
	return 0
}
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
join() {
	"$PKISHARE" join --server "127.0.0.1:$PORT" --ca-cert-hash "$PIN" --certificate-key "$KEY" \
		--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/j$RANDOM" >/dev/null 2>&1
}

# Warm up the paths once (lazy allocations), then take the baseline.
upload "$R/pki" --ttl 60s
join
"$PKISHARE" delete-certs >/dev/null
sleep 1
BASE_FDS=$(fds) BASE_THREADS=$(threads) BASE_RSS=$(rss_kb)
BASE_FDS= measure "start"
BASE_FDS=$(fds)

kill -HUP "$(pid)"
sleep 0.5
check "the reload was taken" grep -q "reloaded" "$D/log"
measure "a reload (SIGHUP)"
kill -HUP "$(pid)"
sleep 0.5
measure "a second reload"

# (2 s, not 1: the bundle's times are whole seconds, so a 1 s bundle sealed late in a
# second can be expired by the time a slow build's daemon reads it.)
upload "$R/pki" --ttl 2s
join
sleep 3
check "the bundle expired" [ "$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"])')" = None ]
measure "an expiry"

for _ in $(seq 100); do grep -q "renewed the enrollment CA" "$D/log" && break; sleep 0.1; done
check "the enrollment CA was renewed" grep -q "renewed the enrollment CA" "$D/log"
measure "an enrollment CA renewal"

upload "$R/pki" --ttl 60s
N=$(($(cat "$D/starts") + 1))
kill -KILL "$(pid)"
for _ in $(seq 100); do [ "$(cat "$D/starts")" = "$N" ] && break; sleep 0.05; done
up
check "the restore kept the bundle" grep -q "resumed the state kept in systemd's store" "$D/log"
"$PKISHARE" delete-certs >/dev/null
sleep 1
BASE_FDS=$(fds) BASE_THREADS=$(threads) BASE_RSS=$(rss_kb)
measure "a restore after kill -9 (new baseline: a new process)"

# Stalled clients: a ClientHello and then nothing; the CPU while they stall, too.
STALL=$(/usr/bin/python3 "$HERE/../integration/stall.py" 127.0.0.1 "$PORT" "$(pid)" 20 "$WINDOW")
echo "while 20 clients stall after their ClientHello: ${STALL}s CPU in ${WINDOW}s"
check "while clients stall: CPU ${STALL}s (at most ${MAX_CPU}s)" awk -v c="$STALL" -v m="$MAX_CPU" 'BEGIN { exit !(c <= m) }'
# Connections that send nothing at all, held past the connection timeout.
/usr/bin/python3 - "$PORT" <<'PY' &
import socket, sys, time
s = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(20)]
time.sleep(3.5)
PY
SILENT=$!
sleep 0.5
measure "20 silent connections (still open)" open
wait "$SILENT" || true
settled
measure "stalled and silent clients (cut by the timeouts)"

# Aborted clients: handshakes cut by a reset at every stage.
/usr/bin/python3 - "$PORT" <<'PY'
import socket, ssl, struct, sys
port = int(sys.argv[1])
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
for i in range(60):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if i % 3 == 1:
        s.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")  # a ClientHello's start
    elif i % 3 == 2:
        try:
            t = ctx.wrap_socket(s, do_handshake_on_connect=False)
            t.setblocking(False)
            try:
                t.do_handshake()
            except ssl.SSLWantReadError:
                pass
            s = t
        except OSError:
            pass
    s.close()  # RST: SO_LINGER 0
PY
settled
measure "60 handshakes aborted by a reset"

kill "$MGR" 2>/dev/null || true
wait "$MGR" || true
check "no sanitizer report from any of the daemons" bash -c "! grep -E 'ERROR: (Address|Leak)Sanitizer|runtime error' '$D/log'"
[ "$FAILS" = 0 ] || { echo "--- fdstore.py and pkishared's log" >&2; tail -40 "$D/log" >&2; }
finish
