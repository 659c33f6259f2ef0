#!/bin/bash
# No secret in any argv (issue 29): every command print-join-command prints, plain and
# --curl, runs as printed beneath strace and no execve carries the certificate key, the
# join token or the token's secret part as an argument; the documented forms likewise.
# A printed command's token enrolls one node. The key and the token given in the
# environment are wiped from it once read (/proc/PID/environ), and every mistake with
# them is said and changes nothing.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$PROTO_DIR/.." && pwd)

R=$T/c1
make_pki "$R"
start_daemon "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
upload "$R/pki"

# The printed commands run as pasted: `pkishare` found on PATH, from a script file (an
# operator's paste reaches an interactive shell, not an argv; `bash -c "$CMD"` would put
# the whole command in bash's own argv).
mkdir -p "$T/bin"
ln -sf "$PKISHARE" "$T/bin/pkishare"
export PATH="$T/bin:$PATH"

# traced NAME SCRIPT: run SCRIPT under strace (every execve of every process); the
# arguments of each execve, and nothing else, go to $T/NAME.argv. strace shows an
# execve's environment only as "/* N vars */" unless -v: checked below.
traced() {
	local name=$1 script=$2 rc=0
	# LeakSanitizer stops the world with ptrace, which a traced process cannot: leaks are
	# looked for by every other test of the sanitizer build.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		strace -f -qq -e trace=execve -s 4096 -o "$T/$name.strace" bash "$script" \
		>"$T/last.out" 2>"$T/last.err" || rc=$?
	# execve("PATH", [ARGV], ENV): the argument list only.
	sed -n 's/.*execve("[^"]*", \(\[.*\]\), .*/\1/p' "$T/$name.strace" >"$T/$name.argv"
	return $rc
}
# no_secret NAME: neither the key, nor the token, nor its secret part in any argument.
no_secret() {
	local name=$1
	[ -s "$T/$name.argv" ] && ! grep -qF -e "$KEY" -e "$TOKEN" -e "$TSECRET" "$T/$name.argv"
}

# The detector works: strace prints the arguments in full and only a count of the
# environment (without -v), and a key given the old way (an argument) is found, with a
# warning that says what to use instead.
cat >"$T/old.sh" <<EOF
pkishare join --server $SERVER --ca-cert-hash $PIN --certificate-key $KEY \
	--cert $R/clients/node-2.crt --key $R/clients/node-2.key --pki-dir $T/old/pki
EOF
TOKEN=none.none TSECRET=none
check "control: a key on the command line still joins (kubeadm's habit)" traced old "$T/old.sh"
check "control: ... and strace's argv shows it" grep -qF "$KEY" "$T/old.argv"
check "control: ... with a warning naming the environment variable" \
	err_has "can be read by every local user .* PKISHARE_CERTIFICATE_KEY=VALUE pkishare"
check "control: strace shows no environment contents without -v" \
	bash -c "grep -q 'execve(.*/\\* [0-9]* vars \\*/' '$T/old.strace' && ! grep -q 'PATH=' '$T/old.strace'"

# print-join-command, plain: the key from the environment, the token single-use.
cat >"$T/print.sh" <<EOF
PKISHARE_CERTIFICATE_KEY=$KEY pkishare print-join-command
EOF
check "print-join-command (key in the environment)" traced print "$T/print.sh"
CMD=$(cat "$T/last.out")
check "print-join-command says its token enrolls one node" err_has "enrolls one node (--uses 1)"
check "printed command: token and key in the environment, nothing secret after pkishare" \
	bash -c "[[ '$CMD' =~ ^PKISHARE_TOKEN=[a-z0-9]{6}\.[a-z0-9]{16}\ PKISHARE_CERTIFICATE_KEY=$KEY\ pkishare\ join\ --server\ $SERVER\ --ca-cert-hash\ $PIN$ ]]"
