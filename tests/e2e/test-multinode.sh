#!/bin/bash
# e2e.multinode (issue 32, "any control-plane node serves"): three control-plane nodes,
# each a network namespace this test makes (n1..n3, 10.251.0.1-3, on a bridge in a hub
# namespace), each running one etcd member (client and peer TLS, client-certificate auth),
# one pkishare-coordd and one pkishared; a fourth namespace (n4, 10.251.0.4) is the joiner,
# a fifth (n5, 10.251.0.5) runs haproxy in front of the three nodes (case k).
# Nothing leaves these namespaces. Node N is partitioned with `ip -n HUB link set hN down`.
#
# The cases, one function each (ok:/FAIL: lines, "N checks, M failed" at the end):
#   0 the baseline: etcd healthy, three coordd answering, three pkishared serving, an
#     upload on node 1 fetched from n4 (runs with or without coordination)
#   1 a key id used on one node is refused on every node, also after all three restart
#   2 (d) 3N racing joiners spread over the three nodes against max-fetches N: never more
#     than N served (exactly N), the rest used-up; etcd's count agrees
#   3 quorum lost (two members SIGSTOPped, then two nodes partitioned): 503
#     coordination-unavailable with Retry-After in bounded time, nothing counted; after
#     recovery the same fetch works, no slot counted twice, every node registered again
#   4 coordd killed on the holder: 503 coordination-unavailable quickly; restarted: served
#   5 delete-certs on a node that holds a copy (not the origin): 410 deleted everywhere
#   6 an upload on node 2 replaces node 1's bundle: node 1 stops serving the old one, and
#     nodes 1 and 3 copy the new one
#   7 `pkishare status` on every node: the bundle held, the holders, coordination
# Peer copies (every node pulls the cluster's bundle from a holder over the peer route):
#   a upload-certs --replicas 3 names three holders (each holds it then); the three serve
#     byte-identical bundles, etcd's digest; decrypt opens node 3's copy; --replicas with
#     coordination off is refused (exit 2) before anything is sealed
#   b the origin killed (kill -9) after the copies, then cut off: join --server n1
#     --server n2 succeeds through node 2, counted once
#   c the origin dead before anyone copied: --replicas fails naming node 1 alone; nodes 2
#     and 3 answer 503 not-held-here (fetch and info); a delete on a node holding nothing
#   e the peer route refuses a joiner's certificate, an enrolled identity, no certificate
#     and an unregistered certificate of the cluster CA; a node's serving identity is
#     refused on /v1/bundle
#   f a registered "holder" (fakepeer.py) sending bytes that are not etcd's digest:
#     refused and audited (digest-mismatch), not held (503), copied from a real holder
#   g a holder cut off from etcd never serves the bundle the cluster replaced meanwhile,
#     neither while cut off (503 coordination-unavailable) nor after healing
#   h kill -9 of pkishared right after uploads (while it copies): never other bytes than
#     etcd's, copies again; coordd killed during an upload elsewhere: copies after restart
#   8 no 32-byte piece of any sealed bundle in any etcd member's data directory
#   i join tokens are the cluster's: made on one node, enrolled on another, uses counted
#     once (racing enrollments on three nodes), the printed command works with its node down
#   j an etcd leader change never extends a bundle's deadline
#   k haproxy in TCP mode in front (n5, 10.251.0.5; the README's snippet): the serving
#     certificates issued again naming it and reloaded; join and curl + decrypt through it,
#     also with node 1's pkishared killed; one fetch counted per identity (skipped without
#     haproxy)
#   l kills at hand-offs checked against a model of what was acknowledged: pkishared killed
#     during or right after an upload, coordd killed during a fetch, both while nodes copy
#   (a-h: see their functions) and, at the end, no sanitizer report in any daemon's log
# Cases 1-8 and a-h need pkishared's coordination options (--coord-socket, --node-name,
# --peer-address); without them they are reported as skipped, not failed.
set -euo pipefail
: "${PKISHARE:?}" "${PKISHARED:?}" "${PKS_COORDD:?}"
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v etcd >/dev/null ||
	! command -v etcdctl >/dev/null || ! command -v curl >/dev/null; then
	echo "skip: needs root, iproute2, curl, etcd-server and etcd-client"
	exit 77
fi
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/pkishare-multi.XXXXXX)
chmod 755 "$T"
TAG=pkm$$
HUB=$TAG-hub
NS=("" "$TAG-n1" "$TAG-n2" "$TAG-n3" "$TAG-n4" "$TAG-n5") # n5: haproxy (case k)
EPID=("" "" "" "") # etcd member per node
CPID=("" "" "" "") # pkishare-coordd per node
DPID=("" "" "" "") # pkishared per node
OTHER=()           # anything else we started in the background
FAILS=0
CHECKS=0
SKIPS=0
START=$(date +%s)

all_pids() { echo "${EPID[@]:1}" "${CPID[@]:1}" "${DPID[@]:1}" "${OTHER[@]}"; }
cleanup() {
	set +e
	for p in $(all_pids); do kill -CONT "$p" 2>/dev/null; kill "$p" 2>/dev/null; done
	for n in "${NS[@]:1}"; do ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null; done
	for _ in $(seq 1 60); do
		alive=0
		for p in $(all_pids); do kill -0 "$p" 2>/dev/null && alive=1; done
		[ "$alive" = 0 ] && break
		sleep 0.1
	done
	for p in $(all_pids); do kill -9 "$p" 2>/dev/null; done
	for n in "${NS[@]:1}"; do ip netns pids "$n" 2>/dev/null | xargs -r kill -9 2>/dev/null; done
	for n in "${NS[@]:1}" "$HUB"; do ip netns del "$n" 2>/dev/null; done
	if [ -n "${KEEP_T:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP # meson's timeout: still clean up

pass() { CHECKS=$((CHECKS + 1)); echo "ok: $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL: $*"; }
check() { local w=$1; shift; if "$@"; then pass "$w"; else fail "$w"; fi; }
skip() { SKIPS=$((SKIPS + 1)); echo "skip: $*"; }
info() { echo "   $*"; }
in_ns() { local n=$1; shift; ip netns exec "${NS[$n]}" "$@"; }
ip_of() { echo "10.251.0.$1"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

C=$T/cluster # the cluster PKI (node 1's pki init) and the joiners' client certificates
ND() { echo "$T/node$1"; }

# ---------------------------------------------------------------------------------------
# The network.
ip netns add "$HUB"
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" link set br0 up
for i in 1 2 3 4 5; do
	ip netns add "${NS[$i]}"
	ip -n "$HUB" link add "h$i" type veth peer name eth0 netns "${NS[$i]}"
	ip -n "$HUB" link set "h$i" master br0 up
	ip -n "${NS[$i]}" addr add "$(ip_of "$i")/24" dev eth0
	ip -n "${NS[$i]}" link set eth0 up
	ip -n "${NS[$i]}" link set lo up
done
partition() { ip -n "$HUB" link set "h$1" down; }
heal() { ip -n "$HUB" link set "h$1" up; }

# ---------------------------------------------------------------------------------------
# The PKI: `pki init` on node 1 (its node certificates too; the joiners' client
# certificates j1..j9 from its client CA), the shared files copied to nodes 2 and 3 with
# their own node certificates; per node a serving certificate for pkishared and an etcd
# client certificate for coordd.
JOINERS=(j1 j2 j3 j4 j5 j6 j7 j8 j9)
CLIENT_ARGS=()
for j in "${JOINERS[@]}"; do CLIENT_ARGS+=(--client "$j"); done
"$PKISHARE" pki init --dir "$C" --node-name node-1 --address "$(ip_of 1)" --key-type ecdsa \
	--node-certs --advertise-address "$(ip_of 1)" "${CLIENT_ARGS[@]}" >"$T/init.log"
PIN=$("$PKISHARE" pki ca-cert-hash "$C/pki/ca.crt")
for n in 1 2 3; do
	D=$(ND "$n")
	mkdir -p "$D/pki/etcd"
	if [ "$n" = 1 ]; then
		cp -a "$C/pki/." "$D/pki/"
	else
		for f in ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt etcd/ca.key; do
			cp -a "$C/pki/$f" "$D/pki/$f"
		done
		"$PKISHARE" pki node-certs --pki-dir "$D/pki" --node-name "node-$n" \
			--advertise-address "$(ip_of "$n")" >"$D/node-certs.log"
	fi
	"$PKISHARE" pki serving-cert --pki-dir "$D/pki" --out "$D/serving" --node-name "node-$n" \
		--address "$(ip_of "$n")" >"$D/serving.log"
	"$PKISHARE" pki etcd-client-cert --pki-dir "$D/pki" --out "$D/etcd-client" >"$D/etcd-client.log"
done

# A serving certificate from the cluster CA for the joiner's address (n4), never
# registered: the fake peer of case f, and an identity the peer route must refuse (e).
"$PKISHARE" pki serving-cert --pki-dir "$C/pki" --out "$T/fake/serving" --node-name fake-0 \
	--address "$(ip_of 4)" >"$T/fake-serving.log"

# ---------------------------------------------------------------------------------------
# etcd: one member per node.
CLUSTER=node-1=https://$(ip_of 1):2380,node-2=https://$(ip_of 2):2380,node-3=https://$(ip_of 3):2380
ENDPOINTS=https://$(ip_of 1):2379,https://$(ip_of 2):2379,https://$(ip_of 3):2379
start_etcd() { # start_etcd N
	local n=$1 D
	D=$(ND "$1")
	ip netns exec "${NS[$n]}" etcd --name "node-$n" --data-dir "$D/etcd-data" \
		--listen-client-urls "https://$(ip_of "$n"):2379" --advertise-client-urls "https://$(ip_of "$n"):2379" \
		--listen-peer-urls "https://$(ip_of "$n"):2380" --initial-advertise-peer-urls "https://$(ip_of "$n"):2380" \
		--initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token "pkm-$$" \
		--client-cert-auth --trusted-ca-file "$D/pki/etcd/ca.crt" \
		--cert-file "$D/pki/etcd/server.crt" --key-file "$D/pki/etcd/server.key" \
		--peer-client-cert-auth --peer-trusted-ca-file "$D/pki/etcd/ca.crt" \
		--peer-cert-file "$D/pki/etcd/peer.crt" --peer-key-file "$D/pki/etcd/peer.key" \
		--experimental-watch-progress-notify-interval 1s \
		--logger zap --log-outputs "$D/etcd.log" </dev/null >/dev/null 2>&1 &
	EPID[$n]=$!
}
# etcdctl from node N's namespace with coordd's credential (etcd root): ctl N [ARGS]
ctl() {
	local n=$1 D
	D=$(ND "$1")
	shift
	in_ns "$n" env ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" --cacert "$D/etcd-client/ca.crt" \
		--cert "$D/etcd-client/client.crt" --key "$D/etcd-client/client.key" \
		--dial-timeout=2s --command-timeout=4s "$@"
}
healthy_members() { ctl "$1" endpoint health 2>&1 | grep -c 'is healthy' || true; }
# Quorum back and a write accepted three times in a row (members that were stopped come
# back with a higher raft term and force one more election: pre-vote is off in 3.4).
wait_quorum() { # wait_quorum SECONDS
	local ok=0 end=$(($(date +%s) + $1))
	while [ "$(date +%s)" -lt "$end" ]; do
		if ctl 1 put /pkm-probe x >/dev/null 2>&1; then
			ok=$((ok + 1)); [ "$ok" -ge 3 ] && return 0
		else ok=0; fi
		sleep 0.3
	done
	return 1
}
for n in 1 2 3; do start_etcd "$n"; done

# ---------------------------------------------------------------------------------------
# pkishare-coordd: one per node, its own configuration (the members in another order).
coordd_conf() { # coordd_conf N
	local n=$1 D eps
	D=$(ND "$n")
	case $n in
	1) eps=https://$(ip_of 1):2379,https://$(ip_of 2):2379,https://$(ip_of 3):2379 ;;
	2) eps=https://$(ip_of 2):2379,https://$(ip_of 3):2379,https://$(ip_of 1):2379 ;;
	3) eps=https://$(ip_of 3):2379,https://$(ip_of 1):2379,https://$(ip_of 2):2379 ;;
	esac
	cat >"$D/coordd.conf" <<-EOF
		# e2e.multinode, node $n
		etcd-endpoints = $eps
		etcd-ca = $D/etcd-client/ca.crt
		etcd-cert = $D/etcd-client/client.crt
		etcd-key = $D/etcd-client/client.key
		etcd-prefix = /pkishare/
		socket = $D/coord.sock
		client-uid = 0
	EOF
}
start_coordd() { # start_coordd N
	local n=$1 D
	D=$(ND "$n")
	ip netns exec "${NS[$n]}" "$PKS_COORDD" --config "$D/coordd.conf" </dev/null >>"$D/coordd.log" 2>&1 &
	CPID[$n]=$!
	for _ in $(seq 1 100); do [ -S "$D/coord.sock" ] && break; sleep 0.05; done
}
stop_coordd() { # stop_coordd N
	local p=${CPID[$1]}
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	CPID[$1]=
}
coord_ping() { /usr/bin/python3 "$HERE/coordcheck.py" --call "$(ND "$1")/coord.sock" ping '{}'; }

# ---------------------------------------------------------------------------------------
# pkishared: one per node, all settings in its own configuration file.
COORD=0
if "$PKISHARED" --help 2>&1 | grep -q -- '--coord-socket'; then COORD=1; fi
pkishared_conf() { # pkishared_conf N
	local n=$1 D
	D=$(ND "$n")
	{
		echo "# e2e.multinode, node $n"
		echo "listen = $(ip_of "$n"):9443"
		echo "tls-cert = $D/serving/tls.crt"
		echo "tls-key = $D/serving/tls.key"
		echo "client-ca = $C/clients/ca.crt"
		echo "admin-socket = $D/admin.sock"
		if [ "$COORD" = 1 ]; then
			echo "coord-socket = $D/coord.sock"
			echo "node-name = node-$n"
			echo "peer-address = $(ip_of "$n"):9443"
		fi
	} >"$D/pkishared.conf"
}
start_pkishared() { # start_pkishared N [VAR=VALUE...]: waits until it listens
	local n=$1 D
	shift
	D=$(ND "$n")
	: >"$D/pkishared.log.now"
	ip netns exec "${NS[$n]}" env "$@" "$PKISHARED" --config "$D/pkishared.conf" </dev/null >"$D/pkishared.log.now" 2>&1 &
	DPID[$n]=$!
	for _ in $(seq 1 200); do
		grep -q "listening on" "$D/pkishared.log.now" && [ -S "$D/admin.sock" ] && break
		kill -0 "${DPID[$n]}" 2>/dev/null || break
		sleep 0.05
	done
}
stop_pkishared() { # stop_pkishared N
	local n=$1 D p=${DPID[$1]}
	D=$(ND "$n")
	[ -n "$p" ] || return 0
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	DPID[$n]=
	cat "$D/pkishared.log.now" >>"$D/pkishared.log"
}
pkishared_serves() { # pkishared_serves N: /healthz from the joiner
	in_ns 4 curl -s -o /dev/null -w '%{http_code}' --max-time 5 --cacert "$C/pki/ca.crt" \
		--cert "$C/clients/j1.crt" --key "$C/clients/j1.key" "https://$(ip_of "$1"):9443/healthz" | grep -qx 200
}

