#!/bin/bash
# The daemon by hand: a second pkishared never removes a live admin socket (only a
# refused connection means stale), the socket's directory is made when missing (0755),
# and the start-up log names the configuration file read.
. "$(dirname "$0")/lib.sh"
R=$T/r
make_pki "$R"
start_daemon "$R"
upload "$R/pki"
check "the start-up log names the configuration file read" \
	grep -q "configuration file $NO_CONF read" "$DAEMON_LOG"

# A second daemon on the same admin socket: refused, and the first keeps its socket.
rc=0
timeout 60 "${PKISHARED_RUN[@]}" --listen 127.0.0.1:0 --tls-cert "$R/pkishared/tls.crt" \
	--tls-key "$R/pkishared/tls.key" --client-ca "$R/clients/ca.crt" --admin-socket "$ADMIN" \
	>"$T/second.log" 2>&1 || rc=$?
check "a second pkishared on a live admin socket does not start (exit $rc)" \
	bash -c "[ $rc != 0 ] && [ $rc != 124 ]"
check "... and says another pkishared answers on it" grep -q "is in use: another pkishared answers on it" "$T/second.log"
check "the first one's socket is still there" [ -S "$ADMIN" ]
expect_exit 0 "the first one still answers status" "$PKISHARE" status
expect_exit 0 "... and can still delete-certs" "$PKISHARE" delete-certs
stop_daemon

# A stale socket (nobody listens: the connection is refused) is replaced.
/usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.close()' "$T/admin.sock"
check "a stale socket file is there" [ -S "$T/admin.sock" ]
start_daemon "$R"
expect_exit 0 "a daemon starts over a stale socket and answers" "$PKISHARE" status
stop_daemon

# The socket's directory is made when missing, 0755, owned by the daemon's user (root
# under the package).
SOCK=$T/run/pkishare/admin.sock
mkdir -p "$T/run"
"${PKISHARED_RUN[@]}" --listen 127.0.0.1:0 --tls-cert "$R/pkishared/tls.crt" \
	--tls-key "$R/pkishared/tls.key" --client-ca "$R/clients/ca.crt" --admin-socket "$SOCK" \
	>"$T/mkdir.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 400); do [ -S "$SOCK" ] && break; sleep 0.05; done
check "the missing directory of the admin socket was made" [ -S "$SOCK" ]
check "... with mode 0755" [ "$(stat -c %a "$T/run/pkishare")" = 755 ]
check "... owned by the daemon's user" [ "$(stat -c %u "$T/run/pkishare")" = "$(id -u)" ]
expect_exit 0 "... and the daemon answers there" env PKISHARE_ADMIN_SOCKET="$SOCK" "$PKISHARE" status
stop_daemon
finish