TOKEN=$(echo "$CMD" | sed -n 's/^PKISHARE_TOKEN=\([^ ]*\) .*/\1/p')
TSECRET=${TOKEN#*.}
check "print-join-command itself: no secret in any argv" no_secret print
expect_exit 0 "token list shows a token with one use left" "$PKISHARE" token list
check "... one use left" grep -q "^${TOKEN%%.*} .* 1 *0$" "$T/last.out"

echo "$CMD --pki-dir $T/n1/pki" >"$T/join.sh"
check "the printed join command, under strace: joined" traced join "$T/join.sh"
check "... byte-identical" diff -r -x pkishare-joined.json "$R/pki" "$T/n1/pki"
check "... no key, token or token secret in any execve's arguments" no_secret join
check "... pkishare itself was traced" grep -q '^\["pkishare", "join"' "$T/join.argv"
check "... and said nothing about the command line" bash -c "! grep -q 'command line' '$T/last.err'"

# Single-use: the same printed command on a second node is refused, nothing written.
echo "$CMD --pki-dir $T/n2/pki" >"$T/join2.sh"
rc=0; traced join2 "$T/join2.sh" || rc=$?
check "the printed token enrolls no second node (exit $rc, wanted 7)" [ "$rc" = 7 ]
check "... saying to create a new token" err_has "token create"
check "... nothing written" [ ! -e "$T/n2" ]
check "... and leaked nothing either" no_secret join2

# print-join-command --curl: curl gets the token as a header on its standard input
# (-H @-, from printf, a shell builtin), decrypt gets the key in its environment.
cat >"$T/printc.sh" <<EOF
PKISHARE_CERTIFICATE_KEY=$KEY pkishare print-join-command --curl
EOF
check "print-join-command --curl" traced printc "$T/printc.sh"
cp "$T/last.out" "$T/curl-recipe.sh"
check "... says its token enrolls one node" err_has "enrolls one node (--uses 1)"
TOKEN=$(sed -n "s/^printf 'Authorization: Bearer %s\\\\n' '\([^']*\)' | curl .*/\1/p" "$T/curl-recipe.sh")
TSECRET=${TOKEN#*.}
check "... the token goes to curl through printf and -H @-" \
	bash -c "[[ '$TOKEN' =~ ^[a-z0-9]{6}\.[a-z0-9]{16}$ ]] && grep -q -- '| curl .* -H @- ' '$T/curl-recipe.sh'"
check "... the key goes to decrypt in its environment" \
	grep -q "| PKISHARE_CERTIFICATE_KEY=$KEY pkishare decrypt$" "$T/curl-recipe.sh"
check "... print-join-command --curl: no secret in any argv" no_secret printc
sed -i '$ s|$| --pki-dir '"$T"'/curlnode/pki|' "$T/curl-recipe.sh"
mkdir -p "$T/curlnode"
sed -i "1i cd '$T/curlnode'; set -e" "$T/curl-recipe.sh"
check "the printed curl recipe, under strace: installed" traced curl "$T/curl-recipe.sh"
check "... byte-identical" diff -r -x pkishare-joined.json "$R/pki" "$T/curlnode/pki"
check "... curl and decrypt were traced" bash -c "grep -q '^\[\"curl\", .*\"-H\", \"@-\"' '$T/curl.argv' && grep -q '^\[\"pkishare\", \"decrypt\"' '$T/curl.argv'"
check "... no key, token or token secret in any execve's arguments" no_secret curl
check "... the enrollment used the token up" bash -c "grep -q 'event=enroll.*result=ok.*token ${TOKEN%%.*}' '$DAEMON_LOG'"
check "... a second enrollment with it is refused (401)" bash -c "[ \$(cd '$T/curlnode' && printf 'Authorization: Bearer %s\n' '$TOKEN' |
	curl -s -o /dev/null -w '%{http_code}' -k -H @- --data-binary @node.csr https://$SERVER/v1/enroll) = 401 ]"

# --uses N still says how many; print-join-command --uses 0 says there is no limit.
expect_exit 0 "print-join-command --uses 3" env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" print-join-command --uses 3
check "... says up to 3 nodes" err_has "enrolls up to 3 nodes"
expect_exit 0 "print-join-command --uses 0" env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" print-join-command --uses 0
check "... says any number, and how to delete it" err_has "any number of nodes (--uses 0).*token delete"

# The documented forms (README step 5): a node certificate and the key in the
# environment; curl piped into decrypt with the key in the environment; the key on
# standard input.
cat >"$T/doc.sh" <<EOF
PKISHARE_CERTIFICATE_KEY=$KEY pkishare join --server $SERVER --ca-cert-hash $PIN \
	--cert $R/clients/node-2.crt --key $R/clients/node-2.key --pki-dir $T/d1/pki
curl --fail-with-body -sS --cacert $R/pki/ca.crt --cert $R/clients/node-3.crt --key $R/clients/node-3.key \
	https://$SERVER/v1/bundle | PKISHARE_CERTIFICATE_KEY=$KEY pkishare decrypt --pki-dir $T/d2/pki
curl --fail-with-body -sS --cacert $R/pki/ca.crt --cert $R/clients/node-3.crt --key $R/clients/node-3.key \
	-o $T/bundle.json https://$SERVER/v1/bundle
pkishare decrypt --certificate-key - --pki-dir $T/d3/pki $T/bundle.json <<<'$KEY'
EOF
TOKEN=none.none TSECRET=none
check "the documented forms, under strace" traced doc "$T/doc.sh"
check "... each installed the PKI" bash -c "diff -r -x pkishare-joined.json '$R/pki' '$T/d1/pki' && diff -r -x pkishare-joined.json '$R/pki' '$T/d2/pki' && diff -r -x pkishare-joined.json '$R/pki' '$T/d3/pki'"
check "... no key in any execve's arguments" no_secret doc
# Examples a reader copies (the code blocks of README.md and kubeadm-migration.md, the
# EXAMPLES of pkishare(1), the commands demo.sh runs and shows) carry no key or token as
# an argument.
{
	awk '/^ *```/ { inblock = !inblock; next } inblock { print FILENAME ": " $0 }' \
		"$SRC/README.md" "$SRC/docs/kubeadm-migration.md"
	sed -n '/^\.SH EXAMPLES/,/^\.SH FILES/p' "$SRC/docs/pkishare.1" | sed 's/\\-/-/g; s/^/pkishare.1: /'
	sed 's/^/demo.sh: /' "$SRC/scripts/demo.sh"
} >"$T/examples.txt"
check "the examples were found" bash -c "grep -q 'README.md: .*pkishare join' '$T/examples.txt' && grep -q 'pkishare.1: .*pkishare decrypt' '$T/examples.txt'"
bad=$(grep -E -e '--certificate-key +[^- ]' -e '--token +[^ ]' -e "-H +['\"]?Authorization" "$T/examples.txt" || true)
check "README, kubeadm-migration.md, pkishare(1) and demo.sh show no secret as an argument (${bad:-none})" [ -z "$bad" ]

# The environment is wiped once read: a join stalled on a server that never answers
# shows neither secret in /proc/PID/environ (the names stay, their values are zeroed) or
# /proc/PID/cmdline.
/usr/bin/python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(8)
print(s.getsockname()[1], flush=True); time.sleep(30)' >"$T/stall.port" &
STALL=$!
for _ in $(seq 1 100); do [ -s "$T/stall.port" ] && break; sleep 0.05; done
TOKEN=$("$PKISHARE" token create --uses 1)
PKISHARE_TOKEN=$TOKEN PKISHARE_CERTIFICATE_KEY=$KEY "$PKISHARE" join --server "127.0.0.1:$(cat "$T/stall.port")" \
	--ca-cert-hash "$PIN" --pki-dir "$T/w/pki" >/dev/null 2>&1 &
JP=$!
sleep 1
check "a stalled join is still running" kill -0 "$JP"
check "... its environment no longer holds the key or the token" \
	bash -c "! tr '\0' '\n' </proc/$JP/environ | grep -qF -e '$KEY' -e '$TOKEN' && ! tr '\0' '\n' </proc/$JP/environ | grep -qE '^PKISHARE_(TOKEN|CERTIFICATE_KEY)=.'"
check "... nor its command line" bash -c "! tr '\0' ' ' </proc/$JP/cmdline | grep -qF -e '$KEY' -e '$TOKEN'"
kill "$JP" "$STALL" 2>/dev/null || true
wait "$JP" "$STALL" 2>/dev/null || true

# Mistakes are said, with what to do, and change nothing.
WRONG=$("$PKISHARE" certificate-key)
J=(join --server "$SERVER" --ca-cert-hash "$PIN")
expect_exit 2 "a malformed key in the environment" env PKISHARE_CERTIFICATE_KEY=xyz "$PKISHARE" "${J[@]}" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/e1/pki"
check "... names the variable" err_has "invalid certificate key (from PKISHARE_CERTIFICATE_KEY)"
expect_exit 2 "an empty key in the environment" env PKISHARE_CERTIFICATE_KEY= "$PKISHARE" "${J[@]}" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/e1/pki"
check "... says it is empty and what to do" err_has "PKISHARE_CERTIFICATE_KEY is set but empty: give it the value"
expect_exit 2 "a malformed token in the environment" env PKISHARE_TOKEN=ABC.def PKISHARE_CERTIFICATE_KEY="$KEY" \
	"$PKISHARE" "${J[@]}" --pki-dir "$T/e1/pki"
check "... names the variable" err_has "invalid join token (from PKISHARE_TOKEN)"
expect_exit 2 "a token in the environment and --cert/--key" env PKISHARE_TOKEN="$TOKEN" PKISHARE_CERTIFICATE_KEY="$KEY" \
	"$PKISHARE" "${J[@]}" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/e1/pki"
check "... says to unset it" err_has "unset PKISHARE_TOKEN to join with the certificate"
expect_exit 2 "no key at all" "$PKISHARE" "${J[@]}" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
	--pki-dir "$T/e1/pki"
check "... names the variable and sudo's habit" err_has "PKISHARE_CERTIFICATE_KEY=KEY in the environment.*sudo -i"
expect_exit 2 "decrypt without a key" "$PKISHARE" decrypt --pki-dir "$T/e1/pki" "$T/bundle.json"
check "... names the variable" err_has "decrypt needs the certificate key: PKISHARE_CERTIFICATE_KEY=KEY"
expect_exit 2 "--token - (standard input is for the key only)" env PKISHARE_CERTIFICATE_KEY="$KEY" \
	"$PKISHARE" "${J[@]}" --token - --pki-dir "$T/e1/pki"
check "... is refused as a malformed token" err_has "invalid join token (from --token)"
check "none of them wrote anything" [ ! -e "$T/e1" ]
printf '%s\n' "$KEY" >"$T/key.txt"
expect_exit 0 "--certificate-key - and the variable both given: standard input wins" \
	env PKISHARE_CERTIFICATE_KEY="$WRONG" "$PKISHARE" decrypt --certificate-key - --pki-dir "$T/e3/pki" \
	"$T/bundle.json" <"$T/key.txt"
check "... and says so" err_has "using standard input, PKISHARE_CERTIFICATE_KEY is ignored"
expect_exit 0 "--certificate-key and the variable both given: the command line wins" \
	env PKISHARE_CERTIFICATE_KEY="$WRONG" "$PKISHARE" "${J[@]}" --certificate-key "$KEY" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/e2/pki"
check "... and says so" err_has "both --certificate-key and PKISHARE_CERTIFICATE_KEY are given; using --certificate-key's value"
stop_daemon
finish
