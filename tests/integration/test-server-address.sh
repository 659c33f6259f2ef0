#!/bin/bash
# --server as operators write it, through one parser (lib/addr.c): HOST:PORT,
# https://HOST:PORT[/], [IPv6]:PORT, HOST alone (pkishared's port 9443); a name that does
# not resolve says so (and nothing about a node being down); kubeadm's positional `join HOST:6443` gets a hint. pkishared's
# --listen takes the narrower form of the same parser: IPv4:PORT or [IPv6]:PORT.
. "$(dirname "$0")/lib.sh"
R=$T/r
make_pki "$R"
start_daemon "$R"
upload "$R/pki"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
J=(join --ca-cert-hash "$PIN" --certificate-key "$KEY" --cert "$R/clients/node-2.crt"
	--key "$R/clients/node-2.key")
expect_exit 0 "--server https://127.0.0.1:PORT" "$PKISHARE" "${J[@]}" --server "https://$SERVER" --pki-dir "$T/a/pki"
check "... installs the bundle" diff -r -x pkishare-joined.json "$R/pki" "$T/a/pki"
expect_exit 0 "--server https://127.0.0.1:PORT/ (a pasted URL)" "$PKISHARE" "${J[@]}" --server "https://$SERVER/" --pki-dir "$T/a/pki"
expect_exit 0 "--server HTTPS://... (any case)" "$PKISHARE" "${J[@]}" --server "HTTPS://$SERVER" --pki-dir "$T/a/pki"
expect_exit 11 "--server HOST without a port: pkishared's 9443" "$PKISHARE" "${J[@]}" --server 127.0.0.2 --pki-dir "$T/b/pki"
check "... the message names port 9443" err_has "127.0.0.2 port 9443"
expect_exit 11 "a name that does not resolve" "$PKISHARE" "${J[@]}" --server no-such-node.invalid:9443 --pki-dir "$T/b/pki"
check "... says it did not resolve" err_has "the name no-such-node.invalid did not resolve"
check "... and not 'No route to host'" bash -c "! grep -q 'No route to host' '$T/last.err'"
check "... nor the hint for a node that is down (the name is wrong, not the node)" bash -c "! grep -q 'already joined can serve' '$T/last.err'"
expect_exit 2 "--server http://...: refused as a usage error" "$PKISHARE" "${J[@]}" --server "http://$SERVER" --pki-dir "$T/b/pki"
check "... saying only https:// is spoken" err_has "only https://"
expect_exit 2 "--server with a bad port" "$PKISHARE" "${J[@]}" --server 127.0.0.1:0 --pki-dir "$T/b/pki"
check "... saying what a port is" err_has "the port must be a number from 1 to 65535"
expect_exit 2 "--server with a path" "$PKISHARE" "${J[@]}" --server "https://$SERVER/v1/bundle" --pki-dir "$T/b/pki"
check "... nothing written by any of them" [ ! -e "$T/b" ]
expect_exit 2 "kubeadm's positional join HOST:6443" "$PKISHARE" join 10.0.0.11:6443 --token abcdef.0123456789abcdef \
	--discovery-token-ca-cert-hash "$PIN" --control-plane --certificate-key "$KEY"
check "... gets a hint with the --server to use" err_has "not kubeadm's positional API server address (6443 is the API server's port; pkishared listens on 9443 unless told otherwise); try --server 10.0.0.11:9443"
expect_exit 0 "print-join-command --server HOST takes the default port" "$PKISHARE" print-join-command --server cp1.example.com
check "... and prints HOST:9443" grep -q -- "--server cp1.example.com:9443" "$T/last.out"
expect_exit 2 "print-join-command --server with a bad port" "$PKISHARE" print-join-command --server cp1:99999
stop_daemon

# --listen: an IP address and a port (0: the kernel picks), refused at start with a reason.
LA=(--tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" --client-ca "$R/clients/ca.crt"
	--admin-socket "$T/listen.sock")
