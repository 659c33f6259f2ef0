#!/bin/bash
# What the installer refuses to adopt, and what join checks before it writes: files or
# directories owned by someone else or writable by others, a mode never widened, fixed
# directory modes whatever the umask.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
start_daemon "$R"
upload "$R/pki"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
join_to() { # join_to TARGET [args]
	local t=$1; shift
	"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" \
		--key "$R/clients/node-2.key" --certificate-key "$KEY" --pki-dir "$t" "$@"
}

# A file planted by another user (here: owned by nobody, mode 0644) is not adopted.
mkdir -p "$T/a/pki"
echo planted >"$T/a/pki/apiserver.key"; chmod 0644 "$T/a/pki/apiserver.key"
chown nobody "$T/a/pki/apiserver.key"
BEFORE=$(tree_sum "$T/a/pki")
expect_exit 1 "a file owned by another user in the target" join_to "$T/a/pki"
check "foreign file: the message names it and says what to do" bash -c "grep -q 'apiserver.key' '$T/last.err' && grep -q 'owned by another user' '$T/last.err'"
check "foreign file: target unchanged" [ "$(tree_sum "$T/a/pki")" = "$BEFORE" ]
expect_exit 1 "foreign file: --dry-run finds it too" join_to "$T/a/pki" --dry-run

# A world-writable etcd/ made in advance is not adopted.
mkdir -p "$T/b/pki/etcd"; chmod 0777 "$T/b/pki/etcd"
BEFORE=$(tree_sum "$T/b/pki")
expect_exit 1 "a world-writable directory in the target" join_to "$T/b/pki"
check "world-writable etcd/: named" grep -q "(etcd)" "$T/last.err"
check "world-writable etcd/: target unchanged" [ "$(tree_sum "$T/b/pki")" = "$BEFORE" ]

# A group-writable target directory itself.
mkdir -p "$T/c/pki"; chmod 0775 "$T/c/pki"
expect_exit 1 "a group-writable target directory" join_to "$T/c/pki"
check "group-writable target: named" grep -q "the target directory" "$T/last.err"

# A 0700 target stays 0700; directories made under umask 077 are still 0755.
mkdir -p "$T/d/pki"; chmod 0700 "$T/d/pki"
expect_exit 0 "join into a 0700 target" join_to "$T/d/pki"
check "the target's mode is not widened (0700)" [ "$(stat -c %a "$T/d/pki")" = 700 ]
expect_exit 0 "join under umask 077" bash -c "umask 077; $(printf '%q ' "$PKISHARE") join --server $SERVER \
	--ca-cert-hash $PIN --cert $R/clients/node-2.crt --key $R/clients/node-2.key \
	--certificate-key $KEY --pki-dir $T/e/pki"
check "umask 077: etcd/ is 0755 as kubeadm makes it" [ "$(stat -c %a "$T/e/pki/etcd")" = 755 ]
check "umask 077: the keys are 0600" [ "$(stat -c %a "$T/e/pki/ca.key")" = 600 ]

# External etcd destinations are all checked before anything is written; --dry-run finds
# the same problems as the real run.
mkdir -p "$T/ext"; cp "$R/pki/etcd/ca.crt" "$T/ext/ca.crt"
cp "$R/clients/node-2.crt" "$T/ext/client.crt"; cp "$R/clients/node-2.key" "$T/ext/client.key"
"$PKISHARE" export --format kubeadm-secret --pki-dir "$R/pki" --certificate-key "$KEY" \
	--external-etcd-ca "$T/ext/ca.crt" --external-etcd-cert "$T/ext/client.crt" \
	--external-etcd-key "$T/ext/client.key" >"$T/ext.json"
echo "a file" >"$T/notadir"
EXT=(--external-etcd-ca "$T/x/ca.pem" --external-etcd-cert "$T/x/client.pem" --external-etcd-key "$T/notadir/client-key.pem")
expect_exit 1 "an external destination under a file: refused" "$PKISHARE" decrypt --format kubeadm-secret \
	--certificate-key "$KEY" --pki-dir "$T/f/pki" "${EXT[@]}" "$T/ext.json"
