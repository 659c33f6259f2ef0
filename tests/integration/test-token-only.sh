#!/bin/bash
# Token-only mode, the kubeadm operator's way (issue 30): pkishared starts and serves with
# no client CA; nodes join with a join token through 'pkishare join' and through the curl
# recipe print-join-command prints; a client certificate from any CA is refused; start
# log, status (text and JSON) and STATUS= say token-only. A client CA that is the cluster
# CA is refused with the reason; a client CA named but missing is an error naming the
# file; enrolled-fetch = no without a client CA is refused. A reload adds and removes the
# client CA. The pki verbs make a node-identity CA and client certificates that fetch;
# their refusals change nothing.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
CONF=$T/token-only.conf
: >"$CONF"

# 1. Refusals at start: each says why and what to do; none serves.
expect_exit 2 "enrolled-fetch = no without a client CA is refused" "${PKISHARED_RUN[@]}" \
	--tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" --enrolled-fetch no \
	--listen 127.0.0.1:0 --admin-socket "$T/never.sock"
check "... saying nobody could fetch and what to set" err_has "nobody could fetch the bundle"
expect_exit 78 "a client CA named but missing is an error, not token-only" "${PKISHARED_RUN[@]}" \
	--tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
	--client-ca "$T/nothere/client-ca.crt" --listen 127.0.0.1:0 --admin-socket "$T/never.sock"
check "... naming the file" err_has "client CA $T/nothere/client-ca.crt (client-ca) does not exist"
check "... and both ways on (install a CA, or remove client-ca for token-only)" \
	bash -c "grep -q 'pkishare pki client-ca' '$T/last.err' && grep -q 'token-only' '$T/last.err'"
printf 'tls-cert = %s\ntls-key = %s\nclient-ca = %s\n' "$R/pkishared/tls.crt" \
	"$R/pkishared/tls.key" "$T/nothere/client-ca.crt" >"$T/missing.conf"
expect_exit 78 "the same named in the configuration file" "$PKISHARED" --config "$T/missing.conf" \
	--listen 127.0.0.1:0 --admin-socket "$T/never.sock"
check "... naming the file" err_has "$T/nothere/client-ca.crt (client-ca) does not exist"
expect_exit 78 "the cluster CA as client CA is refused" "${PKISHARED_RUN[@]}" \
	--tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
	--client-ca "$R/pki/ca.crt" --listen 127.0.0.1:0 --admin-socket "$T/never.sock"
check "... with the reason: every kubelet and component certificate could fetch" \
	err_has "every kubelet and component client certificate of the cluster could fetch"
check "... and what to use instead" bash -c "grep -q 'join tokens' '$T/last.err' && grep -q 'pkishare pki client-ca' '$T/last.err'"
cat "$R/clients/ca.crt" "$R/pki/ca.crt" >"$T/two-cas.crt"
expect_exit 78 "a client CA file that holds the cluster CA beside another is refused too" \
	"${PKISHARED_RUN[@]}" --tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
	--client-ca "$T/two-cas.crt" --listen 127.0.0.1:0 --admin-socket "$T/never.sock"
# kubeadm's other CAs, told by the names kubeadm gives them (found by an outside review),
# each with the client certificates that CA signs, not every CA's (review of issue 30).
for ca in front-proxy-ca.crt etcd/ca.crt; do
	expect_exit 78 "the cluster's $ca as client CA is refused" "${PKISHARED_RUN[@]}" \
		--tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
		--client-ca "$R/pki/$ca" --listen 127.0.0.1:0 --admin-socket "$T/never.sock"
	check "... saying it is one of the cluster's own CAs" err_has "one of the cluster's own CAs"
	if [ "$ca" = front-proxy-ca.crt ]; then
		check "... naming the clients that CA signs: front-proxy-client" err_has \
			"as kubeadm names the front-proxy CA, one of the cluster's own CAs: the client certificates it signs, front-proxy-client (the API server's aggregation client), could fetch"
	else
		check "... naming the clients that CA signs: apiserver-etcd-client, etcd's" err_has \
			"as kubeadm names the etcd CA, one of the cluster's own CAs: the client certificates it signs, apiserver-etcd-client and etcd's own certificates, could fetch"
	fi
	check "... not the other CAs' clients" bash -c "! grep -q 'kubelet' '$T/last.err'"
done
check "no refused start left an admin socket" [ ! -e "$T/never.sock" ]
# Another kubeadm cluster's CA (named "kubernetes", not this cluster's pin) is refused too.
"$PKISHARE" pki init --dir "$T/other" --node-name other-1 >/dev/null
expect_exit 78 "another kubeadm cluster's CA as client CA is refused" "${PKISHARED_RUN[@]}" \
	--tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
	--client-ca "$T/other/pki/ca.crt" --listen 127.0.0.1:0 --admin-socket "$T/never.sock"