expect_exit 2 "--listen 127.0.0.1:99999 (once bound as port 34463)" "${PKISHARED_RUN[@]}" "${LA[@]}" --listen 127.0.0.1:99999
check "... says the port's range" err_has "the port must be a number from 0 to 65535"
expect_exit 2 "--listen localhost:9443: a name, not an address" "${PKISHARED_RUN[@]}" "${LA[@]}" --listen localhost:9443
check "... says what is expected" err_has "'localhost:9443' is not an IP address; expected IPv4:PORT or \[IPv6\]:PORT"
expect_exit 2 "--listen 127.0.0.1 without a port" "${PKISHARED_RUN[@]}" "${LA[@]}" --listen 127.0.0.1
check "... says the port is missing" err_has "has no port"
printf 'listen = https://0.0.0.0:9443\n' >"$T/listen.conf"
expect_exit 2 "listen = https://... in the configuration file" "${PKISHARED_RUN[@]}" --config "$T/listen.conf" "${LA[@]}"
check "... names the file and line" err_has "$T/listen.conf:1: listen:"
check "... nothing bound or created" [ ! -e "$T/listen.sock" ]

# [IPv6]:PORT, where loopback IPv6 exists.
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
	"${PKISHARED_RUN[@]}" --listen '[::1]:0' --tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
		--client-ca "$R/clients/ca.crt" --admin-socket "$T/v6.sock" >"$T/v6.log" 2>&1 &
	DAEMON_PID=$!
	for _ in $(seq 1 100); do grep -q "listening on" "$T/v6.log" && break; sleep 0.05; done
	V6=$(grep -o 'listening on [^ ]*' "$T/v6.log" | head -1 | cut -d' ' -f3)
	PKISHARE_ADMIN_SOCKET=$T/v6.sock upload "$R/pki"
	expect_exit 0 "--server https://[::1]:PORT" "$PKISHARE" "${J[@]}" --certificate-key "$KEY" --server "https://$V6" --pki-dir "$T/c/pki"
	stop_daemon
fi

# pkishared listening on every address (the packaged default): print-join-command printed
# the host name, which clusters addressed by IP do not resolve. It now prints an address
# of the serving certificate (not a loopback one). The daemon runs in a network namespace
# of its own (only its loopback), so the wildcard binds nothing outside the test.
"$PKISHARE" pki serving-cert --pki-dir "$R/pki" --out "$T/wild" --node-name cp-w \
	--address 127.0.0.1 --address 10.250.0.7 >/dev/null
unshare -n sh -c 'ip link set lo up; exec "$@"' sh "${PKISHARED_RUN[@]}" --listen 0.0.0.0:0 \
	--tls-cert "$T/wild/tls.crt" --tls-key "$T/wild/tls.key" --client-ca "$R/clients/ca.crt" \
	--admin-socket "$T/wild.sock" >"$T/wild.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$T/wild.log" && break; sleep 0.05; done
WPORT=$(grep -o 'listening on [^ ]*' "$T/wild.log" | head -1 | cut -d' ' -f3 | sed 's/.*://')
PKISHARE_ADMIN_SOCKET=$T/wild.sock upload "$R/pki"
PKISHARE_ADMIN_SOCKET=$T/wild.sock PKISHARE_CERTIFICATE_KEY=$KEY "$PKISHARE" print-join-command \
	>"$T/wild.out" 2>"$T/wild.err" || true
check "every address: the printed --server is the certificate's address 10.250.0.7:$WPORT" \
	grep -q -- "--server 10.250.0.7:$WPORT " "$T/wild.out"
check "... and says where it comes from" grep -q "using 10.250.0.7:$WPORT from its serving certificate (it also names cp-w" "$T/wild.err"
check "... never the loopback address" bash -c "! grep -q -- '--server 127.0.0.1' '$T/wild.out'"
stop_daemon
finish