check "the refusal names the destination" grep -q "notadir" "$T/last.err"
check "nothing written: no PKI directory, no other destination" bash -c "[ ! -e '$T/f' ] && [ ! -e '$T/x' ]"
expect_exit 1 "--dry-run finds the same problem" "$PKISHARE" decrypt --format kubeadm-secret \
	--certificate-key "$KEY" --pki-dir "$T/f/pki" "${EXT[@]}" --dry-run "$T/ext.json"
# Two destinations that are one file, or one inside the PKI directory (which the install
# replaces whole): refused before anything is written, by --dry-run too (the break-it
# review of issue 22 got a partial install and exit 10).
mkdir -p "$T/y1"
for dry in "" --dry-run; do
	expect_exit 2 "two external etcd destinations that are one file${dry:+ ($dry)}" "$PKISHARE" decrypt \
		--format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/y1/pki" $dry \
		--external-etcd-ca "$T/y1/x" --external-etcd-cert "$T/y1/./x" \
		--external-etcd-key "$T/y1/k" "$T/ext.json"
	check "... says which" err_has "name the same file"
	expect_exit 2 "an external etcd destination inside the PKI directory${dry:+ ($dry)}" "$PKISHARE" decrypt \
		--format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/y1" $dry \
		--external-etcd-ca "$T/y1/ca.pem" --external-etcd-cert "$T/y1/c.pem" \
		--external-etcd-key "$T/y1/k.pem" "$T/ext.json"
	check "... says why" err_has "is inside the PKI directory"
done
check "... nothing was written" [ -z "$(ls -A "$T/y1")" ]
# A destination that names a directory (a trailing '/', a final "..", an existing one):
# refused before anything is written (the differential review of issue 24 saw the PKI
# installed, a directory made for the file and exit 1).
mkdir -p "$T/y2/adir"
for dest in "$T/y2/o/ca.crt/" "$T/y2/o/.." "$T/y2/adir"; do
	expect_exit 2 "an external etcd destination that is a directory: $dest" "$PKISHARE" decrypt \
		--format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/y2/pki" \
		--external-etcd-ca "$dest" --external-etcd-cert "$T/y2/c.pem" \
		--external-etcd-key "$T/y2/k.pem" "$T/ext.json"
	check "... says it names a directory" err_has "names a directory, not a file"
done
check "... nothing was written" bash -c "[ \"\$(ls -A '$T/y2')\" = adir ] && [ -z \"\$(ls -A '$T/y2/adir')\" ]"
# The way to a destination is checked too: a symlink another user planted in a shared
# directory, or a directory another user owns, above the target, is refused (the
# break-it review of issue 22 had root write through nobody's symlink).
mkdir -p "$T/shared" "$T/real"; chmod 1777 "$T/shared"
ln -s "$T/real" "$T/shared/lnk"; chown -h nobody "$T/shared/lnk"
expect_exit 1 "a target through another user's symlink" "$PKISHARE" decrypt --format kubeadm-secret \
	--certificate-key "$KEY" --pki-dir "$T/shared/lnk/pki" "$T/ext.json"
check "... names it" err_has "symlink owned by another user"
mkdir -p "$T/nob"; chown nobody "$T/nob"
expect_exit 1 "a target under another user's directory" "$PKISHARE" decrypt --format kubeadm-secret \
	--certificate-key "$KEY" --pki-dir "$T/nob/pki" "$T/ext.json"
check "... names it" err_has "is owned by another user"
expect_exit 1 "an external destination through another user's symlink" "$PKISHARE" decrypt \
	--format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/ok/pki" \
	--external-etcd-ca "$T/shared/lnk/ca.pem" --external-etcd-cert "$T/ok/c.pem" \
	--external-etcd-key "$T/ok/k.pem" "$T/ext.json"
