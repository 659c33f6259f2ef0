#!/bin/bash
# End to end with real third-party software: three control-plane nodes, each a directory
# and a network namespace this test creates (clients run through `ip netns exec`; nothing
# leaves loopback and these namespaces). Node 1 runs `pki init`, pkishared and
# upload-certs; node 2 joins with `pkishare join`; node 3 with curl + `pkishare decrypt` +
# `pkishare pki node-certs`. Then a real etcd member per node, using only those
# certificates with client and peer certificate authentication, forms one cluster; a
# fourth node with certificates from another `pki init` is refused.
#   test-etcd-cluster.sh [4|6]: the node network in IPv4 (10.250.0.0/24, default) or IPv6
#   (fd00:250::/64): pkishared, the joins, the node certificates' SANs and etcd's peer and
#   client URLs all use that family.
set -euo pipefail
FAMILY=${1:-4}
: "${PKISHARE:?}" "${PKISHARED:?}"
if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null || ! command -v etcd >/dev/null ||
	! command -v etcdctl >/dev/null; then
	echo "skip: needs root, iproute2, etcd-server and etcd-client (scripts/test.sh installs them)"
	exit 77
fi
T=$(mktemp -d /tmp/pkishare-e2e.XXXXXX)
chmod 755 "$T"
TAG=pks$FAMILY$$
HUB=$TAG-hub
NS=("" "$TAG-n1" "$TAG-n2" "$TAG-n3" "$TAG-n4")
PIDS=()
FAILS=0; CHECKS=0
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	# Anything still running inside our namespaces goes too.
	for n in "${NS[@]:1}"; do ip netns pids "$n" 2>/dev/null | xargs -r kill 2>/dev/null || true; done
	sleep 0.5
	for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	for n in "${NS[@]:1}" "$HUB"; do ip netns del "$n" 2>/dev/null || true; done
	rm -rf "$T"
}
trap cleanup EXIT
pass() { CHECKS=$((CHECKS + 1)); echo "ok: $*"; }
fail() { CHECKS=$((CHECKS + 1)); FAILS=$((FAILS + 1)); echo "FAIL: $*" >&2; }
check() { local w=$1; shift; if "$@"; then pass "$w"; else fail "$w"; fi; }
in_ns() { local n=$1; shift; ip netns exec "${NS[$n]}" "$@"; }
# ip N: node N's address; hp N PORT: host:port as a URL or --server wants it.
if [ "$FAMILY" = 6 ]; then
	ip_of() { echo "fd00:250::$1"; }
	hp() { echo "[fd00:250::$1]:$2"; }
	PREFIX=64
	# How openssl prints such an address in a certificate's SANs.
	san_of() { echo "FD00:250:0:0:0:0:0:$1"; }
else
	ip_of() { echo "10.250.0.$1"; }
	hp() { echo "10.250.0.$1:$2"; }
	PREFIX=24
	san_of() { echo "10.250.0.$1"; }
fi

# The network: a bridge in a hub namespace, one veth into each node namespace.
ip netns add "$HUB"
ip -n "$HUB" link add br0 type bridge
ip -n "$HUB" link set br0 up
for i in 1 2 3 4; do
	ip netns add "${NS[$i]}"
	ip -n "$HUB" link add "h$i" type veth peer name eth0 netns "${NS[$i]}"
	ip -n "$HUB" link set "h$i" master br0 up
	if [ "$FAMILY" = 6 ]; then # nodad: usable at once, no duplicate address detection
		ip -n "${NS[$i]}" addr add "$(ip_of "$i")/$PREFIX" dev eth0 nodad
	else
		ip -n "${NS[$i]}" addr add "$(ip_of "$i")/$PREFIX" dev eth0
	fi
	ip -n "${NS[$i]}" link set eth0 up
	ip -n "${NS[$i]}" link set lo up
done

# Node 1: the cluster PKI, its own node certificates, pkishared, upload.
N1=$T/node1
"$PKISHARE" pki init --dir "$N1" --node-name node-1 --address "$(ip_of 1)" --node-certs \
	--client node-2 --client node-3 >"$T/init.log"
PIN=$("$PKISHARE" pki ca-cert-hash "$N1/pki/ca.crt")
# Started with `ip netns exec` directly (not through a shell function), so that $! is the
# daemon itself and cleanup can stop it.
ip netns exec "${NS[1]}" "$PKISHARED" --config /dev/null --listen "$(hp 1 9443)" --tls-cert "$N1/pkishared/tls.crt" --tls-key "$N1/pkishared/tls.key" \
	--client-ca "$N1/clients/ca.crt" --admin-socket "$T/admin.sock" >/dev/null 2>"$T/pkishared.log" &