check "... named as kubeadm names a cluster CA" err_has "holds a CA named kubernetes"
# The client side refuses to sign node certificates with any of kubeadm's CAs.
for d in "$R/pki" "$R/pki/etcd"; do
	expect_exit 2 "pki client-cert --ca-dir $d (kubeadm's CA) is refused" "$PKISHARE" pki \
		client-cert --ca-dir "$d" --node-name cp-7 --out "$T/cc-refused"
	check "... saying why and what to use" bash -c "grep -q 'not a node-identity CA' '$T/last.err' &&
		grep -q 'pkishare pki client-ca' '$T/last.err'"
	check "... writing nothing" [ ! -e "$T/cc-refused" ]
done

# 2. The pki verbs: a node-identity CA and a node's client certificate.
NCA=$T/node-ca
expect_exit 0 "pki client-ca" "$PKISHARE" pki client-ca --out "$NCA"
check "client-ca says where to install the CA for pkishared" grep -q "/etc/pkishare/client-ca.crt" "$T/last.out"
check "client-ca: key 0600" [ "$(stat -c %a "$NCA/ca.key")" = 600 ]
check "client-ca: a CA certificate" bash -c "openssl x509 -in '$NCA/ca.crt' -noout -ext basicConstraints | grep -q 'CA:TRUE'"
check "client-ca: ECDSA P-256" bash -c "openssl x509 -in '$NCA/ca.crt' -noout -text | grep -q 'NIST CURVE: P-256'"
SUM=$(tree_sum "$NCA")
expect_exit 10 "client-ca again without --force is refused" "$PKISHARE" pki client-ca --out "$NCA"
check "... and changes nothing" [ "$(tree_sum "$NCA")" = "$SUM" ]
NC=$T/node-certs
expect_exit 0 "pki client-cert" "$PKISHARE" pki client-cert --ca-dir "$NCA" --node-name cp-5 --out "$NC"
check "client-cert says what to do next" grep -q "pkishare join .*--cert cp-5.crt --key cp-5.key" "$T/last.out"
check "client-cert: key 0600" [ "$(stat -c %a "$NC/cp-5.key")" = 600 ]
check "client-cert: verifies against the CA for client use" \
	bash -c "openssl verify -CAfile '$NCA/ca.crt' -purpose sslclient '$NC/cp-5.crt' | grep -q OK"
check "client-cert: EKU clientAuth" bash -c "openssl x509 -in '$NC/cp-5.crt' -noout -ext extendedKeyUsage | grep -q 'TLS Web Client Authentication'"
check "client-cert: digitalSignature" bash -c "openssl x509 -in '$NC/cp-5.crt' -noout -ext keyUsage | grep -q 'Digital Signature'"
check "client-cert: CA:FALSE" bash -c "openssl x509 -in '$NC/cp-5.crt' -noout -ext basicConstraints | grep -q 'CA:FALSE'"
check "client-cert: CN is the node name" bash -c "openssl x509 -in '$NC/cp-5.crt' -noout -subject | grep -q 'CN *= *cp-5'"
check "client-cert: ECDSA P-256" bash -c "openssl x509 -in '$NC/cp-5.crt' -noout -text | grep -q 'NIST CURVE: P-256'"
SUM=$(tree_sum "$NC")
expect_exit 10 "client-cert again without --force is refused" "$PKISHARE" pki client-cert --ca-dir "$NCA" --node-name cp-5 --out "$NC"
check "... and changes nothing" [ "$(tree_sum "$NC")" = "$SUM" ]
expect_exit 0 "... --force replaces it" "$PKISHARE" pki client-cert --ca-dir "$NCA" --node-name cp-5 --out "$NC" --force
check "... and only then" [ "$(tree_sum "$NC")" != "$SUM" ]
expect_exit 1 "client-cert from a missing CA directory" "$PKISHARE" pki client-cert --ca-dir "$T/no-ca" --node-name cp-6 --out "$T/nc6"
check "... says which file and what to pass" bash -c "grep -q '$T/no-ca/ca.crt' '$T/last.err' && grep -q -- '--ca-dir' '$T/last.err'"
check "... and writes nothing" [ ! -e "$T/nc6" ]
expect_exit 2 "client-cert needs --node-name (the name is the identity)" "$PKISHARE" pki client-cert --ca-dir "$NCA" --out "$T/nc6"
check "... and writes nothing" [ ! -e "$T/nc6" ]

# 3. Token-only: no client CA anywhere.
start_daemon_token_only "$R" --config "$CONF"
check "the start log says token-only" grep -q "token-only: no client CA" "$DAEMON_LOG"
expect_exit 0 "status" "$PKISHARE" status
check "status says token-only" grep -q "^joiners: *token-only" "$T/last.out"
"$PKISHARE" status -o json >"$T/status.json"
check "status -o json: tokenOnly true, clientCa null" python3 -c "
import json, sys
j = json.load(open('$T/status.json'))
sys.exit(0 if j['tokenOnly'] is True and j['clientCa'] is None else 1)"
upload "$R/pki"

TOKEN=$("$PKISHARE" token create --uses 1)
expect_exit 0 "join with a token, the documented form" env PKISHARE_TOKEN="$TOKEN" \
	PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" \
	--node-name cp-2 --pki-dir "$T/n2/pki"
