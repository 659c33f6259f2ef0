#!/bin/bash
# e2e.etcd-client: coordd's etcd client (coordd/etcd.c) against a real 3-member etcd
# cluster (Debian's etcd 3.4) with client and peer TLS and client-certificate auth, on
# loopback addresses of its own (127.0.0.11-13). What ../shared/etcd-coordination.md
# measured, held against our client: every call and its answer, compare-and-swap racers
# over three members (exactly LIMIT granted), lease expiry, a watch in order, a dead member
# skipped, a hung member (SIGSTOP) found by the watch's heartbeat and the watch resumed
# elsewhere without losing the write made meanwhile, quorum lost answered "no leader"
# (nothing applied, never "unknown outcome"), and service back after it returns. coordd
# on top: its deadlines run from each request's send however long it queued (answers
# within their time with the quorum lost), a request held past its time is answered
# timeout untried, one whose caller hung up is dropped, and one request waiting (a connect
# to a peer that never answers) does not hold another back.
set -euo pipefail
: "${PKS_ETCD_CHECK:?}" "${PKISHARE:?}"
if ! command -v etcd >/dev/null || ! command -v openssl >/dev/null; then
	echo "skip: needs etcd-server and openssl (scripts/test.sh installs them)"
	exit 77
fi
T=$(mktemp -d /tmp/pkishare-etcdc.XXXXXX)
PIDS=()
FAILS=0
CHECKS=0
cleanup() {
	for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT
check() { # check DESCRIPTION COMMAND...
	local what=$1; shift
	CHECKS=$((CHECKS + 1))
	if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; FAILS=$((FAILS + 1)); fi
}

# A CA, a certificate per member (serverAuth and clientAuth: the 3.4 gateway dials its own
# gRPC port with it), and coordd's client certificate.
cd "$T"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=etcd-ca -keyout ca.key -out ca.crt 2>/dev/null
for i in 1 2 3; do
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=m$i" \
		-keyout "m$i.key" -out "m$i.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1%s\nextendedKeyUsage=serverAuth,clientAuth\n' \
		",IP:127.0.0.1$i" >"m$i.ext"
	openssl x509 -req -in "m$i.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 \
		-extfile "m$i.ext" -out "m$i.crt" 2>/dev/null
done
# coordd's credential as the operator makes it: pkishare pki etcd-client-cert, from the
# etcd CA in a kubeadm-shaped PKI directory.
mkdir -p pki/etcd && cp ca.crt ca.key pki/etcd/
"$PKISHARE" pki etcd-client-cert --pki-dir pki --out coordd >/dev/null
cp coordd/client.crt client.crt && cp coordd/client.key client.key
printf 'extendedKeyUsage=clientAuth\n' >client.ext

CLUSTER=m1=https://127.0.0.11:2380,m2=https://127.0.0.12:2380,m3=https://127.0.0.13:2380
start_member() { # start_member I
	local i=$1
	etcd --name "m$i" --data-dir "$T/data-$i" \
		--listen-client-urls "https://127.0.0.1$i:2379" --advertise-client-urls "https://127.0.0.1$i:2379" \
		--listen-peer-urls "https://127.0.0.1$i:2380" --initial-advertise-peer-urls "https://127.0.0.1$i:2380" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token "etcdc-$$" \
		--client-cert-auth --trusted-ca-file ca.crt --cert-file "m$i.crt" --key-file "m$i.key" \
		--peer-client-cert-auth --peer-trusted-ca-file ca.crt --peer-cert-file "m$i.crt" --peer-key-file "m$i.key" \
		--experimental-watch-progress-notify-interval 1s \
		--logger zap --log-outputs "$T/m$i.log" &
	PIDS[$i]=$!
}
for i in 1 2 3; do start_member "$i"; done

export PKS_ETCD_CA=$T/ca.crt PKS_ETCD_CERT=$T/client.crt PKS_ETCD_KEY=$T/client.key
export PKS_ETCD_PREFIX=/pkishare-test/ PKS_ETCD_ENDPOINTS=https://127.0.0.11:2379,https://127.0.0.12:2379,https://127.0.0.13:2379
up=0
for _ in $(seq 1 100); do
	if "$PKS_ETCD_CHECK" put ready 1 >/dev/null 2>&1; then up=1; break; fi
	sleep 0.2
done
check "the cluster answers our client" [ "$up" = 1 ]
[ "$up" = 1 ] || { echo "$CHECKS checks, $FAILS failed"; exit 1; }

# 1. Every call.
PKS_ETCD_PREFIX=/pkishare-test/basic/ "$PKS_ETCD_CHECK" basic | tee "$T/basic.out" || true
check "every call does what etcd says" bash -c "! grep -q '^FAIL' '$T/basic.out' && grep -q '^ok: delete the prefix' '$T/basic.out'"

# 2. Twelve racers over three members, each starting at a different one: exactly 3 win.
for i in $(seq 1 12); do
	case $((i % 3)) in
	0) eps=https://127.0.0.11:2379,https://127.0.0.12:2379,https://127.0.0.13:2379 ;;
	1) eps=https://127.0.0.12:2379,https://127.0.0.13:2379,https://127.0.0.11:2379 ;;
	2) eps=https://127.0.0.13:2379,https://127.0.0.11:2379,https://127.0.0.12:2379 ;;
	esac
	PKS_ETCD_ENDPOINTS=$eps "$PKS_ETCD_CHECK" race "racer-$i" 3 >"$T/race-$i.out" &