check "... nothing was written" bash -c "[ -z \"\$(ls -A '$T/real')\" ] && [ ! -e '$T/nob/pki' ] && [ ! -e '$T/ok' ]"
# External etcd destinations follow the PKI directory's rule: an existing file owned by
# another user (or writable by others) is never adopted, not even with the same bytes,
# nor is a destination directory others may write; "Installed ... at" only for a file
# that was written.
mkdir -p "$T/xe"
cp "$T/ext/ca.crt" "$T/xe/ca.pem"; chown nobody "$T/xe/ca.pem"
XE=(--external-etcd-ca "$T/xe/ca.pem" --external-etcd-cert "$T/xe/client.pem" --external-etcd-key "$T/xe/client-key.pem")
expect_exit 1 "an identical external file owned by another user: refused" "$PKISHARE" decrypt \
	--format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/xe/pki" "${XE[@]}" "$T/ext.json"
check "... the message names it and says what to do" bash -c "grep -q '$T/xe/ca.pem' '$T/last.err' && grep -q 'owned by another user' '$T/last.err'"
check "... nothing written: no PKI directory, no other destination" bash -c "[ ! -e '$T/xe/pki' ] && [ ! -e '$T/xe/client.pem' ] && [ \$(stat -c %U '$T/xe/ca.pem') = nobody ]"
expect_exit 1 "... --dry-run refuses it too" "$PKISHARE" decrypt --format kubeadm-secret \
	--certificate-key "$KEY" --pki-dir "$T/xe/pki" "${XE[@]}" --dry-run "$T/ext.json"
chown root "$T/xe/ca.pem"; chmod 0666 "$T/xe/ca.pem"
expect_exit 1 "an identical external file writable by others: refused" "$PKISHARE" decrypt \
	--format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/xe/pki" "${XE[@]}" "$T/ext.json"
chmod 0644 "$T/xe/ca.pem"; chmod 0777 "$T/xe"
expect_exit 1 "an external destination directory writable by others: refused" "$PKISHARE" decrypt \
	--format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/xe/pki" "${XE[@]}" "$T/ext.json"
check "... names the directory and why" bash -c "grep -q '$T/xe' '$T/last.err' && grep -q 'writable by' '$T/last.err'"
chmod 0755 "$T/xe"
expect_exit 0 "our own identical external file: kept" "$PKISHARE" decrypt \
	--format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/xe/pki" "${XE[@]}" "$T/ext.json"
check "... reported as kept, not as installed" bash -c "grep -q 'Kept external-etcd-ca.crt at $T/xe/ca.pem: already identical' '$T/last.out' && ! grep -q 'Installed external-etcd-ca.crt' '$T/last.out'"
check "... the written ones are reported as installed" grep -q "Installed external-etcd.key at $T/xe/client-key.pem" "$T/last.out"
# A file already where a private key goes, readable by group or others, is refused before
# anything is written, by --dry-run too, naming the file and the mode, not as "different"
# (outside review: a 0644 key with the right bytes was refused only after the fetch).
chmod 644 "$T/xe/client-key.pem"; chmod 640 "$T/xe/pki/sa.key"
XE_BEFORE=$(tree_sum "$T/xe")
for dry in "" --dry-run; do
	expect_exit 10 "an external key file there 0644${dry:+ ($dry)}: refused" "$PKISHARE" decrypt \
		--format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/xe/pki" "${XE[@]}" $dry "$T/ext.json"
	check "... names it and what to do, once 'nothing ... written'" bash -c "grep -q -- '--external-etcd-key $T/xe/client-key.pem is already there and readable by group or others.*chmod 600' '$T/last.err' && [ \$(grep -o 'nothing was [a-z ]*written' '$T/last.err' | wc -l) = 1 ]"
	check "... nothing written" [ "$(tree_sum "$T/xe")" = "$XE_BEFORE" ]
