#!/bin/bash
# What pkishare tells an operator to do is something that works, and a refusal changes
# nothing (outside review of issue 30): print-join-command with nothing held refuses and
# creates no token; the advice of its key refusal is followed and works; a client
# certificate refused by a token-only pkishared is told about join tokens.
. "$(dirname "$0")/lib.sh"
R=$T/n1
make_pki "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
start_daemon_token_only "$R"
tokens() { "$PKISHARE" token list -o json | grep -c '"id"' || true; }

# 1. print-join-command while nothing is held (never uploaded, then deleted).
expect_exit 6 "print-join-command before any upload is refused" \
	env PKISHARE_CERTIFICATE_KEY="$("$PKISHARE" certificate-key)" "$PKISHARE" print-join-command
check "... saying nothing is held and to run upload-certs first" bash -c \
	"grep -q 'pkishared holds no bundle' '$T/last.err' && grep -q \"run 'pkishare upload-certs' first\" '$T/last.err'"
check "... printing no command" [ ! -s "$T/last.out" ]
check "... and creating no token" [ "$(tokens)" = 0 ]
upload "$R/pki"
"$PKISHARE" delete-certs >/dev/null
expect_exit 6 "print-join-command after delete-certs is refused" \
	env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" print-join-command
check "... naming what became of the last bundle" err_has "is gone: deleted at"
check "... creating no token" [ "$(tokens)" = 0 ]
expect_exit 6 "print-join-command --curl too" env PKISHARE_CERTIFICATE_KEY="$KEY" \
	"$PKISHARE" print-join-command --curl
check "... creating no token" [ "$(tokens)" = 0 ]

# 2. A key that is not the held bundle's: the advice given, followed, works.
OLD=$KEY
upload "$R/pki"
expect_exit 4 "print-join-command with an earlier upload's key is refused" \
	env PKISHARE_CERTIFICATE_KEY="$OLD" "$PKISHARE" print-join-command
check "... not advising to upload again with this key (a used key id is refused)" \
	bash -c "! grep -q 'again with this key' '$T/last.err'"
check "... but to run upload-certs again, which prints a new key" err_has "it prints a new key"
check "... creating no token" [ "$(tokens)" = 0 ]
expect_exit 0 "following the advice: upload-certs again" "$PKISHARE" upload-certs --pki-dir "$R/pki"
NEW=$(tail -1 "$T/last.out")
expect_exit 0 "... and print-join-command with the key it printed" \
	env PKISHARE_CERTIFICATE_KEY="$NEW" "$PKISHARE" print-join-command
check "... prints the command" grep -q "^PKISHARE_TOKEN=" "$T/last.out"
# 3. A client certificate against this token-only pkishared (an operator with a kubelet's
# certificate, or pki init's clients/): told it may be token-only and to join with a token.
expect_exit 7 "join with a client certificate against a token-only pkishared is refused" \
	env PKISHARE_CERTIFICATE_KEY="$NEW" "$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" \
	--pki-dir "$T/cp2/pki" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key"
check "... saying the server may be token-only and to join with a join token" bash -c \
	"grep -q 'may be token-only' '$T/last.err' && grep -q \"pkishare print-join-command' on the first control-plane node\" '$T/last.err'"
check "... the pki init hint only for a throwaway test PKI" bash -c \
	"grep -q 'for a throwaway test PKI' '$T/last.err' && ! grep -q \"use a client certificate from the daemon's --client-ca (pkishare pki init\" '$T/last.err'"
check "... nothing written" [ ! -e "$T/cp2" ]
# curl without a certificate, piped into decrypt (the daemon's answer is what decrypt shows).
expect_exit 7 "curl without a certificate into decrypt is refused" bash -c \
	"curl -sS --cacert '$R/pki/ca.crt' https://127.0.0.1:$PORT/v1/bundle |
	 PKISHARE_CERTIFICATE_KEY=$NEW '$PKISHARE' decrypt --pki-dir '$T/cp3/pki'"
check "... saying this pkishared is token-only and how to enroll" bash -c \
	"grep -q 'this pkishared is token-only' '$T/last.err' && grep -q 'print-join-command --curl' '$T/last.err'"
check "... nothing written" [ ! -e "$T/cp3" ]

# pki client-ca --out the cluster's PKI directory: refused even with --force, which would
# replace the cluster's ca.crt and ca.key (review of issue 30, F4).
cp -a "$R/pki" "$T/kpki"
SUM=$(tree_sum "$T/kpki")
for force in "" --force; do
	expect_exit 2 "pki client-ca --out the cluster's PKI directory${force:+ $force}: refused" \
		"$PKISHARE" pki client-ca --out "$T/kpki" $force
	check "... saying it is the cluster's PKI directory and to pick another" \
		bash -c "grep -q 'the cluster.s PKI directory' '$T/last.err' && grep -q 'pick another directory' '$T/last.err' && ! grep -q -- '--force to' '$T/last.err'"
	check "... nothing changed" [ "$(tree_sum "$T/kpki")" = "$SUM" ]
done
expect_exit 2 "... its etcd/ directory too (the etcd CA)" "$PKISHARE" pki client-ca --out "$T/kpki/etcd" --force
check "... nothing changed" [ "$(tree_sum "$T/kpki")" = "$SUM" ]

# print-join-command --server with another port (the API server's 6443) or a name the
# serving certificate lacks is warned about, naming what pkishared serves (F6).
upload "$R/pki"
expect_exit 0 "print-join-command --server with the API server's port" \
	env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" print-join-command --server 127.0.0.1:6443
check "... warns, naming pkishared's port" bash -c "grep -q 'WARNING: --server port 6443 is not pkishared.s' '$T/last.err' && grep -q 'use port $PORT' '$T/last.err'"
expect_exit 0 "print-join-command --server with a name the serving certificate lacks" \
	env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" print-join-command --server "other.example.test:$PORT"
check "... warns, naming the serving names" bash -c "grep -q 'is not a name pkishared.s serving certificate carries (.*127.0.0.1' '$T/last.err'"
expect_exit 0 "print-join-command --server as pkishared serves: no warning" \
	env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" print-join-command --server "127.0.0.1:$PORT"
check "... none" bash -c "! grep -q WARNING '$T/last.err'"
check "... says the command stops with the bundle, not only the token's 24h" bash -c \
	"grep -q 'expires in 24h' '$T/last.err' && grep -q 'works only while the bundle it fetches is held: until 20' '$T/last.err'"
finish