# ---------------------------------------------------------------------------------------
# The joiner's side and the operator's.
# fetch NODE CLIENT TAG [QUERY]: GET /v1/bundle from n4 with CLIENT's certificate. Sets
# CODE (000 if no answer), REASON (the JSON error's reason), MS (wall time), RETRY (the
# Retry-After header); the body is $T/f-TAG.body, the headers $T/f-TAG.hdr.
fetch() { get 4 "$1" "/v1/bundle${4:-}" "$3" --cert "$C/clients/$2.crt" --key "$C/clients/$2.key"; }
# get FROM NODE PATH TAG [CURL ARGS]: a GET of PATH on NODE's pkishared from namespace FROM,
# with only the identity CURL ARGS give (--cert/--key, or none); sets what fetch sets.
get() {
	local from=$1 n=$2 path=$3 tag=$4 t0
	shift 4
	t0=$(now_ms)
	CODE=$(in_ns "$from" curl -s --max-time 20 -o "$T/f-$tag.body" -D "$T/f-$tag.hdr" -w '%{http_code}' \
		--cacert "$C/pki/ca.crt" "$@" "https://$(ip_of "$n"):9443$path" 2>/dev/null) || true
	MS=$(($(now_ms) - t0))
	[ -n "$CODE" ] || CODE=000
	REASON=$(json_get "$T/f-$tag.body" reason)
	RETRY=$(grep -i '^retry-after:' "$T/f-$tag.hdr" 2>/dev/null | tr -d '\r' | cut -d: -f2 | tr -d ' ' || true)
}
# json_get FILE KEY: a top-level string field of a JSON file, or "" (not JSON, absent)
json_get() {
	/usr/bin/python3 -c 'import json,sys
try: v = json.load(open(sys.argv[1])).get(sys.argv[2], "")
except Exception: v = ""
print(v if isinstance(v, str) else json.dumps(v))' "$1" "$2" 2>/dev/null || true
}
said() { info "node $1 answered $CODE${REASON:+ $REASON} in ${MS} ms${RETRY:+ (Retry-After: $RETRY)}: $(head -c 300 "$T/f-$2.body" 2>/dev/null | tr '\n' ' ')"; }
# upload NODE TAG [ARGS]: upload-certs on NODE of its copy of the cluster PKI. Sets UPRC and
# KEY; standard output in $T/up-TAG.out, standard error in $T/up-TAG.err.
upload() {
	local n=$1 tag=$2 D
	D=$(ND "$n")
	shift 2
	UPRC=0
	in_ns "$n" "$PKISHARE" upload-certs --admin-socket "$D/admin.sock" --pki-dir "$D/pki" "$@" \
		>"$T/up-$tag.out" 2>"$T/up-$tag.err" || UPRC=$?
	# (the key is the 64-hex line; --replicas prints the holders after it)
	KEY=$(grep -E '^[0-9a-f]{64}$' "$T/up-$tag.out" 2>/dev/null | tail -1 || true)
}
status_json() { # status_json NODE: pkishare status -o json; exit status in STRC
	STRC=0
	in_ns "$1" "$PKISHARE" status --admin-socket "$(ND "$1")/admin.sock" -o json 2>&1 || STRC=$?
}
held_id() { # held_id NODE: the id of the bundle NODE's pkishared holds (its status), or ""
	status_json "$1" >"$T/st.json" || true
	/usr/bin/python3 -c 'import json,sys
try: print((json.load(open(sys.argv[1])).get("bundle") or {}).get("id", ""))
except Exception: print("")' "$T/st.json"
}
# uploaded NODE TAG: check the upload just made; when it failed, say why and return 1 (the
# case then stops: what follows would only fail for the same reason)
uploaded() {
	if [ "$UPRC" = 0 ] && [ "${#KEY}" = 64 ]; then pass "upload-certs on node $1 (exit 0)"; return 0; fi
	fail "upload-certs on node $1: exit $UPRC: $(head -c 400 "$T/up-$2.err" | tr '\n' ' ')"
	info "(the rest of this case needs that upload: skipped)"
	return 1
}
etcd_value() { ctl 1 get "$1" --print-value-only 2>/dev/null || true; } # etcd_value KEY
# poll SECONDS COMMAND...: until COMMAND succeeds (0) or the time is up (1); sets POLL_MS
poll() {
	local secs=$1 t0 end
	shift
	t0=$(now_ms)
	end=$((t0 + secs * 1000))
	while :; do
		if "$@"; then POLL_MS=$(($(now_ms) - t0)); return 0; fi
		[ "$(now_ms)" -lt "$end" ] || { POLL_MS=$(($(now_ms) - t0)); return 1; }
		sleep 0.25
	done
}

# Registrations: nodes/node-N in etcd (under coordd's lease; pkishared registers at start
# and when coordd comes back). reregister restarts coordd where one is missing, after a
# check has reported it, so that the cases after it test their own thing.
registered() { [ -n "$(etcd_value "/pkishare/nodes/node-$1")" ]; }
all_registered() { registered 1 && registered 2 && registered 3; }
registrations() { ctl 1 get --prefix /pkishare/nodes/ --keys-only 2>/dev/null | grep . | tr '\n' ' ' || true; }
reregister() {
	local n
	for n in 1 2 3; do
		registered "$n" && continue
		info "node $n is not registered in etcd: restarting its coordd (the next cases need it)"
		stop_coordd "$n"
		start_coordd "$n"
	done
	poll 5 all_registered || true
}
# kill9_pkishared N: kill -9, no chance to clean up (without systemd's store its held state
# is gone: it restarts empty)
kill9_pkishared() {
	local n=$1 p=${DPID[$1]}
	[ -n "$p" ] || return 0
	kill -9 "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	DPID[$n]=
	cat "$(ND "$n")/pkishared.log.now" >>"$(ND "$n")/pkishared.log"
}
holds() { [ "$(held_id "$1")" = "$2" ]; }                   # holds NODE ID
holds_not() { local h; h=$(held_id "$1"); [ -n "$h" ] && [ "$h" != "$2" ]; } # NODE ID: holds another
has() { grep -q -- "$2" <<<"$1"; }                          # has TEXT PATTERN
lacks() { ! grep -q -- "$2" <<<"$1"; }                      # lacks TEXT PATTERN
# count_of ID: etcd's fetch count of bundle ID, read from n2 (n1 may be the one cut off)
count_of() { local c; c=$(ctl 2 get "/pkishare/bundles/$1/count" --print-value-only 2>/dev/null || true); echo "${c:-0}"; }
cur_field() { etcd_value /pkishare/current >"$T/cur.json"; json_get "$T/cur.json" "$1"; } # FIELD
sha_of() { sha256sum "$1" | cut -d' ' -f1; }                # sha_of FILE
audit_in() { grep -q "audit: .*$2" "$(ND "$1")/pkishared.log.now"; } # audit_in NODE PATTERN
# join_via TAG CLIENT KEY NODE...: pkishare join from n4 with a --server per NODE, in that
# order, into $T/joined-TAG/pki; sets JRC and MS, output in $T/join-TAG.log
join_via() {
	local tag=$1 c=$2 key=$3 s t0 args=()
	shift 3
	for s; do args+=(--server "$(ip_of "$s"):9443"); done
	t0=$(now_ms)
	JRC=0
	in_ns 4 "$PKISHARE" join "${args[@]}" --ca-cert-hash "$PIN" --cert "$C/clients/$c.crt" \
		--key "$C/clients/$c.key" --pki-dir "$T/joined-$tag/pki" --certificate-key - <<<"$key" \
		>"$T/join-$tag.log" 2>&1 || JRC=$?
	MS=$(($(now_ms) - t0))
}
joined_ok() { cmp -s "$C/pki/sa.key" "$T/joined-$1/pki/sa.key"; } # joined_ok TAG
# bg_get FROM NODE PATH TAG [CURL ARGS] &: get, its outcome as "CODE REASON MS" in $T/r-TAG
bg_get() { get "$@"; echo "$CODE ${REASON:--} $MS" >"$T/r-$4"; }

# ---------------------------------------------------------------------------------------
# Case 0: the baseline.
case0_baseline() {
	echo "== 0: the baseline (namespaces, etcd, coordd, pkishared, one upload and fetch)"
	local n h=0
	for _ in $(seq 1 60); do
		h=$(healthy_members 1)
		[ "$h" = 3 ] && break
		sleep 0.5
	done
	check "etcd: three healthy members seen from n1" [ "$h" = 3 ]
	check "etcd: a write accepted" wait_quorum 30
	ctl 2 member list >"$T/members.txt" 2>&1 || true
	check "etcd: three started members (from n2)" [ "$(grep -c ', started, ' "$T/members.txt")" = 3 ]
	for n in 1 2 3; do
		coordd_conf "$n"
		in_ns "$n" "$PKS_COORDD" --config "$(ND "$n")/coordd.conf" --check >"$T/check-$n.out" 2>&1 || true
		check "coordd $n: --check finds etcd ($(head -1 "$T/check-$n.out"))" grep -q 'answers (revision' "$T/check-$n.out"
		start_coordd "$n"
		check "coordd $n: answers ping on its socket" bash -c "'/usr/bin/python3' '$HERE/coordcheck.py' --call '$(ND "$n")/coord.sock' ping '{}' | grep -q '\"ok\": true'"
	done
	for n in 1 2 3; do
		pkishared_conf "$n"
		start_pkishared "$n"
		check "pkishared $n: serves /healthz to n4 ($([ "$COORD" = 1 ] && echo coordination || echo standalone))" pkishared_serves "$n"
	done
	# A node alone under its prefix says so (right on the first; on another, a different
	# etcd-prefix would make a ledger of its own, silently).
	check "pkishared 1, registered first, logs that no other node is registered" \
		poll 5 grep -q "no other control-plane node is registered in etcd under this node's prefix" "$(ND 1)/pkishared.log.now"
	check "pkishared 3, registered after the two others, does not" \
		bash -c "! grep -q 'no other control-plane node is registered' '$(ND 3)/pkishared.log.now'"
	sed 's|^etcd-prefix *=.*|etcd-prefix = /pkishare-typo/|' "$(ND 2)/coordd.conf" >"$T/coordd-typo.conf"
	grep -q '^etcd-prefix = /pkishare-typo/' "$T/coordd-typo.conf" || echo 'etcd-prefix = /pkishare-typo/' >>"$T/coordd-typo.conf"
	in_ns 2 "$PKS_COORDD" --config "$T/coordd-typo.conf" --check >"$T/check-typo.out" 2>&1 || true
	check "coordd --check under a prefix no node used warns ($(tail -1 "$T/check-typo.out" | head -c 120))" \
		grep -q "nothing is under prefix /pkishare-typo/ yet" "$T/check-typo.out"
	in_ns 2 "$PKS_COORDD" --config "$(ND 2)/coordd.conf" --check >"$T/check-2b.out" 2>&1 || true
	check "... under the cluster's prefix, once nodes registered, it does not ($(head -1 "$T/check-2b.out" | head -c 160))" \
		bash -c "grep -q 'answers (revision' '$T/check-2b.out' && ! grep -q 'nothing is under' '$T/check-2b.out'"
	upload 1 base --max-fetches 50
	uploaded 1 base || return 0
	BASE_ID=$(held_id 1)
	fetch 1 j9 base
	check "fetch on node 1 from n4: 200 ($CODE${REASON:+ $REASON})" [ "$CODE" = 200 ]
	[ "$CODE" = 200 ] || said 1 base
	[ "$CODE" != 200 ] || cp "$T/f-base.body" "$T/sealed-base.json"
	check "the body is the bundle held ($BASE_ID)" [ -n "$BASE_ID" -a "$(json_get "$T/f-base.body" id)" = "$BASE_ID" ]
	in_ns 4 env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" decrypt --pki-dir "$T/joined-base/pki" \
		<"$T/f-base.body" >"$T/decrypt-base.log" 2>&1 || true
	check "the joiner opens it: ca.key as node 1's" cmp -s "$C/pki/ca.key" "$T/joined-base/pki/ca.key"
	in_ns 4 "$PKISHARE" join --server "$(ip_of 1):9443" --ca-cert-hash "$PIN" --cert "$C/clients/j8.crt" \
		--key "$C/clients/j8.key" --pki-dir "$T/joined-join/pki" --certificate-key - <<<"$KEY" >"$T/join-base.log" 2>&1 || true
	check "pkishare join from n4 through node 1" cmp -s "$C/pki/sa.key" "$T/joined-join/pki/sa.key"
}

# Case 1: one-time keys hold cluster-wide and across restarts.
KEY_REF_RC=
case1_key_reuse() {
	echo "== 1: a key id used on one node is refused on every node, also after restarts"
	local n used k
	upload 1 k1 --max-fetches 50
	uploaded 1 k1 || return 0
	used=$KEY
	# The standalone refusal, for reference: the same key again on the same node.
	upload 1 k1-ref --certificate-key - <<<"$used"
	KEY_REF_RC=$UPRC
	info "reference (node 1 again): exit $UPRC: $(head -c 300 "$T/up-k1-ref.err" | tr '\n' ' ')"
	check "reference: node 1 refuses its own key again (exit $UPRC, key-reused)" \
		bash -c "[ $UPRC != 0 ] && grep -q 'key-reused\|already used' '$T/up-k1-ref.err'"
	for n in 2 3; do
		upload "$n" "k1-$n" --certificate-key - <<<"$used"
		check "node $n refuses node 1's key: exit $UPRC as the reference's ($KEY_REF_RC), key-reused" \
			bash -c "[ $UPRC = $KEY_REF_RC ] && grep -q 'key-reused\|already used' '$T/up-k1-$n.err'"
		[ "$UPRC" = "$KEY_REF_RC" ] || info "node $n: exit $UPRC: $(head -c 300 "$T/up-k1-$n.err" | tr '\n' ' ')"
	done
	# (record name from proto/coord.md: keyids/KEYID, never forgotten, no lease)
	k=$(ctl 1 get --prefix /pkishare/keyids/ --keys-only 2>/dev/null | grep -c . || true)
	check "etcd remembers the used key ids under /pkishare/keyids/ ($k keys)" [ "$k" -ge 1 ]
	for n in 1 2 3; do stop_pkishared "$n"; done
	for n in 1 2 3; do start_pkishared "$n"; done
	for n in 1 2 3; do check "pkishared $n restarted and serving" pkishared_serves "$n"; done
	for n in 1 2 3; do
		upload "$n" "k1-r$n" --certificate-key - <<<"$used"
		check "after all three restarted, node $n refuses it: exit $UPRC (reference $KEY_REF_RC), key-reused" \
			bash -c "[ $UPRC = $KEY_REF_RC ] && grep -q 'key-reused\|already used' '$T/up-k1-r$n.err'"
		[ "$UPRC" = "$KEY_REF_RC" ] || info "node $n: exit $UPRC: $(head -c 300 "$T/up-k1-r$n.err" | tr '\n' ' ')"
	done
}