done
chmod 600 "$T/xe/client-key.pem"
for dry in "" --dry-run; do
	expect_exit 10 "sa.key there 0640 in --pki-dir${dry:+ ($dry)}: refused" "$PKISHARE" decrypt \
		--format kubeadm-secret --certificate-key "$KEY" --pki-dir "$T/xe/pki" "${XE[@]}" $dry "$T/ext.json"
	check "... names it and the cause, once 'nothing was written'" bash -c "grep -q '(sa.key)' '$T/last.err' && grep -q 'readable by group or others' '$T/last.err' && ! grep -q different '$T/last.err' && [ \$(grep -o 'nothing was written' '$T/last.err' | wc -l) = 1 ]"
done
chmod 600 "$T/xe/pki/sa.key"
expect_exit 0 "... once 0600 again: kept" "$PKISHARE" decrypt --format kubeadm-secret \
	--certificate-key "$KEY" --pki-dir "$T/xe/pki" "${XE[@]}" "$T/ext.json"
check "... as identical" bash -c "grep -q 'Kept external-etcd.key at $T/xe/client-key.pem' '$T/last.out' && grep -q '(0 written, ' '$T/last.out'"
# Another user's 0666 file where the key goes: the refusal names that file.
chown nobody "$T/xe/client-key.pem"; chmod 666 "$T/xe/client-key.pem"
expect_exit 1 "another user's 0666 external key file: refused" "$PKISHARE" decrypt --format kubeadm-secret \
	--certificate-key "$KEY" --pki-dir "$T/xe/pki" "${XE[@]}" "$T/ext.json"
check "... naming it, not another destination, 'nothing was written' once" bash -c "grep -q 'cannot install external-etcd.key at $T/xe/client-key.pem' '$T/last.err' && ! grep -q 'external-etcd-ca.crt' '$T/last.err' && [ \$(grep -o 'nothing was written' '$T/last.err' | wc -l) = 1 ]"
rm -f "$T/xe/client-key.pem"; mkfifo "$T/xe/client-key.pem"; chown nobody "$T/xe/client-key.pem"
expect_exit 1 "another user's FIFO where the external key goes: refused" "$PKISHARE" decrypt --format kubeadm-secret \
	--certificate-key "$KEY" --pki-dir "$T/xe/pki" "${XE[@]}" "$T/ext.json"
check "... naming it, 'nothing was written' once" bash -c "grep -q 'cannot install external-etcd.key at $T/xe/client-key.pem' '$T/last.err' && ! grep -q 'external-etcd-ca.crt' '$T/last.err' && [ \$(grep -o 'nothing was written' '$T/last.err' | wc -l) = 1 ]"
rm -f "$T/xe/client-key.pem"
mkdir -p "$T/g/pki" "$T/elsewhere"; ln -s "$T/elsewhere" "$T/g/pki/etcd"
expect_exit 1 "an etcd/ symlink in the target: the real run refuses" join_to "$T/g/pki"
expect_exit 1 "an etcd/ symlink in the target: --dry-run refuses too" join_to "$T/g/pki" --dry-run
check "the symlink is named" grep -q "etcd" "$T/last.err"

# join tries every --server: one that holds no bundle (404) is reported, the next serves.
"${PKISHARED_RUN[@]}" --listen 127.0.0.1:0 --tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
	--client-ca "$R/clients/ca.crt" --admin-socket "$T/empty.sock" >"$T/empty.log" 2>&1 &
EMPTY_PID=$!
for _ in $(seq 1 100); do grep -q "listening on" "$T/empty.log" && break; sleep 0.05; done
EMPTY=$(grep -o 'listening on [^ ]*' "$T/empty.log" | cut -d' ' -f3)
expect_exit 0 "join --server EMPTY --server GOOD" "$PKISHARE" join --server "$EMPTY" --server "$SERVER" \
	--ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
	--certificate-key "$KEY" --pki-dir "$T/h/pki"
check "the empty server is named with what it answered" grep -q "$EMPTY answered 404 (not-found)" "$T/last.err"
check "the bundle came from the second server" grep -q "Fetched the sealed bundle from $SERVER" "$T/last.out"
expect_exit 6 "only an empty server: its answer, and no 'Fetched' line" "$PKISHARE" join --server "$EMPTY" \
	--ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
	--certificate-key "$KEY" --pki-dir "$T/i/pki"