done
wait_racers() { for i in $(seq 1 12); do while [ ! -s "$T/race-$i.out" ]; do sleep 0.1; done; done; }
timeout 60 bash -c "$(declare -f wait_racers); T=$T; wait_racers" || true
granted=$(cat "$T"/race-*.out | grep -c '^granted$' || true)
refused=$(cat "$T"/race-*.out | grep -c '^refused$' || true)
check "compare-and-swap over three members: exactly 3 of 12 granted ($granted granted, $refused refused)" \
	[ "$granted" = 3 -a "$refused" = 9 ]

# 3. pkishare-coordd: three of them, one per "node", each with its own socket and the
# members in another order, driven through proto/coord.md by an independent Python
# implementation: one-time keys cluster-wide, exactly maxFetches slots over three nodes,
# idempotent claims, repeats, holders, waits woken by another node, deletes everywhere.
if [ -n "${PKS_COORDD:-}" ]; then
	COORD_PIDS=()
	for i in 1 2 3; do
		case $i in
		1) eps=https://127.0.0.11:2379,https://127.0.0.12:2379,https://127.0.0.13:2379 ;;
		2) eps=https://127.0.0.12:2379,https://127.0.0.13:2379,https://127.0.0.11:2379 ;;
		3) eps=https://127.0.0.13:2379,https://127.0.0.11:2379,https://127.0.0.12:2379 ;;
		esac
		printf 'etcd-endpoints = %s\netcd-ca = %s\netcd-cert = %s\netcd-key = %s\netcd-prefix = /pkishare-test/coord/\nsocket = %s\n' \
			"$eps" "$T/ca.crt" "$T/client.crt" "$T/client.key" "$T/coord-$i.sock" >"$T/coordd-$i.conf"
		"$PKS_COORDD" --config "$T/coordd-$i.conf" 2>"$T/coordd-$i.log" &
		COORD_PIDS+=($!)
		PIDS+=($!)
	done
	for i in 1 2 3; do for _ in $(seq 1 50); do [ -S "$T/coord-$i.sock" ] && break; sleep 0.1; done; done
	"$PKS_COORDD" --config "$T/coordd-1.conf" --check >"$T/check.out" 2>&1 || true
	check "coordd --check says what it found" grep -q 'answers (revision' "$T/check.out" || cat "$T/check.out" "$T/coordd-1.log"
	/usr/bin/python3 "$(dirname "$0")/coordcheck.py" "$T/coord-1.sock" "$T/coord-2.sock" "$T/coord-3.sock" | tee "$T/coord.out" || true
	check "coordd: every scenario held" bash -c "grep -q '^coordcheck: 0 failed' '$T/coord.out'"
	# Requests held in coordd's queue (coordd 1 stopped meanwhile, as if busy): one past its
	# timeoutMs is answered timeout with nothing attempted, one whose caller hung up is
	# dropped (logged by its op), neither executed.
	/usr/bin/python3 "$(dirname "$0")/coordcheck.py" --queued "$T/coord-1.sock" "${COORD_PIDS[0]}" | tee "$T/queued.out" || true
	check "coordd: queued requests held to their send time" bash -c "grep -q '^coordcheck: 0 failed' '$T/queued.out'"
	check "coordd: the abandoned one is logged by its op" grep -q 'dropped a request (announce): its caller hung up' "$T/coordd-1.log"
	# Requests are decided side by side: a view is answered while a connect to a node
	# whose address never answers (a full accept queue on loopback) is still pending.
	/usr/bin/python3 "$(dirname "$0")/coordcheck.py" --concurrent "$T/coord-1.sock" | tee "$T/concurrent.out" || true
	check "coordd: a request is not held back by a connect that waits" bash -c "grep -q '^coordcheck: 0 failed' '$T/concurrent.out'"
	check "coordd: only root (or client-uid) may call" bash -c "setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/python3 '$(dirname "$0")/coordcheck.py' --call '$T/coord-1.sock' ping '{}' | grep -q '^refused\\|^null'"
	check "coordd: the socket is 0600" [ "$(stat -c %a "$T/coord-1.sock")" = 600 ]
	printf 'etcd-endpoints = http://x:1\n' >"$T/bad.conf"
	check "coordd: a wrong setting is refused with its line" bash -c "'$PKS_COORDD' --config '$T/bad.conf' 2>&1 | grep -q 'bad.conf:1: etcd-endpoints'"