# Case 2 (d): 3N racing joiners spread over the three nodes against max-fetches N. The
# promise: never more than N answers 200 cluster-wide, and etcd counts exactly N.
case2_race() {
	echo "== 2 (d): 3N racing joiners over three nodes, max-fetches N: exactly N served"
	local N=3 i n id pids=() ok=0 used=0 other=0 count slots res bodies=() loser=j9
	upload 1 race --max-fetches "$N" --replicas 3 --replicas-timeout 5s
	uploaded 1 race || return 0
	id=$(held_id 1)
	for i in $(seq 1 $((3 * N))); do
		n=$(((i - 1) % 3 + 1))
		(
			c=$(in_ns 4 curl -s --max-time 20 -o "$T/race-$i.body" -w '%{http_code}' \
				--cacert "$C/pki/ca.crt" --cert "$C/clients/j$i.crt" --key "$C/clients/j$i.key" \
				"https://$(ip_of "$n"):9443/v1/bundle" 2>/dev/null) || true
			echo "${c:-000} $(json_get "$T/race-$i.body" reason)" >"$T/race-$i.res"
		) &
		pids+=($!)
	done
	wait "${pids[@]}" || true
	for i in $(seq 1 $((3 * N))); do
		n=$(((i - 1) % 3 + 1))
		res=$(cat "$T/race-$i.res")
		info "racer $i (j$i) on node $n: $res"
		case $res in
		"200 ") ok=$((ok + 1)); bodies+=("$T/race-$i.body"); cp "$T/race-$i.body" "$T/sealed-race.json" ;;
		"410 used-up") used=$((used + 1)); loser=j$i ;;
		*) other=$((other + 1)); info "racer $i: $(head -c 300 "$T/race-$i.body" | tr '\n' ' ')" ;;
		esac
	done
	check "$((3 * N)) racers over 3 nodes: never more than $N got 200 ($ok)" [ "$ok" -le "$N" ]
	check "... exactly $N got 200 ($ok 200, $used 410 used-up, $other other)" [ "$ok" = "$N" ]
	check "... every other one 410 used-up ($used of $((2 * N)); $other other)" [ "$used" = $((2 * N)) -a "$other" = 0 ]
	check "... the $ok bodies served are byte-identical" \
		bash -c 'for f in "$@"; do cmp -s "$1" "$f" || exit 1; done' _ "${bodies[@]}"
	count=$(etcd_value "/pkishare/bundles/$id/count")
	slots=$(ctl 1 get --prefix "/pkishare/bundles/$id/slots/" --keys-only 2>/dev/null | grep -c . || true)
	# (record names from proto/coord.md: bundles/ID/count and bundles/ID/slots/CLAIMID)
	check "etcd agrees: bundles/$id/count = $N (got '${count}'), $N slots (got $slots)" \
		[ "$count" = "$N" -a "$slots" = "$N" ]
	for n in 1 2 3; do # (a racer that was refused: every certificate raced)
		fetch "$n" "$loser" "race-after-$n"
		check "$loser again after the race on node $n: 410 used-up (got $CODE $REASON)" [ "$CODE $REASON" = "410 used-up" ]
	done
}

# Case 3: quorum lost, two ways.
# quorum_case HOW CLIENT: HOW = stop (SIGSTOP etcd 2 and 3) or cut (partition nodes 2, 3)
quorum_case() {
	local how=$1 cl=$2 id=$3 before after
	before=$(etcd_value "/pkishare/bundles/$id/count")
	[ -n "$before" ] || before=0
	if [ "$how" = stop ]; then kill -STOP "${EPID[2]}" "${EPID[3]}"; else partition 2; partition 3; fi
	sleep 1.5 # a leader among the stopped ones, or member 1 as leader, notices (election timeout 1 s)
	fetch 1 "$cl" "q-$how"
	said 1 "q-$how"
	# For the report only: coordd itself, asked a read (keyIdSeen, timeoutMs 1500) meanwhile.
	info "coordd 1 meanwhile: $(/usr/bin/python3 - "$(ND 1)/coord.sock" <<-'PY' 2>&1 | head -c 400
		import json, os, socket, sys, time
		s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
		s.settimeout(4) # (it answered after some 21 s: bounded here, for the time budget)
		s.connect(sys.argv[1])
		t0 = time.monotonic()
		s.send(json.dumps({"v": 1, "op": "keyIdSeen", "cookie": os.urandom(16).hex(),
		                   "timeoutMs": 1500, "args": {"keyId": os.urandom(8).hex()}}).encode())
		try:
		    r = s.recv(65536).decode()
		except OSError as e:
		    r = "no answer within 4 s (%s)" % e
		print("keyIdSeen with timeoutMs 1500 answered after %d ms: %s" % ((time.monotonic() - t0) * 1000, r))
	PY
	)"
	check "$how: a fetch without quorum: 503 coordination-unavailable (got $CODE $REASON)" \
		[ "$CODE" = 503 -a "$REASON" = coordination-unavailable ]
	check "$how: ... with a Retry-After header (got '${RETRY}')" [ "$CODE" = 503 -a -n "$RETRY" ]
	check "$how: ... in under 10 s (${MS} ms)" [ "$CODE" = 503 -a "$MS" -lt 10000 ]
	if [ "$how" = stop ]; then kill -CONT "${EPID[2]}" "${EPID[3]}"; else heal 2; heal 3; fi
	check "$how: quorum back" wait_quorum 30
	after=$(etcd_value "/pkishare/bundles/$id/count")
	[ -n "$after" ] || after=0
	check "$how: nothing counted while quorum was lost (count $before -> $after)" [ "$after" = "$before" ]
	poll 20 fetch_is 1 "$cl" "q-$how-back" 200 || true
	check "$how: after recovery the same fetch works (200 after ${POLL_MS} ms; last $CODE $REASON)" [ "$CODE" = 200 ]
	after=$(etcd_value "/pkishare/bundles/$id/count")
	check "$how: counted once (count $before -> $after)" [ "$after" = $((before + 1)) ]
	fetch 1 "$cl" "q-$how-again"
	after=$(etcd_value "/pkishare/bundles/$id/count")
	check "$how: the same certificate again: 200, not counted again (count $after)" \
		[ "$CODE" = 200 -a "$after" = $((before + 1)) ]
}
fetch_is() { fetch "$1" "$2" "$3"; [ "$CODE" = "$4" ]; } # fetch_is NODE CLIENT TAG CODE
case3_quorum() {
	echo "== 3: quorum lost: 503 coordination-unavailable in bounded time, nothing counted"
	local id
	upload 1 quorum --max-fetches 20
	uploaded 1 quorum || return 0
	id=$(held_id 1)
	quorum_case stop j1 "$id"
	quorum_case cut j2 "$id"
	check "etcd: three healthy members again" [ "$(healthy_members 1)" = 3 ]
	poll 5 all_registered || true
	check "every node registered again after the quorum loss (etcd: $(registrations); ${POLL_MS} ms)" all_registered
	all_registered || reregister
}

# Case 4: coordd killed on the holder.
case4_coordd_killed() {
	echo "== 4: coordd killed on the holding node, then restarted"
	upload 1 coordd --max-fetches 20
	uploaded 1 coordd || return 0
	stop_coordd 1
	fetch 1 j3 c-dead
	said 1 c-dead
	check "coordd gone: 503 coordination-unavailable (got $CODE $REASON)" [ "$CODE" = 503 -a "$REASON" = coordination-unavailable ]
	check "... quickly (${MS} ms, bound 5000: the claim budget is 4 s)" [ "$CODE" = 503 -a "$MS" -lt 5000 ]
	check "... with a Retry-After header (got '${RETRY}')" [ "$CODE" = 503 -a -n "$RETRY" ]
	start_coordd 1
	poll 10 fetch_is 1 j3 c-back 200 || true
	check "coordd restarted: served again (after ${POLL_MS} ms; last $CODE $REASON)" [ "$CODE" = 200 ]
}

# Case 5: delete-certs on a node that holds a copy (not the origin) wipes everywhere. (A
# delete on a node that holds nothing at all: case c.)
case5_delete_elsewhere() {
	echo "== 5: delete-certs on node 2 (a copy) retires node 1's bundle on every node"
	local rc=0 id n
	upload 1 del --max-fetches 20
	uploaded 1 del || return 0
	id=$(held_id 1)
	poll 5 holds 2 "$id" || true
	check "node 2 holds a copy of $id (after ${POLL_MS} ms)" holds 2 "$id"
	fetch 2 j4 del-before
	check "node 2 serves its copy (got $CODE)" [ "$CODE" = 200 ]
	in_ns 2 "$PKISHARE" delete-certs --admin-socket "$(ND 2)/admin.sock" >"$T/del.out" 2>&1 || rc=$?
	info "delete-certs on node 2: exit $rc: $(head -c 300 "$T/del.out" | tr '\n' ' ')"
	check "delete-certs on node 2 (a copy-holder): exit 0 (got $rc)" [ "$rc" = 0 ]
	for n in 1 3 2; do
		poll 10 fetch_reason "$n" j5 "del-after-$n" 410 deleted || true
		[ "$CODE $REASON" = "410 deleted" ] || said "$n" "del-after-$n"
		check "node $n answers 410 deleted within 10 s (${POLL_MS} ms; last $CODE $REASON)" [ "$CODE $REASON" = "410 deleted" ]
	done
}
fetch_reason() { fetch "$1" "$2" "$3"; [ "$CODE $REASON" = "$4 $5" ]; } # ... CODE REASON

# Case 6: an upload on node 2 replaces node 1's bundle.
OLD_ID=
NEW_ID=
not_serving_old() { fetch 1 j6 repl "?id=$OLD_ID"; [ "$CODE" != 200 ] && [ "$CODE" != 000 ]; }
replaced_on_1() { # node 1 no longer serves OLD_ID: 410 replaced, or the "other" refusal naming NEW_ID
	fetch 1 j6 repl "?id=$OLD_ID"
	[ "$CODE $REASON" = "410 replaced" ] && return 0
	[ "$CODE" = 409 ] && grep -q "$NEW_ID" "$T/f-repl.body" && return 0
	return 1
}
case6_replaced() {
	echo "== 6: an upload on node 2 replaces node 1's bundle"
	upload 1 repl-old --max-fetches 20
	uploaded 1 repl-old || return 0
	OLD_ID=$(held_id 1)
	fetch 1 j6 repl-old
	check "node 1 serves it (got $CODE)" [ "$CODE" = 200 ]
	[ "$CODE" != 200 ] || cp "$T/f-repl-old.body" "$T/sealed-repl-old.json"
	upload 2 repl-new --max-fetches 20
	uploaded 2 repl-new || return 0
	NEW_ID=$(held_id 2)
	poll 10 not_serving_old || true
	said 1 repl
	check "node 1 stops serving $OLD_ID within 10 s (${POLL_MS} ms; last $CODE $REASON)" [ "$CODE" != 200 ]
	poll 5 replaced_on_1 || true
	[ "$CODE $REASON" = "410 replaced" ] || said 1 repl
	check "... and says why: 410 replaced, or 409 naming $NEW_ID (got $CODE $REASON)" \
		bash -c "[ '$CODE $REASON' = '410 replaced' ] || { [ '$CODE' = 409 ] && grep -q '$NEW_ID' '$T/f-repl.body'; }"
	fetch 1 j6 repl-plain
	said 1 repl-plain
	check "node 1, a fetch without ?id: not the old bundle (got $CODE $REASON)" \
		bash -c "[ '$CODE' != 200 ] || [ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"id\"])' '$T/f-repl-plain.body')\" != '$OLD_ID' ]"
	fetch 2 j6 repl-2
	check "node 2 serves the new bundle $NEW_ID (got $CODE, id $(json_get "$T/f-repl-2.body" id))" \
		[ "$CODE" = 200 -a "$(json_get "$T/f-repl-2.body" id)" = "$NEW_ID" ]
	[ "$CODE" = 200 ] && cp "$T/f-repl-2.body" "$T/sealed-node2.json"
	for n in 1 3; do # every node copies the new one
		poll 5 holds "$n" "$NEW_ID" || true
		check "node $n holds a copy of node 2's $NEW_ID (after ${POLL_MS} ms)" holds "$n" "$NEW_ID"
		fetch "$n" j6 "repl-copy-$n"
		check "node $n serves it, the same bytes as node 2 (got $CODE)" \
			bash -c "[ '$CODE' = 200 ] && cmp -s '$T/f-repl-copy-$n.body' '$T/f-repl-2.body'"
	done
}