check "no 'Fetched' line for a refusal" bash -c "! grep -q Fetched '$T/last.out'"
kill "$EMPTY_PID"; wait "$EMPTY_PID" || true

# --certificate-key - reads the key from the descriptor a byte at a time into guarded
# memory: never a 4 KiB stdio read that would keep a copy in stdio's buffer.
curl_fetch "$R" node-3 >"$T/bundle.json"
# (LeakSanitizer cannot run under ptrace: leaks are checked in every other run.)
expect_exit 0 "--certificate-key - from a pipe" bash -c "echo '$KEY' | ASAN_OPTIONS=\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0 strace -f -e trace=read -o '$T/read.trace' \
	'$PKISHARE' decrypt --certificate-key - --pki-dir '$T/k/pki' '$T/bundle.json'"
check "the key is read from fd 0 a byte at a time, never through a stdio buffer" bash -c \
	"grep -q 'read(0, \"[0-9a-f]\", 1) *= 1' '$T/read.trace' && ! grep -q 'read(0, .*, 4096)' '$T/read.trace'"

# Text from a server is shown without its escape sequences.
printf '{"error": "gone \\u001b[2J\\u001b]0;owned\\u0007 now", "reason": "expired"}' >"$T/evil.json"
expect_exit 3 "an error body with escape sequences" "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$T/l/pki" "$T/evil.json"
check "no escape byte reaches the terminal" bash -c "! grep -q \$'\\x1b' '$T/last.err' && grep -q 'gone ?\[2J' '$T/last.err'"
# The way to the target is checked again when the install writes, through directory
# descriptors (outside review of issue 29: the plan's check was a snapshot). Another user
# makes the missing directory in a sticky shared directory while `pkishare decrypt` waits
# for its input: nothing is installed in the directory that user owns.
mkdir -p "$T/sticky"; chmod 1777 "$T/sticky"; chmod 0711 "$T"
mkfifo "$T/bundle.fifo"
rc=0
"$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$T/sticky/theirs/pki" - <"$T/bundle.fifo" \
	>"$T/race.out" 2>"$T/race.err" &
RACE_PID=$!
exec 7>"$T/bundle.fifo"
sleep 0.5 # the plan is done: decrypt waits for the bundle on its standard input
runuser -u nobody -- mkdir "$T/sticky/theirs"
cat "$T/bundle.json" >&7
exec 7>&-
wait "$RACE_PID" || rc=$?
chmod 0700 "$T"
check "a directory another user made between the plan and the install: refused (exit $rc)" [ "$rc" = 1 ]
check "... saying whose it is and that nothing was written" bash -c "grep -q 'theirs is owned by another user' '$T/race.err' && grep -q 'nothing was written' '$T/race.err'"
check "... nothing installed in it" bash -c "[ -d '$T/sticky/theirs' ] && [ -z \"\$(ls -A '$T/sticky/theirs')\" ]"
# A relative --pki-dir is walked from the real working directory, itself checked: a
# one-component one under another user's directory is refused.
mkdir -p "$T/nobcwd"; chown nobody "$T/nobcwd"
expect_exit 1 "a relative --pki-dir in another user's working directory" bash -c \
	"cd '$T/nobcwd' && exec '$PKISHARE' decrypt --certificate-key '$KEY' --pki-dir pki '$T/bundle.json'"
check "... names the working directory" err_has "nobcwd is owned by another user"
check "... nothing written" [ -z "$(ls -A "$T/nobcwd")" ]
mkdir -p "$T/mycwd"
expect_exit 0 "a relative --pki-dir in our own working directory" bash -c \
	"cd '$T/mycwd' && exec '$PKISHARE' decrypt --certificate-key '$KEY' --pki-dir pki '$T/bundle.json'"
check "... installed there" cmp -s "$R/pki/ca.key" "$T/mycwd/pki/ca.key"
finish