fi

# 4. A hung member: the watch on it hears nothing (no error, ever), its heartbeat catches
# it, and the re-watch on another member from the last revision replays the write made
# meanwhile.
PKS_ETCD_ENDPOINTS=https://127.0.0.11:2379,https://127.0.0.12:2379,https://127.0.0.13:2379 \
	"$PKS_ETCD_CHECK" watch-until after-stop >"$T/watch.out" 2>&1 &
WATCHER=$!
for _ in $(seq 1 100); do grep -q 'watch: created' "$T/watch.out" && break; sleep 0.1; done
kill -STOP "${PIDS[1]}"
sleep 1
# (If member 1 led, the other two elect a leader first: retried until they have one.)
for _ in $(seq 1 50); do
	PKS_ETCD_ENDPOINTS=https://127.0.0.12:2379,https://127.0.0.13:2379 "$PKS_ETCD_CHECK" put after-stop x && break
	sleep 0.2
done
wrc=0
timeout 90 tail --pid="$WATCHER" -f /dev/null || wrc=$?
wait "$WATCHER" || wrc=$?
cat "$T/watch.out"
check "the watch on a hung member is declared lost" grep -q '^lost: ' "$T/watch.out"
check "... and resumed elsewhere, the write made meanwhile not lost" grep -q '^seen .*after-stop after [1-9]' "$T/watch.out"
# coordd 1 lists the hung member first. Its four workers' clients share what one of them
# learns: views one after the other are answered (each a linearizable read through one of
# them); without the sharing, each client spent a share of every request's time on the
# hung member, and requests of several calls ran out of it.
if [ -n "${PKS_COORDD:-}" ]; then
	views=
	for _ in $(seq 1 8); do
		if /usr/bin/python3 "$(dirname "$0")/coordcheck.py" --call "$T/coord-1.sock" view '{}' | grep -q '"ok": true'; then
			views="$views ok"
		else
			views="$views failed"
		fi
	done
	check "coordd with its first member hung: 8 views in a row answered (got$views)" [ "$views" = "$(printf ' ok%.0s' 1 2 3 4 5 6 7 8)" ]
fi
kill -CONT "${PIDS[1]}"

# 5. Quorum lost: members 2 and 3 hung. Member 1 knows it has no leader: the answer is
# "no leader" (nothing applied), found fast thanks to the hasleader header, never an
# unknown outcome. Then both come back and service returns.
kill -STOP "${PIDS[2]}" "${PIDS[3]}"
verdict=
for _ in $(seq 1 20); do
	PKS_ETCD_ENDPOINTS=https://127.0.0.11:2379,https://127.0.0.12:2379,https://127.0.0.13:2379 \
		"$PKS_ETCD_CHECK" noleader >"$T/noleader.out" 2>&1 || true
	verdict=$(head -1 "$T/noleader.out")
	[ "$verdict" = no-leader ] && break
	sleep 0.5