# Case 7: status on every node: the bundle each holds, the holders, coordination.
# status_holders NODE ID: NODE's status -o json holds ID, lists node-1..3 as holders and
# has a coordination object
status_holders() {
	status_json "$1" >"$T/status-$1.json" || true
	/usr/bin/python3 - "$T/status-$1.json" "$2" <<-'PY'
		import json, sys
		s = json.load(open(sys.argv[1]))
		names = sorted(h.get("node") for h in s.get("holders") or [])
		sys.exit(0 if (s.get("bundle") or {}).get("id") == sys.argv[2]
		         and names == ["node-1", "node-2", "node-3"]
		         and isinstance(s.get("coordination"), dict) else 1)
	PY
}
case7_status() {
	echo "== 7: pkishare status on every node: held, holders, coordination"
	local n rc
	for n in 1 2 3; do
		status_json "$n" >"$T/status-$n.json" || true
		check "status -o json on node $n: exit 0 (got $STRC)" [ "$STRC" = 0 ]
		rc=0
		in_ns "$n" "$PKISHARE" status --admin-socket "$(ND "$n")/admin.sock" >"$T/status-$n.txt" 2>&1 || rc=$?
		check "status (text) on node $n: exit 0 (got $rc)" [ "$rc" = 0 ]
		check "status (text) on node $n lists the holders (node-1, node-2, node-3)" \
			bash -c "grep -qi holder '$T/status-$n.txt' && grep -q node-1 '$T/status-$n.txt' && grep -q node-2 '$T/status-$n.txt' && grep -q node-3 '$T/status-$n.txt'"
		check "status (text) on node $n: the three registered nodes, no warning of being alone" \
			bash -c "grep -q '^nodes: *3 registered in etcd: .*node-1.*node-2.*node-3\|^nodes: *3 registered' '$T/status-$n.txt' && ! grep -q 'no other node' '$T/status-$n.txt'"
		check "status -o json on node $n: coordination.nodes has three names" \
			bash -c "python3 -c 'import json,sys; n=json.load(open(sys.argv[1]))[\"coordination\"][\"nodes\"]; sys.exit(0 if sorted(n)==[\"node-1\",\"node-2\",\"node-3\"] else 1)' '$T/status-$n.json'"
		poll 5 status_holders "$n" "${NEW_ID:-no bundle id from case 6}" || true
		check "status -o json on node $n: holds $NEW_ID, holders node-1..3, a coordination object (${POLL_MS} ms)" \
			status_holders "$n" "${NEW_ID:-no bundle id from case 6}"
		status_holders "$n" "${NEW_ID:-x}" ||
			info "node $n: holders $(json_get "$T/status-$n.json" holders | head -c 300); coordination $(json_get "$T/status-$n.json" coordination | head -c 500)"
	done
	grep -i -A4 holder "$T/status-1.txt" | head -5 | sed 's/^/   status on node 1: /'
}

# Case 8: no piece of a sealed bundle in any member's data directory.
case8_scan() {
	echo "== 8: no 32-byte piece of the sealed bundles in etcd's data directories"
	local bodies=() f n rc
	for f in "$T"/sealed-*.json; do [ -s "$f" ] && bodies+=("$f"); done
	ctl 1 get --prefix /pkishare/ >"$T/etcd-final.txt" 2>&1 || true
	check "etcd's records hold no sealed bundle (no SealedBundle, no xchacha)" \
		bash -c "! grep -q 'SealedBundle\|xchacha20poly1305' '$T/etcd-final.txt'"
	info "etcd holds $(ctl 1 get --prefix /pkishare/ --keys-only 2>/dev/null | grep -c . || true) keys under /pkishare/"
	check "sealed bundles to scan: ${#bodies[@]} (each fetched as sent by upload-certs)" [ "${#bodies[@]}" -ge 1 ]
	[ "${#bodies[@]}" -ge 1 ] || return 0
	# Stopped first, so that everything they wrote is on disk.
	for n in 1 2 3; do kill -CONT "${EPID[$n]}" 2>/dev/null || true; kill "${EPID[$n]}" 2>/dev/null || true; done
	for n in 1 2 3; do wait "${EPID[$n]}" 2>/dev/null || true; EPID[$n]=; done
	mkdir -p "$T/control"
	/usr/bin/python3 "$HERE/ctscan.py" plant "${bodies[0]}" "$T/control/planted"
	rc=0
	/usr/bin/python3 "$HERE/ctscan.py" scan "${bodies[@]}" -- "$T/control" >"$T/scan-control.out" 2>&1 || rc=$?
	check "the scanner finds a planted 32-byte piece, and only it (control)" \
		bash -c "[ $rc = 1 ] && [ \$(grep -c '^hit:' '$T/scan-control.out') = 1 ]"
	rc=0
	/usr/bin/python3 "$HERE/ctscan.py" scan "${bodies[@]}" -- "$(ND 1)/etcd-data" "$(ND 2)/etcd-data" "$(ND 3)/etcd-data" \
		>"$T/scan.out" 2>&1 || rc=$?
	sed 's/^/   /' "$T/scan.out" | tail -12
	check "no 32-byte window of any ciphertext in any member's WAL, snapshot or bbolt file" [ "$rc" = 0 ]
}

# named_hold ID TEXT: every node upload-certs --replicas named in TEXT holds ID right then
named_hold() {
	local n
	for n in 1 2 3; do
		has "$2" "node-$n" || continue
		check "... node-$n, named by upload-certs --replicas, holds $1 when it returns (holds '$(held_id "$n")')" holds "$n" "$1"
	done
}

# Case a: upload-certs --replicas 3; every node serves the same bytes.
A_ID=
A_KEY=
casea_replicas() {
	echo "== a: upload-certs --replicas 3: three holders, byte-identical copies"
	local n held cur rc=0
	upload 1 rep3 --max-fetches 20 --replicas 3 --replicas-timeout 10s
	held=$(grep -i 'held by' "$T/up-rep3.out" || true)
	info "upload-certs --replicas 3: exit $UPRC: ${held:-$(head -c 300 "$T/up-rep3.err" | tr '\n' ' ')}"
	check "upload-certs --replicas 3 on node 1: exit 0 (got $UPRC), a key printed" [ "$UPRC" = 0 -a "${#KEY}" = 64 ]
	for n in 1 2 3; do check "... it names node-$n as a holder" has "$held" "node-$n"; done
	[ "$UPRC" = 0 ] || return 0
	A_ID=$(held_id 1)
	named_hold "$A_ID" "$held"
	A_KEY=$KEY
	cur=$(cur_field sha256)
	for n in 1 2 3; do
		fetch "$n" j1 "rep-$n"
		check "node $n serves $A_ID to j1 (got $CODE${REASON:+ $REASON})" [ "$CODE" = 200 ]
	done
	check "the three bodies are byte-identical (cmp)" \
		bash -c "cmp '$T/f-rep-1.body' '$T/f-rep-2.body' && cmp '$T/f-rep-1.body' '$T/f-rep-3.body'"
	check "... and their SHA-256 is etcd's (current.sha256 ${cur:0:16}...)" [ "$(sha_of "$T/f-rep-3.body")" = "$cur" ]
	check "j1 on three nodes is one fetch cluster-wide (count $(count_of "$A_ID"))" [ "$(count_of "$A_ID")" = 1 ]
	cp "$T/f-rep-3.body" "$T/sealed-rep3.json"
	in_ns 4 env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" decrypt --pki-dir "$T/joined-a/pki" \
		<"$T/f-rep-3.body" >"$T/decrypt-a.log" 2>&1 || rc=$?
	check "pkishare decrypt opens node 3's copy (exit $rc): ca.key as node 1's" \
		bash -c "[ $rc = 0 ] && cmp -s '$C/pki/ca.key' '$T/joined-a/pki/ca.key'"
	# --replicas with coordination off: refused before anything is sealed (a standalone
	# pkishared in n4 with the spare serving certificate).
	local S=$T/standalone p
	mkdir -p "$S"
	printf 'listen = %s:9445\ntls-cert = %s\ntls-key = %s\nclient-ca = %s\nadmin-socket = %s\n' \
		"$(ip_of 4)" "$T/fake/serving/tls.crt" "$T/fake/serving/tls.key" "$C/clients/ca.crt" "$S/admin.sock" >"$S/conf"
	in_ns 4 "$PKISHARED" --config "$S/conf" </dev/null >"$S/log" 2>&1 &
	p=$!
	OTHER+=("$p")
	for _ in $(seq 1 100); do [ -S "$S/admin.sock" ] && break; sleep 0.05; done
	rc=0
	in_ns 4 "$PKISHARE" upload-certs --admin-socket "$S/admin.sock" --pki-dir "$(ND 1)/pki" --replicas 1 \
		>"$T/up-sa.out" 2>"$T/up-sa.err" || rc=$?
	info "upload-certs --replicas 1 to a standalone pkishared: exit $rc: $(head -c 250 "$T/up-sa.err" | tr '\n' ' ')"
	check "--replicas with coordination off: exit 2 (got $rc), no key printed" \
		bash -c "[ $rc = 2 ] && ! grep -qE '^[0-9a-f]{64}\$' '$T/up-sa.out'"
	in_ns 4 "$PKISHARE" status --admin-socket "$S/admin.sock" -o json >"$T/st-sa.json" 2>&1 || true
	check "... and the standalone pkishared holds nothing (bundle: $(json_get "$T/st-sa.json" bundle))" \
		[ "$(json_get "$T/st-sa.json" bundle)" = null ]
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}

# enroll_at NODE TOKEN TAG: POST /v1/enroll on NODE from n4 with a fresh CSR and the join
# token as bearer (as print-join-command --curl does); sets CODE and REASON.
enroll_at() {
	local n=$1 tok=$2 tag=$3
	[ -s "$T/en-$tag.csr" ] || openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=en-$tag" \
		-keyout "$T/en-$tag.key" -out "$T/en-$tag.csr" 2>/dev/null
	CODE=$(printf 'Authorization: Bearer %s\n' "$tok" | in_ns 4 curl -s --max-time 20 -H @- \
		--cacert "$C/pki/ca.crt" --data-binary @"$T/en-$tag.csr" -o "$T/en-$tag.body" \
		-w '%{http_code}' "https://$(ip_of "$n"):9443/v1/enroll" 2>/dev/null) || true
	[ -n "$CODE" ] || CODE=000
	REASON=$(json_get "$T/en-$tag.body" reason)
}
token_used() { etcd_value "/pkishare/tokens/$1" | python3 -c 'import json,sys
try: print(json.load(sys.stdin)["used"])
except Exception: print("?")'; } # token_used ID: its uses spent, as etcd keeps them
token_on() { # token_on NODE TAG [ARGS]: pkishare token create on NODE; the token in TOKEN
	local n=$1 tag=$2
	shift 2
	TOKEN=$(in_ns "$n" "$PKISHARE" token create --admin-socket "$(ND "$n")/admin.sock" "$@" \
		2>"$T/tok-$tag.err" | grep -oE '^[a-z0-9]{6}\.[a-z0-9]{16}$' | head -1 || true)
}

# Case i: join tokens are the cluster's: made on one node, they enroll on another, their
# uses count once cluster-wide (racing enrollments on three nodes), and the command
# print-join-command prints works through another node when the first is down.
casei_tokens() {
	echo "== i: join tokens across nodes"
	upload 1 tok --max-fetches 20 --replicas 3 --replicas-timeout 10s
	uploaded 1 tok || return 0
	local key=$KEY id i rc=0 ok=0 refused=0 cmd
	token_on 2 one --uses 1 --description "case i"
	check "a token made on node 2 (pkishare token create)" [ -n "$TOKEN" ]
	id=${TOKEN%%.*}
	check "... node 3 lists it (token list, within 3 s)" \
		poll 3 bash -c "ip netns exec ${NS[3]} '$PKISHARE' token list --admin-socket '$(ND 3)/admin.sock' | grep -q '^$id '"
	in_ns 4 env PKISHARE_TOKEN="$TOKEN" PKISHARE_CERTIFICATE_KEY="$key" "$PKISHARE" join \
		--server "$(ip_of 3):9443" --ca-cert-hash "$PIN" --pki-dir "$T/joined-tok/pki" \
		>"$T/join-tok.log" 2>&1 || rc=$?
	check "a join with it through node 3 works (exit $rc)" bash -c "[ $rc = 0 ] && cmp -s '$C/pki/sa.key' '$T/joined-tok/pki/sa.key'"
	check "... and etcd counts its one use (tokens/$id used $(token_used "$id"))" [ "$(token_used "$id")" = 1 ]
	enroll_at 1 "$TOKEN" spent
	check "the same token on node 1 is refused: used up (got $CODE $REASON)" [ "$CODE $REASON" = "401 used-up" ]
	# Racing enrollments with a two-use token, one on each node: exactly two certificates.
	token_on 1 two --uses 2 --description "race"
	local racers=()
	for i in 1 2 3; do
		(enroll_at "$i" "$TOKEN" "race-$i"; echo "$CODE $REASON" >"$T/en-race-$i.res") &
		racers+=($!)
	done
	wait "${racers[@]}" # (not a bare wait: the daemons are this shell's children too)
	for i in 1 2 3; do
		case $(cat "$T/en-race-$i.res") in 200*) ok=$((ok + 1)) ;; 401*) refused=$((refused + 1)) ;; esac
	done
	info "three enrollments racing on three nodes with a two-use token: $ok certificates, $refused refused ($(cat "$T"/en-race-*.res | tr '\n' ' '))"
	check "exactly 2 enrollments got a certificate, 1 was refused" [ "$ok $refused" = "2 1" ]
	# A token made an instant ago on another node: node 3 has not heard of it through its
	# watch yet (made slow here: 3 s), and asks the cluster before it answers (a hand-made
	# curl does not retry).
	stop_pkishared 3
	start_pkishared 3 PKISHARE_TEST_WATCH_DELAY_MS=3000
	check "node 3 restarted with its watch 3 s slow (a test hook)" \
		grep -q "TEST HOOK: a change the coordination watch reports is read 3000 ms late" "$(ND 3)/pkishared.log.now"
	check "... and serves" poll 5 pkishared_serves 3
	# (The CSRs made first: the enrollment follows the token's creation at once.)
	local got=""
	for i in 1 2 3; do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
			-subj "/CN=en-instant-$i" -keyout "$T/en-instant-$i.key" \
			-out "$T/en-instant-$i.csr" 2>/dev/null
	done
	for i in 1 2 3; do
		token_on 2 "instant-$i" --uses 1 --description "at once"
		enroll_at 3 "$TOKEN" "instant-$i"
		got="$got $CODE"
	done
	check "tokens made on node 2 enroll at once on node 3 by curl (got$got)" [ "$got" = " 200 200 200" ]
	# A node behind the cluster (node 3, still slow to hear) holds the bundle a new upload
	# replaced: a join with the new key asked there first moves on to the next --server.
	local hold3 jrc=0
	hold3=$(held_id 3)
	upload 1 i-new --max-fetches 20
	uploaded 1 i-new || { stop_pkishared 3; start_pkishared 3; return 0; }
	in_ns 4 env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" join --server "$(ip_of 3):9443" \
		--server "$(ip_of 1):9443" --ca-cert-hash "$PIN" --cert "$C/clients/j6.crt" \
		--key "$C/clients/j6.key" --pki-dir "$T/joined-behind/pki" >"$T/join-behind.log" 2>&1 || jrc=$?
	info "node 3 held ${hold3:-nothing} when the join asked it; join: $(grep -i 'next --server\|rotated' "$T/join-behind.log" | head -2 | tr '\n' ' ' | head -c 300)"
	check "a join with the new key, node 3 (behind) first, joins through node 1 (exit $jrc)" \
		bash -c "[ $jrc = 0 ] && cmp -s '$C/pki/sa.key' '$T/joined-behind/pki/sa.key'"
	key=$KEY # (the bundle held now)
	stop_pkishared 3
	start_pkishared 3
	check "node 3 restarted without the hook holds the bundle again" poll 10 holder_listed 3 "$(held_id 1)"
	token_on 1 plan --uses 1
	CODE=$(printf 'Authorization: Bearer %s\n' "$TOKEN" | in_ns 4 curl -s --max-time 20 -H @- \
		--cacert "$C/pki/ca.crt" -o "$T/plan-instant.body" -w '%{http_code}' \
		"https://$(ip_of 2):9443/v1/bundle/info" 2>/dev/null) || true
	check "... and one made on node 1 is good at once for the plan on node 2 (bundle/info: $CODE)" [ "$CODE" = 200 ]
	enroll_at 3 "zzzzzz.zzzzzzzzzzzzzzzz" unknown
	check "a token no node made is still refused, after the cluster was asked (got $CODE $REASON)" \
		[ "$CODE $REASON" = "401 bad-token" ]
	# The printed command lists every holder; with node 1 down it joins through another.
	cmd=$(in_ns 1 env PKISHARE_CERTIFICATE_KEY="$key" "$PKISHARE" print-join-command \
		--admin-socket "$(ND 1)/admin.sock" 2>"$T/pjc.err" || true)
	info "printed: $(sed -E 's/(TOKEN|KEY)=[^ ]*/\1=.../g' <<<"$cmd")"
	check "print-join-command lists the three nodes as --server" \
		bash -c "[ \$(grep -o -- '--server' <<<'$cmd' | wc -l) = 3 ]"
	stop_pkishared 1
	rc=0
	in_ns 4 env PATH="$(dirname "$PKISHARE"):$PATH" sh -c "$cmd --pki-dir $T/joined-pjc/pki" \
		>"$T/join-pjc.log" 2>&1 || rc=$?
	check "with node 1 down, the printed command joins through another node (exit $rc)" \
		bash -c "[ $rc = 0 ] && cmp -s '$C/pki/sa.key' '$T/joined-pjc/pki/sa.key'"
	[ "$rc" = 0 ] || info "$(tail -3 "$T/join-pjc.log" | tr '\n' ' ')"
	start_pkishared 1
}