PIDS+=($!)
for _ in $(seq 1 100); do grep -q "listening on" "$T/pkishared.log" && break; sleep 0.05; done
KEY=$(in_ns 1 env PKISHARE_ADMIN_SOCKET="$T/admin.sock" "$PKISHARE" upload-certs --pki-dir "$N1/pki" | tail -1)
check "upload-certs on node 1" test ${#KEY} = 64

# Node 2: pkishare join, node certificates included.
in_ns 2 "$PKISHARE" join --server "$(hp 1 9443)" --ca-cert-hash "$PIN" --certificate-key "$KEY" \
	--cert "$N1/clients/node-2.crt" --key "$N1/clients/node-2.key" --pki-dir "$T/node2/pki" \
	--node-name node-2 --advertise-address "$(ip_of 2)" >"$T/join2.log"
check "node 2 joined (shared CAs + node certificates)" test -f "$T/node2/pki/etcd/peer.crt"

# Node 3: curl + pkishare decrypt + pkishare pki node-certs.
in_ns 3 curl -g -sS --fail-with-body --cacert "$N1/pki/ca.crt" --cert "$N1/clients/node-3.crt" --key "$N1/clients/node-3.key" \
	"https://$(hp 1 9443)/v1/bundle" | in_ns 3 "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$T/node3/pki" >"$T/join3.log"
in_ns 3 "$PKISHARE" pki node-certs --pki-dir "$T/node3/pki" --node-name node-3 --advertise-address "$(ip_of 3)" >>"$T/join3.log"
check "node 3 joined with curl" test -f "$T/node3/pki/etcd/peer.crt"

for n in 2 3; do
	for f in ca.crt ca.key sa.key sa.pub front-proxy-ca.crt front-proxy-ca.key etcd/ca.crt etcd/ca.key; do
		cmp -s "$N1/pki/$f" "$T/node$n/pki/$f" || fail "node $n: $f differs from node 1's"
	done
	pass "node $n: shared files identical to node 1's"
	P=$T/node$n/pki
	check "node $n: certificates verify against their CAs" bash -c "
		openssl verify -CAfile '$P/ca.crt' '$P/apiserver.crt' '$P/apiserver-kubelet-client.crt' >/dev/null &&
		openssl verify -CAfile '$P/front-proxy-ca.crt' '$P/front-proxy-client.crt' >/dev/null &&
		openssl verify -CAfile '$P/etcd/ca.crt' '$P/apiserver-etcd-client.crt' '$P/etcd/server.crt' '$P/etcd/peer.crt' '$P/etcd/healthcheck-client.crt' >/dev/null"
	ext() { openssl x509 -in "$P/$1.crt" -noout -subject -ext subjectAltName,extendedKeyUsage,keyUsage 2>/dev/null | tr '\n' ' '; }
	# What kubeadm documents (Kubernetes "PKI certificates and requirements").
	check "node $n: apiserver as kubeadm makes it" bash -c "e='$(ext apiserver)'; [[ \$e == *'CN = kube-apiserver'* && \$e == *'TLS Web Server Authentication'* && \$e == *'DNS:node-$n'* && \$e == *'DNS:kubernetes.default.svc.cluster.local'* && \$e == *'IP Address:10.96.0.1'* && \$e == *'IP Address:$(san_of $n)'* && \$e == *'Digital Signature, Key Encipherment'* ]]"
	check "node $n: apiserver-kubelet-client" bash -c "e='$(ext apiserver-kubelet-client)'; [[ \$e == *'O = kubeadm:cluster-admins, CN = kube-apiserver-kubelet-client'* && \$e == *'TLS Web Client Authentication'* ]]"
	check "node $n: apiserver-etcd-client" bash -c "e='$(ext apiserver-etcd-client)'; [[ \$e == *'CN = kube-apiserver-etcd-client'* && \$e == *'TLS Web Client Authentication'* ]]"
	check "node $n: front-proxy-client" bash -c "e='$(ext front-proxy-client)'; [[ \$e == *'CN = front-proxy-client'* && \$e == *'TLS Web Client Authentication'* ]]"
	check "node $n: etcd server and peer (server+client auth, node's names)" bash -c "for c in etcd/server etcd/peer; do e=\$(openssl x509 -in '$P/'\$c.crt -noout -subject -ext subjectAltName,extendedKeyUsage | tr '\n' ' '); [[ \$e == *'CN = node-$n'* && \$e == *'TLS Web Server Authentication, TLS Web Client Authentication'* && \$e == *'DNS:localhost'* && \$e == *'IP Address:$(san_of $n)'* && \$e == *'IP Address:127.0.0.1'* ]] || exit 1; done"
	check "node $n: etcd healthcheck client" bash -c "e='$(ext etcd/healthcheck-client)'; [[ \$e == *'CN = kube-etcd-healthcheck-client'* && \$e == *'TLS Web Client Authentication'* ]]"
	check "node $n: one-year validity" bash -c "[ \$(( \$(date -d \"\$(openssl x509 -in '$P/apiserver.crt' -noout -enddate | cut -d= -f2)\" +%s) - \$(date +%s) )) -gt 31000000 ]"
done
rm -rf "$N1/pkishared" # node 1's PKI directory is the only input below: as on a real node
mkdir -p "$T/node1"; [ -d "$T/node1/pki" ] || cp -a "$N1/pki" "$T/node1/pki"

# A real etcd member per node, with client and peer certificate authentication.
CLUSTER=node-1=https://$(hp 1 2380),node-2=https://$(hp 2 2380),node-3=https://$(hp 3 2380)
start_etcd() { # n name state cluster pkidir
	local n=$1 name=$2 state=$3 cluster=$4 P=$5
	ip netns exec "${NS[$n]}" etcd --name "$name" --data-dir "$T/etcd-$n" \
		--listen-client-urls "https://$(hp "$n" 2379)" --advertise-client-urls "https://$(hp "$n" 2379)" \
		--listen-peer-urls "https://$(hp "$n" 2380)" --initial-advertise-peer-urls "https://$(hp "$n" 2380)" \
		--initial-cluster "$cluster" --initial-cluster-state "$state" --initial-cluster-token "pkishare-e2e" \
		--client-cert-auth --trusted-ca-file "$P/etcd/ca.crt" --cert-file "$P/etcd/server.crt" --key-file "$P/etcd/server.key" \
		--peer-client-cert-auth --peer-trusted-ca-file "$P/etcd/ca.crt" --peer-cert-file "$P/etcd/peer.crt" --peer-key-file "$P/etcd/peer.key" \
		</dev/null >"$T/etcd-$n.log" 2>&1 &
	PIDS+=($!)
}
for n in 1 2 3; do start_etcd "$n" "node-$n" new "$CLUSTER" "$T/node$n/pki"; done
ENDPOINTS=https://$(hp 1 2379),https://$(hp 2 2379),https://$(hp 3 2379)
ctl() { # n pkidir args...: etcdctl from node n's namespace with that node's healthcheck client
	local n=$1 P=$2; shift 2
	in_ns "$n" env ETCDCTL_API=3 etcdctl --endpoints="$ENDPOINTS" --cacert "$P/etcd/ca.crt" \
		--cert "$P/etcd/healthcheck-client.crt" --key "$P/etcd/healthcheck-client.key" --dial-timeout=3s "$@"
}
# etcd 3.4 refuses membership changes for a few seconds after start: wait for health.
for _ in $(seq 1 60); do
	[ "$(ctl 2 "$T/node2/pki" endpoint health 2>&1 | grep -c 'is healthy')" = 3 ] && break
	sleep 1
done
ctl 2 "$T/node2/pki" endpoint health >"$T/health.txt" 2>&1 || true
check "etcdctl endpoint health: three healthy members" bash -c "[ \$(grep -c 'is healthy' '$T/health.txt') = 3 ]"
ctl 3 "$T/node3/pki" member list >"$T/members.txt" 2>&1 || true
check "etcdctl member list: three started members" bash -c "[ \$(grep -c ', started, ' '$T/members.txt') = 3 ]"
ctl 1 "$T/node1/pki" put pkishare e2e >/dev/null
check "a write on node 1 is read on node 3" bash -c "ip netns exec '${NS[3]}' env ETCDCTL_API=3 etcdctl --endpoints=https://$(hp 3 2379) --cacert '$T/node3/pki/etcd/ca.crt' --cert '$T/node3/pki/etcd/healthcheck-client.crt' --key '$T/node3/pki/etcd/healthcheck-client.key' get pkishare --print-value-only | grep -qx e2e"

# A fourth node with certificates from another `pki init` is refused.
"$PKISHARE" pki init --dir "$T/stranger" --node-name node-4 --address "$(ip_of 4)" --node-certs >/dev/null
rc=0; ctl 4 "$T/stranger/pki" --endpoints="https://$(hp 1 2379)" endpoint health >"$T/stranger-client.txt" 2>&1 || rc=$?
check "foreign client certificate refused by the cluster (etcdctl exit $rc)" bash -c "[ $rc != 0 ] && ! grep -q 'is healthy' '$T/stranger-client.txt'"
ctl 1 "$T/node1/pki" member add node-4 --peer-urls="https://$(hp 4 2380)" >"$T/add.txt" 2>&1 || true
start_etcd 4 node-4 existing "$CLUSTER,node-4=https://$(hp 4 2380)" "$T/stranger/pki"
sleep 6
ctl 1 "$T/node1/pki" member list >"$T/members4.txt" 2>&1 || true
check "foreign peer never becomes a started member" bash -c "grep -qF '$(hp 4 2380)' '$T/members4.txt' && [ \$(grep -c ', started, ' '$T/members4.txt') = 3 ]"
check "the cluster logged the rejected peer certificate" bash -c "grep -qi 'rejected connection\\|bad certificate\\|unknown authority' '$T'/etcd-[123].log '$T/etcd-4.log'"
ctl 2 "$T/node2/pki" endpoint health >"$T/health2.txt" 2>&1 || true
check "the three members are still healthy" bash -c "[ \$(grep -c 'is healthy' '$T/health2.txt') = 3 ]"
echo "$CHECKS checks, $FAILS failed"
[ "$FAILS" = 0 ]