done
cat "$T/noleader.out"
check "without quorum a write is answered 'no leader' (got $verdict)" [ "$verdict" = no-leader ]
# coordd with the quorum lost (its members tried in the order 2, 3, 1: two hung first):
# requests sent together are each answered within their time of their send, and one whose
# caller gave up in the queue (behind more slow ones than coordd has workers) is dropped.
if [ -n "${PKS_COORDD:-}" ]; then
	/usr/bin/python3 "$(dirname "$0")/coordcheck.py" --outage "$T/coord-2.sock" | tee "$T/outage.out" || true
	check "coordd: answers in time with the quorum lost" bash -c "grep -q '^coordcheck: 0 failed' '$T/outage.out'"
	check "coordd: a request abandoned behind a slow one is dropped" grep -q 'dropped a request (announce): its caller hung up' "$T/coordd-2.log"
	# Stopped as systemd stops them: each joins its workers and frees everything (in the
	# sanitizer build a leak or an error is a report in its log and a non-zero exit).
	for p in "${COORD_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	stops=
	for p in "${COORD_PIDS[@]}"; do src=0; wait "$p" || src=$?; stops="$stops $src"; done
	check "coordd: SIGTERM stops all three cleanly (exit:$stops)" bash -c "[ '$stops' = ' 0 0 0' ] && ! grep -l 'Sanitizer' '$T'/coordd-*.log"
fi
kill -CONT "${PIDS[2]}" "${PIDS[3]}"
back=
for _ in $(seq 1 60); do
	"$PKS_ETCD_CHECK" noleader >"$T/back.out" 2>&1 || true
	back=$(head -1 "$T/back.out")
	[ "$back" = ok ] && break
	sleep 0.5
done
check "service returns with quorum (got $back)" [ "$back" = ok ]
# The members that were stopped come back with a higher raft term and force one more
# election (pre-vote is off in 3.4): wait for three writes in a row before going on.
ok_in_row=0
for _ in $(seq 1 60); do
	if "$PKS_ETCD_CHECK" noleader 2>/dev/null | head -1 | grep -qx ok; then
		ok_in_row=$((ok_in_row + 1))
		[ "$ok_in_row" -ge 3 ] && break
	else
		ok_in_row=0
	fi
	sleep 0.3
done

# 6. etcd's own auth, a role limited to the prefix: the 3.4 gateway takes a certificate
# without CN plus a password user; inside the prefix every call works, outside it is
# refused (an etcd client certificate alone would be etcd root).
"$PKISHARE" pki etcd-client-cert --pki-dir pki --out coordd-nocn --no-cn >/dev/null
cp coordd-nocn/client.crt nocn.crt && cp coordd-nocn/client.key nocn.key
head -c 18 /dev/urandom | base64 >root.pw
head -c 18 /dev/urandom | base64 >pks.pw
ctl() { ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.11:2379 --cacert ca.crt --cert nocn.crt \
	--key nocn.key --dial-timeout=5s "$@"; }
{
	ctl user add root --new-user-password="$(cat root.pw)"
	ctl role add pks
	ctl role grant-permission pks --prefix=true readwrite /pkishare-test/
	ctl user add pkishare --new-user-password="$(cat pks.pw)"
	ctl user grant-role pkishare pks
	ctl auth enable
} >"$T/auth.log" 2>&1 || { cat "$T/auth.log"; }
export PKS_ETCD_CERT=$T/nocn.crt PKS_ETCD_KEY=$T/nocn.key PKS_ETCD_USER=pkishare PKS_ETCD_PASSWORD_FILE=$T/pks.pw
PKS_ETCD_PREFIX=/pkishare-test/auth/ "$PKS_ETCD_CHECK" basic >"$T/auth-basic.out" 2>&1 || true
check "with etcd's auth, every call inside the prefix works" bash -c "! grep -q '^FAIL' '$T/auth-basic.out' && grep -q '^ok: delete the prefix' '$T/auth-basic.out'" || cat "$T/auth-basic.out"
check "... and a key outside it is refused" [ "$("$PKS_ETCD_CHECK" outside /registry/secrets/x)" = denied ]
echo wrong >"$T/wrong.pw"
wrong=$(PKS_ETCD_PASSWORD_FILE=$T/wrong.pw "$PKS_ETCD_CHECK" put x y 2>&1 || true)
check "a wrong password is refused at open" grep -q 'etcd_open' <<<"$wrong"

# 7. Nothing else: the members' logs hold no client key nor password.
check "no client key nor password in any member's log" bash -c "! grep -q 'PRIVATE KEY' '$T'/m*.log && ! grep -qF '$(cat "$T/pks.pw")' '$T'/m*.log"

echo "$CHECKS checks, $FAILS failed"
[ "$FAILS" = 0 ]