# Case m: a pkishared killed (its coordd alive) is not left listed as a holder or a peer:
# its coordd withdraws its records once it has not called for 5 s; back, it registers.
holder_listed() { [ -n "$(etcd_value "/pkishare/holders/$2/node-$1")" ]; } # NODE ID
holder_gone() { ! holder_listed "$@"; }
casem_dead_holder() {
	echo "== m: a killed pkishared is no longer listed"
	upload 1 dead --replicas 3 --replicas-timeout 10s
	uploaded 1 dead || return 0
	local id
	id=$(held_id 1)
	check "node 3 is listed as a holder" poll 3 holder_listed 3 "$id"
	kill -9 "${DPID[3]}" 2>/dev/null || true
	wait "${DPID[3]}" 2>/dev/null || true
	DPID[3]=
	check "within 8 s of pkishared's kill -9 on node 3, its coordd withdraws its holder record" \
		poll 8 holder_gone 3 "$id"
	info "withdrawn after ${POLL_MS} ms"
	check "... and its peer registration (nodes/node-3)" [ -z "$(etcd_value /pkishare/nodes/node-3)" ]
	start_pkishared 3
	check "restarted, node 3 registers and holds a copy again (within 5 s)" poll 5 holder_listed 3 "$id"
	check "... and is registered" poll 3 registered 3
}