check "join with a token: byte-identical" diff -r -x pkishare-joined.json "$R/pki" "$T/n2/pki"
check "join with a token: fetched as an enrolled identity" grep -q "event=fetch.*client=cp-2 source=enrolled.*result=ok" "$DAEMON_LOG"

expect_exit 0 "print-join-command --curl" env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" print-join-command --curl
mkdir -p "$T/curlnode"
sed "s# pkishare decrypt\$# $PKISHARE decrypt --pki-dir $T/curlnode/pki#" "$T/last.out" >"$T/curl-recipe.sh"
expect_exit 0 "the printed curl recipe works in token-only mode" bash -c "cd '$T/curlnode' && bash -e '$T/curl-recipe.sh'"
check "curl recipe: byte-identical" diff -r -x pkishare-joined.json "$R/pki" "$T/curlnode/pki"

# Client certificates from any CA are refused: the one pki init made, and the new one.
refused() { # refused CERT KEY: the fetch fails and no fetch by its CN is logged
	! curl -sS -o /dev/null --cacert "$R/pki/ca.crt" --cert "$1" --key "$2" \
		"https://127.0.0.1:$PORT/v1/bundle" 2>/dev/null
}
fetches() { # fetches CERT KEY: the HTTP status of a fetch
	curl -sS -o /dev/null -w '%{http_code}' --cacert "$R/pki/ca.crt" --cert "$1" --key "$2" \
		"https://127.0.0.1:$PORT/v1/bundle" 2>/dev/null || true
}
check "token-only: a client certificate from pki init's client CA is refused" refused "$R/clients/node-2.crt" "$R/clients/node-2.key"
check "token-only: one from pki client-ca is refused" refused "$NC/cp-5.crt" "$NC/cp-5.key"
check "... in the handshake, audited with the cause" grep -q "result=tls-refused.*(token-only: no client CA" "$DAEMON_LOG"
check "no fetch by a client-CA identity" bash -c "! grep -q 'event=fetch.*source=client-ca' '$DAEMON_LOG'"

# 4. Reload: add the client CA, refuse the cluster CA, remove it again.
echo "client-ca = $NCA/ca.crt" >"$CONF"
expect_exit 0 "reload adding a client CA" "$PKISHARE" reload
"$PKISHARE" status >"$T/st2"
check "status names the client CA" grep -q "^joiners: *client CA $NCA/ca.crt" "$T/st2"
check "the start log says so at the reload" grep -q "client CA $NCA/ca.crt" "$DAEMON_LOG"
check "after the reload the node-identity certificate fetches" [ "$(fetches "$NC/cp-5.crt" "$NC/cp-5.key")" = 200 ]
check "... a certificate of another CA still does not" refused "$R/clients/node-2.crt" "$R/clients/node-2.key"
echo "client-ca = $R/pki/ca.crt" >"$CONF"
expect_exit 1 "reload with the cluster CA as client CA is refused" "$PKISHARE" reload
check "... saying why" err_has "every kubelet and component client certificate"
check "... the running client CA stays" [ "$(fetches "$NC/cp-5.crt" "$NC/cp-5.key")" = 200 ]
: >"$CONF"
expect_exit 0 "reload removing the client CA" "$PKISHARE" reload
check "token-only again: the node-identity certificate is refused" refused "$NC/cp-5.crt" "$NC/cp-5.key"
"$PKISHARE" status >"$T/st3"
check "status says token-only again" grep -q "^joiners: *token-only" "$T/st3"
echo "enrolled-fetch = no" >"$CONF"
expect_exit 1 "reload to enrolled-fetch = no without a client CA is refused" "$PKISHARE" reload
check "... and tokens still join" bash -c "TOKEN=\$('$PKISHARE' token create --uses 1) && PKISHARE_TOKEN=\$TOKEN PKISHARE_CERTIFICATE_KEY='$KEY' '$PKISHARE' join --server '$SERVER' --ca-cert-hash '$PIN' --node-name cp-3 --pki-dir '$T/n3/pki' >/dev/null 2>&1"
stop_daemon

# 5. STATUS= says token-only (a test NOTIFY_SOCKET).
/usr/bin/python3 "$(dirname "$0")/notify-listen.py" "$T/notify.sock" 30 "$T/notify.out" &
NL=$!
for _ in $(seq 1 100); do grep -q listening "$T/notify.out" 2>/dev/null && break; sleep 0.05; done
NOTIFY_SOCKET=$T/notify.sock start_daemon_token_only "$R"
for _ in $(seq 1 200); do grep -q "STATUS=Serving" "$T/notify.out" 2>/dev/null && break; sleep 0.05; done
check "STATUS= says token-only" grep -q "STATUS=Serving on 127.0.0.1:$PORT (token-only)" "$T/notify.out"
stop_daemon
kill "$NL" 2>/dev/null || true
wait "$NL" 2>/dev/null || true
finish