# Case j: an etcd leader change never extends a deadline (leases are renewed to their
# full TTL by a new leader; deadlines are each node's own).
casej_leader_change() {
	echo "== j: a leader change does not extend the bundle's deadline"
	upload 1 short --ttl 8s --replicas 3 --replicas-timeout 5s
	uploaded 1 short || return 0
	local t0 leader target n served=0
	t0=$(date +%s)
	ctl 1 endpoint status -w json >"$T/epstat.json" 2>/dev/null || true
	read -r leader target < <(python3 -c 'import json,sys
s = json.load(open(sys.argv[1]))
lead = s[0]["Status"]["leader"]
ids = [e["Status"]["header"]["member_id"] for e in s]
ep = [e["Endpoint"] for e in s if e["Status"]["header"]["member_id"] == lead][0]
print(ep, format([i for i in ids if i != lead][0], "x"))' "$T/epstat.json" 2>/dev/null || echo "- -")
	if [ "$leader" != - ]; then
		in_ns 1 env ETCDCTL_API=3 etcdctl --endpoints="$leader" --cacert "$(ND 1)/etcd-client/ca.crt" \
			--cert "$(ND 1)/etcd-client/client.crt" --key "$(ND 1)/etcd-client/client.key" \
			move-leader "$target" >"$T/move-leader.log" 2>&1 || true
	fi
	info "leader moved from $leader to member $target: $(head -c 200 "$T/move-leader.log" 2>/dev/null)"
	check "the etcd leader changed" grep -q 'Leadership transferred' "$T/move-leader.log"
	sleep $((t0 + 10 - $(date +%s)))
	for n in 1 2 3; do
		fetch "$n" j2 "short-$n"
		[ "$CODE" = 200 ] && served=$((served + 1))
		info "node $n after the deadline: $CODE${REASON:+ $REASON}"
	done
	check "no node serves the bundle past its 8 s deadline" [ "$served" = 0 ]
}

# Case b: the origin gone after the copies; joins go through node 2 with the same key.
caseb_origin_gone() {
	echo "== b: the origin killed, or cut off, after the copies: join through node 2"
	local before id after
	[ -n "$A_ID" ] || { fail "case b needs case a's bundle"; return 0; }
	before=$(count_of "$A_ID")
	kill9_pkishared 1
	status_json 2 >"$T/st-b.json" || true
	info "holders as node 2 sees them with node 1's pkishared dead: $(json_get "$T/st-b.json" holders)"
	join_via b-kill j2 "$A_KEY" 1 2
	info "join --server n1 --server n2: exit $JRC in $MS ms: $(tail -3 "$T/join-b-kill.log" | tr '\n' ' ' | head -c 300)"
	check "node 1's pkishared killed: join --server n1 --server n2 with the printed key: exit 0 (got $JRC, $MS ms)" \
		bash -c "[ $JRC = 0 ] && cmp -s '$C/pki/sa.key' '$T/joined-b-kill/pki/sa.key'"
	check "... served by node 2 (its audit log: a fetch by j2 of $A_ID)" audit_in 2 "event=fetch .*client=j2 .*bundle=$A_ID result=ok"
	after=$(count_of "$A_ID")
	check "... counted once in etcd (count $before -> $after)" [ "$after" = $((before + 1)) ]
	start_pkishared 1
	poll 5 holds 1 "$A_ID" || true
	check "node 1 restarted (empty, no systemd store) copies $A_ID back from a peer (${POLL_MS} ms)" holds 1 "$A_ID"
	# The same with node 1's namespace cut off, on a fresh upload there.
	upload 1 b-cut --max-fetches 20 --replicas 3 --replicas-timeout 5s
	uploaded 1 b-cut || return 0
	id=$(held_id 1)
	named_hold "$id" "$(grep -i 'held by' "$T/up-b-cut.out" || true)"
	poll 5 holds 2 "$id" || true # (what this part tests needs node 2's copy)
	info "node 2 holds $id $POLL_MS ms after upload-certs --replicas 3 returned"
	before=$(count_of "$id")
	partition 1
	join_via b-cut j3 "$KEY" 1 2
	after=$(count_of "$id")
	heal 1
	info "join --server n1 --server n2, n1 cut off: exit $JRC in $MS ms: $(tail -3 "$T/join-b-cut.log" | tr '\n' ' ' | head -c 300)"
	check "node 1 cut off: join --server n1 --server n2: exit 0 (got $JRC, $MS ms)" \
		bash -c "[ $JRC = 0 ] && cmp -s '$C/pki/sa.key' '$T/joined-b-cut/pki/sa.key'"
	check "... served by node 2 (its audit log: a fetch by j3 of $id)" audit_in 2 "event=fetch .*client=j3 .*bundle=$id result=ok"
	check "... counted once in etcd (count $before -> $after)" [ "$after" = $((before + 1)) ]
	wait_quorum 15 || true
}

# Case c: the origin dead before anyone copied.
casec_origin_dead() {
	echo "== c: the origin dead before anyone copied: --replicas fails, the others say 503 not-held-here"
	local id n rc=0
	stop_pkishared 2
	stop_pkishared 3
	upload 1 c --max-fetches 20 --replicas 2 --replicas-timeout 3s
	id=$(held_id 1)
	info "upload-certs --replicas 2 --replicas-timeout 3s: exit $UPRC: $(cat "$T/up-c.err" <(grep -i 'held by' "$T/up-c.out") | head -c 400 | tr '\n' ' ')"
	check "upload-certs --replicas 2, nodes 2 and 3 down: exit 1 (got $UPRC), the key printed all the same" \
		[ "$UPRC" = 1 -a "${#KEY}" = 64 ]
	check "... it names node-1, and only node-1, as holding it" \
		bash -c "grep 'hold bundle' '$T/up-c.err' | grep -q node-1 && ! grep 'hold bundle' '$T/up-c.err' | grep -q 'node-[23]' && ! grep -qi 'held by' '$T/up-c.out'"
	check "... and says of nodes 2 and 3 that they hold no copy, or are not registered" \
		bash -c "grep -q 'holding no copy: .*node-[23]' '$T/up-c.err' || grep -q 'only 1 node(s) are registered' '$T/up-c.err'"
	kill9_pkishared 1
	start_pkishared 2
	start_pkishared 3
	for n in 2 3; do
		fetch "$n" j4 "c-first-$n"
		said "$n" "c-first-$n"
		check "node $n (restarted, nothing to copy from): its first answer is 503, not 404 (got $CODE $REASON)" [ "$CODE" = 503 ]
		poll 3 fetch_reason "$n" j4 "c-$n" 503 not-held-here || true
		check "node $n: 503 not-held-here (got $CODE $REASON, Retry-After '$RETRY')" \
			[ "$CODE $REASON" = "503 not-held-here" -a "$RETRY" = 1 ]
		get 4 "$n" /v1/bundle/info "c-info-$n" --cert "$C/clients/j4.crt" --key "$C/clients/j4.key"
		check "node $n: /v1/bundle/info 503 not-held-here too (got $CODE $REASON)" [ "$CODE $REASON" = "503 not-held-here" ]
	done
	join_via c j5 "$KEY" 2 3
	info "join --server n2 --server n3: exit $JRC in $MS ms: $(tail -3 "$T/join-c.log" | tr '\n' ' ' | head -c 400)"
	check "join --server n2 --server n3: fails (exit $JRC), not as 'nothing uploaded' (6)" [ "$JRC" != 0 -a "$JRC" != 6 ]
	# delete-certs on a node that holds nothing at all
	in_ns 2 "$PKISHARE" delete-certs --admin-socket "$(ND 2)/admin.sock" >"$T/del-c.out" 2>&1 || rc=$?
	info "delete-certs on node 2 (holds nothing): exit $rc: $(head -c 300 "$T/del-c.out" | tr '\n' ' ')"
	check "delete-certs on node 2, which holds nothing: exit 0 (got $rc)" [ "$rc" = 0 ]
	local gone
	gone=$(etcd_value /pkishare/gone)
	check "... etcd records $id as gone, deleted (gone: $gone)" has "$gone" "$id.*deleted\|deleted.*$id"
	for n in 3 2; do
		poll 5 fetch_reason "$n" j5 "c-del-$n" 410 deleted || true
		check "node $n answers 410 deleted (${POLL_MS} ms; last $CODE $REASON)" [ "$CODE $REASON" = "410 deleted" ]
	done
	start_pkishared 1
}

# Case e: the peer route is for registered nodes' serving keys only, and they for it only.
casee_peer_route() {
	echo "== e: the peer route refuses joiners, enrolled identities and no certificate; a node's identity does not join"
	local id token rc=0 E=$T/enrolled S2
	S2=$(ND 2)/serving
	upload 1 e --max-fetches 20 --replicas 3 --replicas-timeout 5s
	uploaded 1 e || return 0
	id=$(held_id 1)
	get 4 1 "/v1/peer/bundle?id=$id" e-joiner --cert "$C/clients/j5.crt" --key "$C/clients/j5.key"
	check "peer route, a joiner's client-CA certificate: 403 forbidden (got $CODE $REASON)" [ "$CODE $REASON" = "403 forbidden" ]
	get 4 1 "/v1/peer/bundle?id=$id" e-none
	check "peer route, no certificate: 403 (got $CODE $REASON)" [ "$CODE" = 403 ]
	get 4 1 "/v1/peer/bundle?id=$id" e-unreg --cert "$T/fake/serving/tls.crt" --key "$T/fake/serving/tls.key"
	# (it chains to no client CA: refused in the handshake, which curl sees as no answer)
	check "peer route, a serving certificate from the cluster CA that no node registered: refused (got $CODE $REASON; 403, or cut in the handshake and audited tls-refused)" \
		bash -c "[ '$CODE' = 403 ] || { [ '$CODE' = 000 ] && grep -q 'audit: event=refuse peer=$(ip_of 4):.*result=tls-refused' '$(ND 1)/pkishared.log.now'; }"
	# an enrolled identity: a token made on node 1, a CSR enrolled there
	token=$(in_ns 1 "$PKISHARE" token create --uses 1 --admin-socket "$(ND 1)/admin.sock" 2>/dev/null | tail -1) || true
	mkdir -p "$E"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=e2e-enrolled \
		-keyout "$E/node.key" -out "$E/node.csr" >/dev/null 2>&1 || true
	CODE=$(printf 'Authorization: Bearer %s\n' "$token" | in_ns 4 curl -s --max-time 10 --cacert "$C/pki/ca.crt" \
		-H @- --data-binary @"$E/node.csr" -o "$E/node.crt" -w '%{http_code}' "https://$(ip_of 1):9443/v1/enroll") || true
	check "enrollment at node 1 with a token made there: 200 (got $CODE)" [ "$CODE" = 200 ]
	get 4 1 /v1/bundle/info e-enr-info --cert "$E/node.crt" --key "$E/node.key"
	check "the enrolled identity reads /v1/bundle/info: 200 (got $CODE $REASON)" [ "$CODE" = 200 ]
	get 4 1 "/v1/peer/bundle?id=$id" e-enr --cert "$E/node.crt" --key "$E/node.key"
	check "peer route, the enrolled identity: 403 forbidden (got $CODE $REASON)" [ "$CODE $REASON" = "403 forbidden" ]
	# a node's serving identity, from its own namespace
	get 2 1 /v1/bundle e-node2 --cert "$S2/tls.crt" --key "$S2/tls.key"
	check "node 2's serving certificate on node 1's /v1/bundle: 403 forbidden (got $CODE $REASON)" [ "$CODE $REASON" = "403 forbidden" ]
	get 2 1 /v1/bundle/info e-node2-info --cert "$S2/tls.crt" --key "$S2/tls.key"
	check "... and on /v1/bundle/info: 403 (got $CODE $REASON)" [ "$CODE" = 403 ]
	get 2 1 "/v1/peer/bundle?id=$id" e-node2-peer --cert "$S2/tls.crt" --key "$S2/tls.key"
	check "control: node 2's serving certificate on the peer route: 200, etcd's SHA-256 (got $CODE)" \
		[ "$CODE" = 200 -a "$(sha_of "$T/f-e-node2-peer.body")" = "$(cur_field sha256)" ]
	check "none of these counted a fetch (count $(count_of "$id"))" [ "$(count_of "$id")" = 0 ]
	check "node 1's audit log names the refusals on the peer route" audit_in 1 "event=refuse .*result=forbidden"
}

# Case f: a holder that sends bytes that do not match the digest in etcd. A fake node
# (fakepeer.py in n4, a serving certificate from the cluster CA for its address) is
# registered by hand as a holder; node 1, the only real holder, is stopped (SIGSTOP) while
# node 2 starts, so the fake is all node 2 can copy from; then node 1 is continued.
FAKE_PORT=9444
casef_fake_peer() {
	echo "== f: a peer sending bytes that do not match etcd's digest"
	local id p rec pin n1pin
	stop_pkishared 2
	stop_pkishared 3
	upload 1 f --max-fetches 20
	if ! uploaded 1 f; then start_pkishared 2; start_pkishared 3; return 0; fi
	id=$(held_id 1)
	fetch 1 j6 f-real
	check "node 1 serves it (got $CODE)" [ "$CODE" = 200 ]
	/usr/bin/python3 - "$T/f-f-real.body" "$T/fake/body" <<-'PY'
		import re, sys
		b = bytearray(open(sys.argv[1], "rb").read())
		m = max(re.finditer(rb"[A-Za-z0-9+/]{40,}", bytes(b)), key=lambda m: m.end() - m.start())
		i = (m.start() + m.end()) // 2
		b[i] = ord("A") if b[i] != ord("A") else ord("B")
		open(sys.argv[2], "wb").write(b)
	PY
	check "the fake's bytes: the same size, another SHA-256" \
		bash -c "[ \$(stat -c %s '$T/fake/body') = \$(stat -c %s '$T/f-f-real.body') ] && ! cmp -s '$T/fake/body' '$T/f-f-real.body'"
	: >"$T/fake/requests"
	in_ns 4 /usr/bin/python3 "$HERE/fakepeer.py" "$(ip_of 4)" "$FAKE_PORT" "$T/fake/serving/tls.crt" \
		"$T/fake/serving/tls.key" "$C/pki/ca.crt" "$T/fake/body" "$T/fake/requests" >"$T/fake/log" 2>&1 &
	p=$!
	OTHER+=("$p")
	for _ in $(seq 1 60); do grep -q listening "$T/fake/log" && break; sleep 0.05; done
	# servingPin: sha256 of the leaf's SubjectPublicKeyInfo; checked against node 1's record
	spki_pin() { echo "sha256:$(openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -d' ' -f1)"; }
	n1pin=$(json_get <(etcd_value /pkishare/nodes/node-1) servingPin)
	check "node 1's registration in etcd carries its serving key's pin ($n1pin)" [ "$n1pin" = "$(spki_pin "$(ND 1)/serving/tls.crt")" ]
	pin=$(spki_pin "$T/fake/serving/tls.crt")
	rec="{\"peerAddress\":\"$(ip_of 4):$FAKE_PORT\",\"servingPin\":\"$pin\"}"
	ctl 1 put /pkishare/nodes/fake-0 "$rec" >/dev/null || true
	ctl 1 put "/pkishare/holders/$id/fake-0" "$rec" >/dev/null || true
	kill -STOP "${DPID[1]}" || true
	start_pkishared 2
	status_json 2 >"$T/st-f.json" || true
	info "holders as node 2 sees them: $(json_get "$T/st-f.json" holders)"
	poll 12 audit_in 2 "result=digest-mismatch" || true
	check "node 2 refuses the fake's bytes: an audit line with result=digest-mismatch (${POLL_MS} ms)" audit_in 2 "result=digest-mismatch"
	grep 'digest-mismatch' "$(ND 2)/pkishared.log.now" | head -1 | sed 's/^/   node 2: /'
	check "the fake was asked for $id by node 2 ($(head -1 "$T/fake/requests"))" grep -q "^$(ip_of 2) .*/v1/peer/bundle?id=$id" "$T/fake/requests"
	fetch 2 j6 f-2
	check "node 2 does not hold the bytes: 503 not-held-here (got $CODE $REASON)" [ "$CODE $REASON" = "503 not-held-here" ]
	check "... and its status says it holds nothing (held: '$(held_id 2)')" [ -z "$(held_id 2)" ]
	kill -CONT "${DPID[1]}" || true
	poll 15 holds 2 "$id" || true
	check "node 1 continued: node 2 copies $id from it (${POLL_MS} ms)" holds 2 "$id"
	check "... audited as copied from node-1" audit_in 2 "client=node-1 .*bundle=$id result=copied"
	fetch 2 j6 f-2-after
	check "node 2 serves node 1's bytes, not the fake's (got $CODE)" \
		bash -c "[ '$CODE' = 200 ] && cmp -s '$T/f-f-2-after.body' '$T/f-f-real.body'"
	# The fake sends the right bytes a byte a second (each read within any timeout): node
	# 2's copy is cut when it outlives a copy's time (10 s for this size), audited, and node
	# 2 copies from node 1 once that one answers.
	# (another port: the first fake goes on serving until the case ends)
	: >"$T/fake/requests-slow"
	in_ns 4 /usr/bin/python3 "$HERE/fakepeer.py" "$(ip_of 4)" "$((FAKE_PORT + 2))" "$T/fake/serving/tls.crt" \
		"$T/fake/serving/tls.key" "$C/pki/ca.crt" "$T/f-f-real.body" "$T/fake/requests-slow" slow >"$T/fake/log-slow" 2>&1 &
	OTHER+=("$!")
	for _ in $(seq 1 60); do grep -q listening "$T/fake/log-slow" && break; sleep 0.05; done
	rec="{\"peerAddress\":\"$(ip_of 4):$((FAKE_PORT + 2))\",\"servingPin\":\"$pin\"}"
	ctl 1 put /pkishare/nodes/fake-0 "$rec" >/dev/null || true
	ctl 1 put "/pkishare/holders/$id/fake-0" "$rec" >/dev/null || true
	stop_pkishared 2
	kill -STOP "${DPID[1]}" || true
	start_pkishared 2
	poll 30 audit_in 2 "client=fake-0 .*result=copy-cut" || true
	check "node 2's copy from the slow fake is cut, audited copy-cut (${POLL_MS} ms)" audit_in 2 "client=fake-0 .*result=copy-cut"
	grep 'copy' "$(ND 2)/pkishared.log.now" | tail -6 | cut -c1-240 | sed 's/^/   node 2: /'
	info "the slow fake was asked: $(tr '\n' ' ' <"$T/fake/requests-slow")"
	kill -CONT "${DPID[1]}" || true
	poll 20 holds 2 "$id" || true
	check "... and node 2 copies $id from node 1 afterwards (${POLL_MS} ms)" holds 2 "$id"
	# The same fake registered with another key's pin (node 3's): a puller pins the
	# registered serving key (proto/coord.md, connect), so it must not get as far as a
	# request. Node 3 starts with nodes 1 and 2 stopped: the fake is all it could copy from.
	rec="{\"peerAddress\":\"$(ip_of 4):$FAKE_PORT\",\"servingPin\":\"$(spki_pin "$(ND 3)/serving/tls.crt")\"}"
	ctl 1 put /pkishare/nodes/fake-0 "$rec" >/dev/null || true
	ctl 1 put "/pkishare/holders/$id/fake-0" "$rec" >/dev/null || true
	: >"$T/fake/requests"
	kill -STOP "${DPID[1]}" "${DPID[2]}" || true
	start_pkishared 3
	poll 4 grep -q . "$T/fake/requests" || true
	check "a holder whose certificate is not its registered key gets no request from node 3 ($(head -1 "$T/fake/requests" || true))" \
		bash -c "! grep -q . '$T/fake/requests'"
	kill -CONT "${DPID[1]}" "${DPID[2]}" || true
	ctl 1 del /pkishare/nodes/fake-0 >/dev/null || true
	ctl 1 del "/pkishare/holders/$id/fake-0" >/dev/null || true
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	poll 12 holds 3 "$id" || true
	check "node 3 copies $id from a real holder (${POLL_MS} ms)" holds 3 "$id"
}

# Case g: a holder cut off from etcd never serves a bundle the cluster replaced.
caseg_partitioned_holder() {
	echo "== g: a partitioned holder never serves a replaced bundle"
	local old new r codes="" t pids=() tcut theal
	upload 1 g-old --max-fetches 20 --replicas 3 --replicas-timeout 5s
	uploaded 1 g-old || return 0
	old=$(held_id 1)
	named_hold "$old" "$(grep -i 'held by' "$T/up-g-old.out" || true)"
	poll 5 holds 3 "$old" || true # (what this case tests needs node 3's copy)
	get 3 3 "/v1/bundle?id=$old" g-before --cert "$C/clients/j7.crt" --key "$C/clients/j7.key"
	check "node 3 serves $old before (to j7, from inside n3; got $CODE)" [ "$CODE" = 200 ]
	partition 3
	tcut=$(now_ms)
	wait_quorum 10 || true
	upload 1 g-new --max-fetches 20 --replicas 3 --replicas-timeout 2s
	info "upload-certs --replicas 3 --replicas-timeout 2s, node 3 cut off: exit $UPRC: $(cat "$T/up-g-new.err" "$T/up-g-new.out" | grep -i 'held\|hold ' | head -c 300 | tr '\n' ' ')"
	check "upload-certs --replicas 3 with node 3 cut off: exit 1, node-3 not named as a holder (got $UPRC)" \
		bash -c "[ '$UPRC' = 1 ] && ! grep -q node-3 '$T/up-g-new.out' && ! grep 'hold bundle' '$T/up-g-new.err' | grep -q node-3"
	check "... and named as holding no copy (or not registered any more)" \
		bash -c "grep -q 'holding no copy: .*node-3' '$T/up-g-new.err' || grep -q 'only 2 node(s) are registered' '$T/up-g-new.err'"
	[ "${#KEY}" = 64 ] || { fail "upload-certs on node 1 printed no key"; heal 3; return 0; }
	new=$(held_id 1)
	# from inside n3's namespace: a new joiner, a repeat by j7, and a fetch without ?id
	bg_get 3 3 "/v1/bundle?id=$old" g-cut-new --cert "$C/clients/j8.crt" --key "$C/clients/j8.key" &
	pids+=($!)
	bg_get 3 3 "/v1/bundle?id=$old" g-cut-rep --cert "$C/clients/j7.crt" --key "$C/clients/j7.key" &
	pids+=($!)
	bg_get 3 3 /v1/bundle g-cut-plain --cert "$C/clients/j9.crt" --key "$C/clients/j9.key" &
	pids+=($!)
	wait "${pids[@]}" 2>/dev/null || true
	# The peer route: node 2's serving identity (as a peer cut off on node 3's side would
	# present it) asks node 3 for the old bundle node 3 still holds.
	get 3 3 "/v1/peer/bundle?id=$old" g-cut-peer --cert "$(ND 2)/serving/tls.crt" --key "$(ND 2)/serving/tls.key"
	check "peer route on node 3, cut off: the replaced bundle not handed to a peer (got $CODE $REASON; 503 coordination-unavailable)" \
		[ "$CODE $REASON" = "503 coordination-unavailable" ]
	for t in g-cut-new g-cut-rep g-cut-plain; do
		r=$(cat "$T/r-$t" 2>/dev/null || echo "000 - 0")
		info "$t on node 3, cut off: $r"
		check "$t: node 3 cut off never answers 200 for the old bundle (got $r)" [ "${r%% *}" != 200 ]
		check "$t: ... 503 coordination-unavailable (got $r)" has "$r" "^503 coordination-unavailable"
	done
	heal 3
	theal=$(now_ms)
	t=$((theal + 10000))
	while [ "$(now_ms)" -lt "$t" ]; do
		fetch 3 j7 g-heal "?id=$old"
		codes="$codes $CODE${REASON:+/$REASON}"
		holds 3 "$new" && break
		sleep 0.2
	done
	fetch 3 j7 g-heal "?id=$old"
	codes="$codes $CODE${REASON:+/$REASON}"
	info "node 3 after healing, j7 asking for the old bundle:$codes"
	check "after healing, never 200 for the old bundle ($(wc -w <<<"$codes") fetches)" lacks "$codes" " 200"
	info "node 3 was cut off for $((theal - tcut)) ms (coordd's lease: 10 s); etcd's nodes/node-3 now: '$(etcd_value /pkishare/nodes/node-3)'"
	check "node 3 wipes the old one (holds '$(held_id 3)')" bash -c "[ '$(held_id 3)' != '$old' ]"
	check "node 3 registered again after healing (etcd: $(registrations))" registered 3
	check "node 3 copies $new within 10 s of healing" holds 3 "$new"
	check "... and says why for the old one: 409 other-bundle-held or 410 replaced (got $CODE $REASON)" \
		bash -c "[ '$CODE $REASON' = '410 replaced' ] || [ '$CODE $REASON' = '409 other-bundle-held' ]"
	wait_quorum 15 || true
	all_registered || reregister
}

# Case h: kills at hand-offs: pkishared killed while it copies; coordd killed during an
# upload on another node.
caseh_kills() {
	echo "== h: kills at hand-offs"
	local r id d first
	for r in 1 2 3; do
		d=$(echo "0 0.02 0.1" | cut -d' ' -f"$r")
		upload 1 "h$r" --max-fetches 20
		uploaded 1 "h$r" || return 0
		id=$(held_id 1)
		sleep "$d"
		kill9_pkishared 2
		info "round $r: node 2 killed ${d}s after the upload; it had $(grep -c "bundle=$id result=copied" "$(ND 2)/pkishared.log.now" || true) copied line(s) for $id"
		start_pkishared 2
		fetch 2 j9 "h$r-first"
		first="$CODE $REASON"
		check "round $r: node 2's first answer after the restart: 503 not-held-here, or 200 with etcd's bytes (got $first)" \
			bash -c "[ '$first' = '503 not-held-here' ] || { [ '$CODE' = 200 ] && [ \$(sha256sum <'$T/f-h$r-first.body' | cut -d' ' -f1) = '$(cur_field sha256)' ]; }"
		poll 6 holds 2 "$id" || true
		check "round $r: node 2 copies $id again (${POLL_MS} ms)" holds 2 "$id"
		fetch 2 j9 "h$r-2"
		check "round $r: node 2 serves etcd's bytes (got $CODE)" [ "$CODE" = 200 -a "$(sha_of "$T/f-h$r-2.body")" = "$(cur_field sha256)" ]
	done
	kill -9 "${CPID[3]}" 2>/dev/null || true
	wait "${CPID[3]}" 2>/dev/null || true
	CPID[3]=
	upload 1 h-coordd --max-fetches 20
	uploaded 1 h-coordd || { start_coordd 3; return 0; }
	id=$(held_id 1)
	sleep 0.5
	info "node 3 with its coordd killed holds '$(held_id 3)'"
	start_coordd 3
	poll 10 holds 3 "$id" || true
	check "coordd 3 killed during the upload, restarted: node 3 copies $id (${POLL_MS} ms after the restart)" holds 3 "$id"
	fetch 3 j9 h-coordd-3
	check "... and serves etcd's bytes (got $CODE $REASON)" [ "$CODE" = 200 -a "$(sha_of "$T/f-h-coordd-3.body")" = "$(cur_field sha256)" ]
}

# Case k: haproxy in TCP mode in front of the three nodes (the README's snippet), in n5,
# the one address joiners use. The serving certificates are issued again naming it too,
# and pkishared reloads them (SIGHUP's path: pkishare reload).
VIP=$(ip_of 5)
HAPROXY=$(command -v haproxy 2>/dev/null || { [ -x /usr/sbin/haproxy ] && echo /usr/sbin/haproxy; } || true)
# haproxy_stat SERVER: that backend server's status as haproxy's stats socket says (UP, DOWN, ...)
haproxy_stat() {
	/usr/bin/python3 - "$T/haproxy/stats.sock" "$1" <<-'PY' 2>/dev/null || true
		import socket, sys
		s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
		s.settimeout(2)
		s.connect(sys.argv[1])
		s.sendall(b"show stat\n")
		data = b""
		while True:
		    d = s.recv(65536)
		    if not d:
		        break
		    data += d
		lines = data.decode().splitlines()
		head = lines[0].lstrip("# ").split(",")
		for l in lines[1:]:
		    f = dict(zip(head, l.split(",")))
		    if f.get("pxname") == "pkishared" and f.get("svname") == sys.argv[2]:
		        print(f.get("status", "?"), f.get("stot", "?"))
	PY
}
haproxy_down() { [ "$(haproxy_stat "$1" | cut -d' ' -f1)" = DOWN ]; } # haproxy_down SERVER
vip_listens() { in_ns 4 bash -c "exec 3<>/dev/tcp/$VIP/9443" 2>/dev/null; }
casek_haproxy() {
	echo "== k: haproxy in TCP mode in front of the three nodes: one address for joiners"
	if [ -z "$HAPROXY" ]; then
		skip "case k: haproxy is not installed (apt-get install haproxy)"
		return 0
	fi
	local n rc id key before after p H=$T/haproxy c kt0
	kt0=$(now_ms)
	for n in 1 2 3; do
		rc=0
		"$PKISHARE" pki serving-cert --pki-dir "$(ND "$n")/pki" --out "$(ND "$n")/serving" --node-name "node-$n" \
			--address "$(ip_of "$n")" --address "$VIP" --force >"$(ND "$n")/serving-k.log" 2>&1 || rc=$?
		check "node $n: serving certificate issued again for $(ip_of "$n") and $VIP (exit $rc)" \
			bash -c "[ $rc = 0 ] && openssl x509 -in '$(ND "$n")/serving/tls.crt' -noout -ext subjectAltName | grep -q 'IP Address:$VIP'"
		rc=0
		in_ns "$n" "$PKISHARE" reload --admin-socket "$(ND "$n")/admin.sock" >"$T/reload-k-$n.out" 2>&1 || rc=$?
		check "node $n: pkishare reload takes it (exit $rc: $(head -c 200 "$T/reload-k-$n.out" | tr '\n' ' '))" [ "$rc" = 0 ]
	done
	# The peer route after the reload: the nodes now present other serving keys.
	upload 1 k-reload --max-fetches 20 --replicas 3 --replicas-timeout 4s
	info "upload-certs --replicas 3 after the reloads: exit $UPRC: $(grep -i 'held by' "$T/up-k-reload.out" "$T/up-k-reload.err" | head -c 300 | tr '\n' ' ')"
	check "after the reloads (new serving keys), the nodes still copy from each other: --replicas 3 exit 0 (got $UPRC)" [ "$UPRC" = 0 ]
	if [ "$UPRC" != 0 ]; then
		info "registered pins: $(ctl 1 get --prefix /pkishare/nodes/ 2>/dev/null | grep -o 'sha256:[0-9a-f]\{12\}' | tr '\n' ' ')"
		for n in 1 2 3; do
			info "node $n serves the pin sha256:$(openssl x509 -in "$(ND "$n")/serving/tls.crt" -pubkey -noout | openssl pkey -pubin -outform der | sha256sum | cut -c1-12); its log: $(grep -i 'peer\|copy\|pin' "$(ND "$n")/pkishared.log.now" | tail -2 | tr '\n' ' ' | head -c 300)"
		done
		info "(restarting the three pkishared, which registers their new serving keys, for the rest of the case)"
		for n in 1 2 3; do stop_pkishared "$n"; start_pkishared "$n"; done
	fi
	upload 1 k --max-fetches 20 --replicas 3 --replicas-timeout 5s
	uploaded 1 k || return 0
	id=$(held_id 1)
	key=$KEY
	mkdir -p "$H"
	cat >"$H/haproxy.cfg" <<-CFG
		# e2e.multinode, case k: the README's snippet, with health-check timings for a test
		global
		    maxconn 256
		    stats socket $H/stats.sock mode 600 level admin
		defaults
		    timeout connect 2s
		    timeout client 30s
		    timeout server 30s
		    retries 3
		    option redispatch 1
		frontend pkishare
		    bind $VIP:9443
		    mode tcp
		    default_backend pkishared
		backend pkishared
		    mode tcp
		    option tcp-check
		    default-server inter 500 fall 2 rise 1
		    server cp-1 $(ip_of 1):9443 check
		    server cp-2 $(ip_of 2):9443 check
		    server cp-3 $(ip_of 3):9443 check
	CFG
	rc=0
	"$HAPROXY" -c -f "$H/haproxy.cfg" >"$H/check.log" 2>&1 || rc=$?
	check "haproxy -c accepts the configuration (exit $rc)" [ "$rc" = 0 ]
	[ "$rc" = 0 ] || { info "$(head -c 400 "$H/check.log")"; return 0; }
	in_ns 5 "$HAPROXY" -db -f "$H/haproxy.cfg" </dev/null >"$H/log" 2>&1 &
	p=$!
	OTHER+=("$p")
	poll 5 vip_listens || true
	check "haproxy listens on $VIP:9443 (${POLL_MS} ms)" vip_listens
	before=$(count_of "$id")
	join_via k-1 j1 "$key" 5
	info "join --server $VIP:9443: exit $JRC in $MS ms: $(tail -2 "$T/join-k-1.log" | tr '\n' ' ' | head -c 300)"
	check "pkishare join --server $VIP:9443 (haproxy) works (exit $JRC)" bash -c "[ $JRC = 0 ] && cmp -s '$C/pki/sa.key' '$T/joined-k-1/pki/sa.key'"
	get 4 5 /v1/bundle k-curl --cert "$C/clients/j2.crt" --key "$C/clients/j2.key"
	check "curl https://$VIP:9443/v1/bundle (haproxy), the cluster CA pinned: 200 (got $CODE $REASON)" [ "$CODE" = 200 ]
	check "... the bytes whose SHA-256 is etcd's" [ "$CODE" = 200 -a "$(sha_of "$T/f-k-curl.body")" = "$(cur_field sha256)" ]
	rc=0
	in_ns 4 env PKISHARE_CERTIFICATE_KEY="$key" "$PKISHARE" decrypt --pki-dir "$T/joined-k-curl/pki" \
		<"$T/f-k-curl.body" >"$T/decrypt-k.log" 2>&1 || rc=$?
	check "pkishare decrypt opens it (exit $rc): ca.key as node 1's" bash -c "[ $rc = 0 ] && cmp -s '$C/pki/ca.key' '$T/joined-k-curl/pki/ca.key'"
	# node 1's pkishared killed: the first join comes before any health check noticed
	kill9_pkishared 1
	for c in j3 j4 j5; do
		join_via "k-$c" "$c" "$key" 5
		check "node 1's pkishared killed: join --server $VIP:9443 as $c works (exit $JRC, $MS ms; haproxy: cp-1 $(haproxy_stat cp-1))" \
			bash -c "[ $JRC = 0 ] && cmp -s '$C/pki/sa.key' '$T/joined-k-$c/pki/sa.key'"
		[ "$JRC" = 0 ] || info "$(tail -3 "$T/join-k-$c.log" | tr '\n' ' ' | head -c 300)"
	done
	poll 3 haproxy_down cp-1 || true
	check "haproxy's health check marks cp-1 DOWN (${POLL_MS} ms; cp-1 $(haproxy_stat cp-1))" haproxy_down cp-1
	info "connections per node as haproxy counts them: cp-1 $(haproxy_stat cp-1), cp-2 $(haproxy_stat cp-2), cp-3 $(haproxy_stat cp-3)"
	for c in j1 j2 j3 j4 j5; do
		info "$c served by: $(for n in 1 2 3; do grep -q "event=fetch .*client=$c .*bundle=$id result=ok" "$(ND "$n")/pkishared.log.now" "$(ND "$n")/pkishared.log" 2>/dev/null && echo -n "node-$n "; done)"
	done
	get 4 5 /v1/bundle k-again --cert "$C/clients/j2.crt" --key "$C/clients/j2.key"
	check "j2 again through haproxy: 200 (got $CODE $REASON)" [ "$CODE" = 200 ]
	after=$(count_of "$id")
	check "etcd counts one fetch per identity: 5 identities (j1-j5), count $before -> $after" [ "$after" = $((before + 5)) ]
	check "... and holds 5 slots for $id ($(ctl 2 get --prefix "/pkishare/bundles/$id/slots/" --keys-only 2>/dev/null | grep -c . || true))" \
		[ "$(ctl 2 get --prefix "/pkishare/bundles/$id/slots/" --keys-only 2>/dev/null | grep -c . || true)" = 5 ]
	start_pkishared 1
	poll 5 holds 1 "$id" || true
	check "node 1 restarted copies $id back (${POLL_MS} ms)" holds 1 "$id"
	kill "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	info "case k: $(($(now_ms) - kt0)) ms"
}

# Case l: kills at hand-offs with coordination (the robustness model, several nodes),
# checked from outside against a model of what was acknowledged. Three kinds of round:
#   upload: upload-certs on node X with a key of ours, X's pkishared killed (kill -9) while
#     it answers or 0-50 ms after its answer, then restarted. An acknowledged upload (exit
#     0) has its key id in etcd, and its bundle is current and held by a node within a few
#     seconds, or etcd says why it went; a key id in etcd is refused again on every node.
#   fetch: a joiner's GET on node Y with Y's coordd killed while curl runs, then restarted.
#     A 200 has a slot in etcd for that identity; the count never exceeds the identities
#     served plus the slots still to be given back; once coordd is back, the count is the
#     identities served (a slot whose answer was lost is given back: unclaim).
#   copy: an upload on node 1 with node 2's pkishared and node 3's coordd killed while they
#     copy: a node that serves serves etcd's current.sha256, and both copy again.
rand_ms() { echo $((RANDOM % ($1 + 1))); }                          # rand_ms MAX
sleep_ms() { sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"; } # sleep_ms MS
key_id_of() { # key_id_of KEY: the first 8 bytes of BLAKE2b-256 of the key (proto/sealing.md)
	/usr/bin/python3 -c 'import hashlib, sys
print(hashlib.blake2b(bytes.fromhex(sys.argv[1]), digest_size=32).digest()[:8].hex())' "$1"
}
kill9_coordd() { # kill9_coordd N
	local p=${CPID[$1]}
	[ -n "$p" ] || return 0
	kill -9 "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	CPID[$1]=
}
restart_coordd() { # restart_coordd N: started, and answering (a killed one leaves its socket file)
	start_coordd "$1"
	poll 5 bash -c "/usr/bin/python3 '$HERE/coordcheck.py' --call '$(ND "$1")/coord.sock' ping '{}' 2>/dev/null | grep -q '\"ok\": true'" || true
}
# lview BID KEYID: one read of everything under /pkishare/ (from n2), as shell variables:
# L_KEYBID (keyids/KEYID), L_CUR and L_CURSHA (current), L_GONE ("reason id"), and for BID
# L_HOLDERS (holder nodes), L_COUNT, L_SLOTS, L_CLIENTS (the slots' clients, sorted), L_CERTS
lview() {
	ctl 2 get --prefix /pkishare/ -w json >"$T/l-view.json" 2>/dev/null || true
	eval "$(/usr/bin/python3 - "$T/l-view.json" "$1" "$2" <<-'PY'
		import base64, json, shlex, sys
		try:
		    kvs = json.load(open(sys.argv[1])).get("kvs") or []
		except Exception:
		    kvs = []
		kv = {base64.b64decode(e["key"]).decode(): base64.b64decode(e.get("value", "")).decode() for e in kvs}
		P, bid, kid = "/pkishare/", sys.argv[2], sys.argv[3]
		def js(k):
		    try: return json.loads(kv.get(P + k) or "null") or {}
		    except Exception: return {}
		cur, gone = js("current"), js("gone")
		b = P + "bundles/%s/" % bid
		clients = []
		for k, v in kv.items():
		    if k.startswith(b + "slots/"):
		        try: clients.append(json.loads(v).get("client", "?"))
		        except Exception: clients.append("?")
		out = {"L_KEYBID": kv.get(P + "keyids/" + kid, "") if kid else "",
		       "L_CUR": cur.get("id", ""), "L_CURSHA": cur.get("sha256", ""),
		       "L_GONE": ("%s %s" % (gone.get("reason", ""), gone.get("id", ""))).strip(),
		       "L_HOLDERS": " ".join(sorted(k.rsplit("/", 1)[1] for k in kv if k.startswith(P + "holders/%s/" % bid))),
		       "L_COUNT": kv.get(b + "count", "0") or "0",
		       "L_SLOTS": str(len(clients)), "L_CLIENTS": " ".join(sorted(clients)),
		       "L_CERTS": str(sum(1 for k in kv if k.startswith(b + "certs/")))}
		for k, v in out.items():
		    print("%s=%s" % (k, shlex.quote(v)))
	PY
	)"
}
# held_by BID: the nodes whose pkishared holds BID (their status), e.g. "node-1 node-3"
held_by() { local n; for n in 1 2 3; do holds "$n" "$1" && echo -n "node-$n "; done | sed 's/ $//'; }
# held_or_gone BID: etcd has BID current and a node holds it, or etcd says why it went
held_or_gone() {
	lview "$1" ""
	HELD_BY=$(held_by "$1")
	{ [ "$L_CUR" = "$1" ] && [ -n "$HELD_BY" ]; } || has "$L_GONE" " $1\$"
}
# holders_true BID: every holder etcd lists for BID holds it (no record of a node that lost it)
holders_true() {
	local h
	lview "$1" ""
	HELD_BY=$(held_by "$1")
	for h in $L_HOLDERS; do has " $HELD_BY " " $h " || return 1; done
}
both_hold() { holds 2 "$1" && holds 3 "$1"; } # both_hold BID: nodes 2 and 3 hold BID
# upload_settled BID: held_or_gone, and while BID is current, holders_true
upload_settled() { held_or_gone "$1" && { [ "$L_CUR" != "$1" ] || holders_true "$1"; }; }
# count_settled BID SERVED...: etcd's count of BID and its slots' clients are exactly SERVED
count_settled() {
	local bid=$1 want
	shift
	want=$(printf '%s\n' "$@" | grep . | sort | tr '\n' ' ' | sed 's/ $//')
	lview "$bid" ""
	[ "$L_COUNT" = "$#" ] && [ "$L_CLIENTS" = "$want" ]
}
casel_model() {
	echo "== l: kills at hand-offs with coordination, against a model of what was acknowledged"
	local r=0 x y k key kid mode ms up rc bid fbid ident res code n acked=0 n200=0 n503=0 nother=0 t0 lt0
	local served=() leaked=() unserved_slots=() extra upms=30
	lt0=$(now_ms)
	for k in $(seq 1 12); do # fresh identities for the fetch rounds, from the client CA
		"$PKISHARE" pki client-cert --ca-dir "$C/clients" --node-name "l$k" --out "$C/clients" >/dev/null 2>&1 ||
			info "pki client-cert l$k failed"
	done
	# Upload rounds.
	for x in 1 2 3 1; do
		r=$((r + 1))
		key=$(openssl rand -hex 32)
		kid=$(key_id_of "$key")
		if [ $((r % 2)) = 0 ]; then # within the last upload's time (from its start)
			ms=$(rand_ms "$upms")
			mode="during the upload, $ms ms after it began"
			(upload "$x" "l$r" --max-fetches 20 --certificate-key - <<<"$key"; echo "$UPRC" >"$T/l$r.rc") &
			up=$!
			sleep_ms "$ms"
			kill9_pkishared "$x"
			wait "$up" || true
			UPRC=$(cat "$T/l$r.rc" 2>/dev/null || echo "?")
		else
			ms=$(rand_ms 50)
			t0=$(now_ms)
			upload "$x" "l$r" --max-fetches 20 --certificate-key - <<<"$key"
			upms=$(($(now_ms) - t0))
			mode="$ms ms after its answer (it took $upms ms)"
			sleep_ms "$ms"
			kill9_pkishared "$x"
		fi
		start_pkishared "$x"
		lview "" "$kid"
		bid=$L_KEYBID
		info "round $r: upload on node $x (key id $kid), pkishared killed $mode: exit $UPRC; etcd: keyids/$kid ${bid:-absent}, current ${L_CUR:-none}"
		[ "$UPRC" = 0 ] && acked=$((acked + 1))
		[ "$UPRC" = 0 ] || info "round $r: not acknowledged (exit $UPRC: $(head -c 200 "$T/up-l$r.err" | tr '\n' ' '))"
		[ "$UPRC" != 0 ] || check "round $r: the acknowledged upload's key id $kid is in etcd (keyids/)" [ -n "$bid" ]
		[ -n "$bid" ] || continue
		poll 2 upload_settled "$bid" || true # (copies come within about a second: README)
		if [ "$UPRC" = 0 ]; then
			check "round $r: its bundle $bid is current in etcd (current: ${L_CUR:-none}) and held by a node (held by: ${HELD_BY:-nobody}), or etcd says why it went (gone: ${L_GONE:-none}) (${POLL_MS} ms)" \
				held_or_gone "$bid"
			if [ -z "$HELD_BY" ] && [ "$L_CUR" = "$bid" ]; then
				fetch "$x" j9 "l$r-origin"
				info "round $r: node $x (the origin, restarted) answers $CODE $REASON; node $(((x % 3) + 1)): $(fetch $(((x % 3) + 1)) j9 "l$r-other"; echo "$CODE $REASON")"
			fi
		fi
		if [ "$L_CUR" = "$bid" ]; then
			check "round $r: etcd's holders of $bid (${L_HOLDERS:-none}) are nodes that hold it (${HELD_BY:-nobody})" \
				holders_true "$bid"
		fi
		for n in 1 2 3; do # a key id in etcd is never accepted again, on any node
			upload "$n" "l$r-again-$n" --max-fetches 20 --certificate-key - <<<"$key"
			check "round $r: key id $kid again on node $n: refused, key-reused (exit $UPRC)" \
				bash -c "[ '$UPRC' != 0 ] && grep -q 'key-reused\|already used' '$T/up-l$r-again-$n.err'"
		done
	done
	info "upload rounds: $(($(now_ms) - lt0)) ms"
	# Fetch rounds, on one bundle every node holds.
	upload 1 l-fetch --max-fetches 50 --replicas 3 --replicas-timeout 5s
	uploaded 1 l-fetch || return 0
	fbid=$(held_id 1)
	t0=$(now_ms)
	for k in $(seq 1 12); do
		r=$((r + 1))
		y=$(((k - 1) % 3 + 1))
		ident=l$k
		ms=$((18 + $(rand_ms 12))) # a fetch takes 20-35 ms here; its claim comes near the end
		bg_get 4 "$y" /v1/bundle "l$r" --cert "$C/clients/$ident.crt" --key "$C/clients/$ident.key" &
		up=$!
		sleep_ms "$ms"
		kill9_coordd "$y"
		wait "$up" || true
		res=$(cat "$T/r-l$r" 2>/dev/null || echo "000 - 0")
		code=${res%% *}
		lview "$fbid" ""
		case $code in
		200) n200=$((n200 + 1)); served+=("$ident") ;;
		503) n503=$((n503 + 1)) ;;
		*) nother=$((nother + 1)) ;;
		esac
		info "round $r: GET on node $y as $ident, its coordd killed $ms ms after curl began: $res; etcd: count $L_COUNT, slots of ${L_CLIENTS:-nobody}"
		if [ "$code" = 200 ]; then
			check "round $r: a 200 to $ident: etcd has a slot for $ident (slots of: ${L_CLIENTS:-nobody})" has " $L_CLIENTS " " $ident "
			check "round $r: ... the body's SHA-256 is etcd's current.sha256" [ "$(sha_of "$T/f-l$r.body")" = "$L_CURSHA" ]
		fi
		# Slots of identities that got no 200 (a claim whose answer was lost): given back
		# once coordd is back (unclaim). One not given back is reported in its round, then
		# counted as such (leaked), so that each later round checks only its own.
		extra=0
		for c in $L_CLIENTS; do
			has " ${served[*]} ${leaked[*]} " " $c " && continue
			extra=$((extra + 1))
			has " ${unserved_slots[*]} " " $c " || unserved_slots+=("$c")
		done
		check "round $r: etcd's count ($L_COUNT) <= identities served (${#served[@]}) + slots to give back ($extra)${leaked[*]:+ + slots not given back before (${#leaked[@]})}" \
			[ "$L_COUNT" -le $((${#served[@]} + extra + ${#leaked[@]})) ]
		restart_coordd "$y"
		poll 3 count_settled "$fbid" "${served[@]}" "${leaked[@]}" || true
		check "round $r: coordd $y back: etcd's count is the identities served, ${#served[@]}${leaked[*]:+, plus the ${#leaked[@]} slot(s) not given back before} (count $L_COUNT, slots of: ${L_CLIENTS:-nobody}; ${POLL_MS} ms)" \
			count_settled "$fbid" "${served[@]}" "${leaked[@]}"
		for c in $L_CLIENTS; do
			has " ${served[*]} ${leaked[*]} " " $c " || leaked+=("$c")
		done
	done
	info "fetch rounds: $(($(now_ms) - t0)) ms"
	# Copy rounds.
	t0=$(now_ms)
	for k in 1 2 3; do
		r=$((r + 1))
		upload 1 "l$r" --max-fetches 20
		uploaded 1 "l$r" || continue
		bid=$(held_id 1)
		ms=$(rand_ms 80)
		sleep_ms "$ms"
		kill9_pkishared 2
		kill9_coordd 3
		info "round $r: upload on node 1, node 2's pkishared and node 3's coordd killed $ms ms after its answer"
		start_pkishared 2
		restart_coordd 3
		for n in 2 3 1; do # their first answers, then again once they hold it
			fetch "$n" j9 "l$r-first-$n"
			lview "$bid" ""
			[ "$CODE" = 200 ] || info "round $r: node $n's first answer after the kills: $CODE $REASON"
			[ "$CODE" != 200 ] || check "round $r: node $n serves etcd's current.sha256 (first answer after the kills)" \
				[ "$(sha_of "$T/f-l$r-first-$n.body")" = "$L_CURSHA" ]
		done
		poll 6 both_hold "$bid" || true
		for n in 1 2 3; do
			fetch "$n" j9 "l$r-$n"
			lview "$bid" ""
			check "round $r: node $n serves $bid, etcd's current.sha256 (got $CODE $REASON; holders ${L_HOLDERS:-none})" \
				[ "$CODE" = 200 -a "$L_CUR" = "$bid" -a "$(sha_of "$T/f-l$r-$n.body")" = "$L_CURSHA" ]
		done
	done
	info "copy rounds: $(($(now_ms) - t0)) ms"
	lview "$fbid" ""
	info "model: $r rounds, $acked acknowledged upload(s), $n200 200s, $n503 503s, $nother other answers; slots counted for identities that got no 200: ${#unserved_slots[@]} (${unserved_slots[*]:-none}), of which never given back: ${#leaked[@]} (${leaked[*]:-none}); etcd: $L_SLOTS slot(s) of the fetch rounds' bundle (count $L_COUNT), served ${#served[@]}; $(($(now_ms) - lt0)) ms"
}

# case_run FUNCTION: a case; PKM_ONLY="FUNCTION..." (to debug one case) runs only those
# after the baseline (and the scan).
case_run() {
	[ -z "${PKM_ONLY:-}" ] || grep -qw -- "$1" <<<"$PKM_ONLY" || return 0
	"$1"
}
case0_baseline
# PKM_FORCE_CASES=1 runs the cases against standalone daemons too (to debug the harness:
# the coordination checks then fail, as they should).
if [ "$COORD" = 1 ] || [ -n "${PKM_FORCE_CASES:-}" ]; then
	case_run case1_key_reuse
	case_run case2_race
	case_run case3_quorum
	case_run case4_coordd_killed
	case_run case5_delete_elsewhere
	case_run case6_replaced
	case_run case7_status
	case_run casea_replicas
	case_run caseb_origin_gone
	case_run casec_origin_dead
	case_run casee_peer_route
	case_run casef_fake_peer
	case_run caseg_partitioned_holder
	case_run caseh_kills
	case_run casei_tokens
	case_run casej_leader_change
	case_run casek_haproxy
	case_run casel_model
	case_run casem_dead_holder
	case8_scan
else
	for c in "1 key reuse" "2 race" "3 quorum" "4 coordd killed" "5 delete elsewhere" "6 replaced" "7 status" \
		"a replicas" "b origin gone" "c origin dead" "e peer route" "f fake peer" "g partitioned holder" "h kills" \
		"i tokens" "j leader change" "k haproxy" "l kills with coordination" "m dead holder"; do
		skip "case $c: pkishared has no --coord-socket yet (coordination not on main)"
	done
	case8_scan # standalone puts nothing in etcd; this checks the scanner and its control
fi

# The daemons stopped as systemd stops them; a sanitizer build reports leaks and errors at
# exit, and none may appear in any log.
for n in 1 2 3; do stop_pkishared "$n"; stop_coordd "$n"; done
bad=$(grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$T"/node*/pkishared.log* "$T"/node*/coordd.log 2>/dev/null || true)
check "no sanitizer report in any pkishared or coordd log${bad:+ (in: $bad)}" [ -z "$bad" ]
[ -z "$bad" ] || grep -hA12 -E 'ERROR: (Address|Leak)Sanitizer|runtime error:' $bad | head -40

if [ "$FAILS" != 0 ]; then
	for n in 1 2 3; do
		D=$(ND "$n")
		cat "$D/pkishared.log.now" >>"$D/pkishared.log" 2>/dev/null || true
		echo "--- node $n: pkishared log (last 15 lines, successful fetches left out)"
		grep -v 'event=fetch .* result=ok' "$D/pkishared.log" 2>/dev/null | tail -15 | sed 's/^/   /'
		echo "--- node $n: coordd log (last 8 lines)"
		tail -8 "$D/coordd.log" 2>/dev/null | sed 's/^/   /'
	done
fi
echo "wall time: $(($(date +%s) - START)) s"
echo "$CHECKS checks, $FAILS failed${SKIPS:+, $SKIPS skipped}"
[ "$FAILS" = 0 ]
