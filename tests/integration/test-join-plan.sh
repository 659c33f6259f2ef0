#!/bin/bash
# A join is planned, then done: a dry run and a join refused before installing spend no
# fetch (--max-fetches counts identities that received the bundle; a re-run join of the
# same client-ca identity is not counted again), every input is checked before the fetch,
# and the node certificates go into the same atomic install as the shared PKI, so any
# refusal leaves the target exactly as it was and says truthfully what was done.
. "$(dirname "$0")/lib.sh"
R=$T/r
make_pki "$R" --client node-2 --client node-3 --client node-4
start_daemon "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
join_as() { # join_as CLIENT PKIDIR [args]
	local who=$1 dir=$2; shift 2
	"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --certificate-key "$KEY" \
		--cert "$R/clients/$who.crt" --key "$R/clients/$who.key" --pki-dir "$dir" "$@"
}

# --max-fetches 1: a dry run does not use the one fetch.
upload "$R/pki" --max-fetches 1
expect_exit 0 "dry run with --max-fetches 1" join_as node-2 "$T/dry/pki" --dry-run
check "... says nothing was fetched" grep -q "nothing was fetched or written" "$T/last.out"
check "... and names the bundle's key id as matching" grep -q "key id [0-9a-f]* matches" "$T/last.out"
check "... writes nothing" [ ! -e "$T/dry" ]
expect_exit 0 "the real join after the dry run still gets the bundle" join_as node-2 "$T/a/pki"
check "... byte-identical" diff -r -x pkishare-joined.json "$R/pki" "$T/a/pki"

# --max-fetches 2 for two nodes: no mistake of the first locks the second out.
upload "$R/pki" --max-fetches 2
GOOD=$KEY
KEY=$("$PKISHARE" certificate-key)
expect_exit 4 "a wrong key: refused before the fetch" join_as node-2 "$T/b/pki"
check "... says the key is not the bundle's and nothing was fetched" \
	bash -c "grep -q 'is not the one bundle' '$T/last.err' && grep -q 'nothing was fetched or written' '$T/last.err'"
KEY=$GOOD
: >"$T/plain-file"
expect_exit 1 "a target that cannot be made: refused before the fetch" join_as node-2 "$T/plain-file/pki"
check "... naming what is in the way" err_has "plain-file is not a directory; nothing was fetched or written"
expect_exit 2 "a bad --advertise-address: refused before the fetch" join_as node-2 "$T/b/pki" \
	--advertise-address 10.0.0
expect_exit 2 "an upper-case node name: refused before the fetch" join_as node-2 "$T/b/pki" \
	--advertise-address 10.0.0.2 --node-name CP-2
check "... nothing written by any of them" [ ! -e "$T/b" ]
# A present apiserver.crt made for another address: found before the fetch.
"$PKISHARE" pki node-certs --pki-dir "$R/pki" --node-name cp-9 --advertise-address 10.0.0.9 >/dev/null
mkdir -p "$T/c/pki"
cp "$R/pki/apiserver.crt" "$R/pki/apiserver.key" "$T/c/pki/"
BEFORE=$(tree_sum "$T/c/pki")
expect_exit 10 "a present apiserver.crt with other SANs: refused" join_as node-2 "$T/c/pki" \
	--advertise-address 10.0.0.2 --node-name cp-2
check "... saying so" err_has "apiserver.crt is already there and kubeadm would refuse it: its SANs lack .*nothing was changed"
check "... before the fetch" bash -c "! grep -q 'Fetched the sealed bundle' '$T/last.out'"
check "... and the target is exactly as it was" [ "$(tree_sum "$T/c/pki")" = "$BEFORE" ]
check "... no ca.key installed" [ ! -e "$T/c/pki/ca.key" ]
expect_exit 0 "node-2 joins, with its node certificates" join_as node-2 "$T/d/pki" \
	--advertise-address 10.0.0.2 --node-name cp-2
check "... the shared PKI and node certificates in one install" \
	grep -q "Installed the shared PKI and this node's certificates into .* in one step" "$T/last.out"
check "... apiserver.crt for the node's address" bash -c \
	"openssl x509 -in '$T/d/pki/apiserver.crt' -noout -ext subjectAltName | grep -q 'IP Address:10.0.0.2'"
check "... signed by the shared CA" openssl verify -CAfile "$R/pki/ca.crt" "$T/d/pki/apiserver.crt"
expect_exit 0 "node-2 joins again: harmless" join_as node-2 "$T/d/pki" --advertise-address 10.0.0.2 \
	--node-name cp-2
check "... and says so" grep -q "Already installed: .*nothing was changed" "$T/last.out"
check "... node certificates checked and kept" grep -q "0 generated, 7 already present" "$T/last.out"
check "the daemon logged the repeat as not counted" grep -q "again, not counted" "$DAEMON_LOG"
expect_exit 0 "node-3 still gets the bundle (second of --max-fetches 2)" join_as node-3 "$T/e/pki"
check "... the shared files" bash -c "cmp -s '$R/pki/ca.key' '$T/e/pki/ca.key' && cmp -s '$R/pki/sa.key' '$T/e/pki/sa.key'"
expect_exit 5 "a third identity: the two fetches were all that was spent" join_as node-4 "$T/f/pki"

# After the fetch: a present certificate from another CA (its chain needs the bundle's CA)
# is refused, and the shared PKI is not left behind.
upload "$R/pki"
make_pki "$T/other"
"$PKISHARE" pki node-certs --pki-dir "$T/other/pki" --node-name cp-2 --advertise-address 10.0.0.2 >/dev/null
mkdir -p "$T/g/pki"
cp "$T/other/pki/front-proxy-client.crt" "$T/other/pki/front-proxy-client.key" "$T/g/pki/"
BEFORE=$(tree_sum "$T/g/pki")
expect_exit 10 "a node certificate of another CA: refused" join_as node-2 "$T/g/pki" \
	--advertise-address 10.0.0.2 --node-name cp-2
check "... saying why" err_has "front-proxy-client.crt is already there and kubeadm would refuse it: it is not signed by this cluster's CA"
check "... and the target is exactly as it was (no shared PKI left behind)" [ "$(tree_sum "$T/g/pki")" = "$BEFORE" ]
check "... no 'Installed' claimed" bash -c "! grep -q Installed '$T/last.out'"
# The plan finds in the target what the install would refuse, before any fetch: with
# --max-fetches 1, each of these refusals leaves the one fetch to the node that comes next.
upload "$R/pki" --max-fetches 1
# A ca.crt of another cluster: its hash is not the pinned --ca-cert-hash.
mkdir -p "$T/h/pki"
cp "$T/other/pki/ca.crt" "$T/h/pki/"
BEFORE=$(tree_sum "$T/h/pki")
expect_exit 10 "a ca.crt of another cluster: refused" join_as node-2 "$T/h/pki"
check "... before the fetch, saying why" err_has "h/pki/ca.crt is the CA of another cluster (its hash is sha256:[0-9a-f]*, not --ca-cert-hash $PIN).*nothing was fetched"
check "... no 'Fetched' line" bash -c "! grep -q Fetched '$T/last.out'"
check "... the target as it was" [ "$(tree_sum "$T/h/pki")" = "$BEFORE" ]
expect_exit 10 "... in a dry run too" join_as node-2 "$T/h/pki" --dry-run
# FIFOs, sockets and devices cannot be carried over: named in the plan.
mkdir -p "$T/i/pki"
mkfifo "$T/i/pki/stray"
expect_exit 1 "a FIFO in the target: refused" join_as node-2 "$T/i/pki"
check "... naming it, before the fetch" err_has "a FIFO, socket or device.* (stray); .*nothing was fetched"
mkdir -p "$T/j/pki/etcd"
/usr/bin/python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/j/pki/etcd/sock"
expect_exit 1 "a socket below the target: refused" join_as node-2 "$T/j/pki" --dry-run
check "... naming it" err_has "a FIFO, socket or device.* (etcd/sock); .*nothing was fetched"
# A mount point cannot be swapped out: another file system, or a bind mount of the same.
mkdir -p "$T/mnt/pki" "$T/bind-src" "$T/bind/pki"
if mount -t tmpfs -o mode=0755 pkishare-test "$T/mnt/pki" 2>/dev/null; then
	expect_exit 1 "a target that is a mount point: refused" join_as node-2 "$T/mnt/pki"
	check "... saying why and what to do, before the fetch" err_has "is a mount point: the install builds the new tree beside it .*mount the file system one level up.*nothing was fetched"
	umount "$T/mnt/pki"
	mount --bind "$T/bind-src" "$T/bind/pki"
	expect_exit 1 "a bind-mounted target (the same device): refused" join_as node-2 "$T/bind/pki"
	check "... as a mount point" err_has "is a mount point"
	umount "$T/bind/pki"
else
	echo "skip: cannot mount here (not root?): the mount-point checks did not run"
fi
# A non-root joiner who cannot write the target (0555, its own) is told before the fetch.
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	mkdir -p "$T/nb/pki"
	cp "$R/clients/node-2.crt" "$R/clients/node-2.key" "$T/nb/"
	chown -R nobody:nogroup "$T/nb"
	chmod 0555 "$T/nb/pki"
	chmod 0711 "$T"
	AS_NOBODY=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
	nobody_join() {
		"${AS_NOBODY[@]}" "$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" \
			--certificate-key "$KEY" --cert "$T/nb/node-2.crt" --key "$T/nb/node-2.key" \
			--pki-dir "$T/nb/pki" "$@"
	}
	expect_exit 1 "a dry run as a user who cannot write the target: refused" nobody_join --dry-run
	check "... saying so" err_has "nb/pki: it is not readable, writable and searchable for this user.*nothing was fetched"
	expect_exit 1 "... and the join too, before the fetch" nobody_join
	check "... no 'Fetched' line" bash -c "! grep -q Fetched '$T/last.out'"
	chmod 0700 "$T"
else
	echo "skip: not root or no setpriv: the non-root joiner's checks did not run"
fi
expect_exit 0 "after all these refusals the one fetch is still there" join_as node-3 "$T/l/pki"
check "... and installs the bundle" bash -c "cmp -s '$R/pki/ca.key' '$T/l/pki/ca.key' && cmp -s '$R/pki/sa.key' '$T/l/pki/sa.key'"

# A refusal only the install can find (a sa.key of its own beside the right ca.crt) says
# that the fetch was spent, and which one.
upload "$R/pki" --max-fetches 2
mkdir -p "$T/o/pki"
cp "$R/pki/ca.crt" "$T/o/pki/"
cp "$T/other/pki/sa.key" "$T/o/pki/"
expect_exit 10 "a sa.key of another cluster: refused after the fetch" join_as node-2 "$T/o/pki"
check "... saying the fetch was spent, and which" err_has "the bundle was fetched from $SERVER (fetch 1 of 2) but the join was refused after the fetch"
upload "$R/pki" --max-fetches 1
expect_exit 10 "... the last fetch" join_as node-2 "$T/o/pki"
check "... says it was the last" err_has "(fetch 1 of 1: the server no longer holds it) but the join was refused"

# A join killed just before the swap leaves its temporary tree, 0700 (it holds links to
# the CA keys); the next join removes it, and only such trees of its own.
upload "$R/pki"
mkdir -p "$T/q/pki"
rc=0
strace -f -qq -o /dev/null -e trace=rename,renameat,renameat2 \
	-e inject=rename,renameat,renameat2:signal=KILL \
	"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --certificate-key "$KEY" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/q/pki" \
	>/dev/null 2>&1 || rc=$?
check "a join killed at the swap (exit $rc) leaves its temporary tree" bash -c "ls -d '$T'/q/.pki.pkishare-?????? >/dev/null 2>&1"
STALE=$(ls -d "$T"/q/.pki.pkishare-?????? 2>/dev/null | head -1)
check "... 0700, not readable by others" [ "$(stat -c %a "$STALE" 2>/dev/null)" = 700 ]
check "... and the target was left as it was" [ -z "$(ls -A "$T/q/pki")" ]
mkdir "$T/q/.pki.pkishare-abcdefg" "$T/q/.pki.pkishare-abc" "$T/q/.pki.pkishare-XYZ123"
chown nobody "$T/q/.pki.pkishare-XYZ123"
expect_exit 0 "a dry run after it" join_as node-2 "$T/q/pki" --dry-run
check "... says it would remove the left-over" grep -q "Dry run: would remove 1 temporary tree(s) an interrupted join left beside $T/q/pki ($STALE)" "$T/last.out"
check "... and does not" [ -d "$STALE" ]
expect_exit 0 "the next join" join_as node-2 "$T/q/pki"
check "... removes the left-over and says so" grep -q "Removed 1 temporary tree(s) an interrupted join left beside $T/q/pki ($STALE)" "$T/last.out"
check "... it is gone" [ ! -e "$STALE" ]
check "... other names and another user's tree are kept" bash -c "[ -d '$T/q/.pki.pkishare-abcdefg' ] && [ -d '$T/q/.pki.pkishare-abc' ] && [ -d '$T/q/.pki.pkishare-XYZ123' ]"
check "... and the bundle is installed" bash -c "cmp -s '$R/pki/ca.key' '$T/q/pki/ca.key' && cmp -s '$R/pki/sa.key' '$T/q/pki/sa.key'"
# The fetch names the bundle the join planned on (?id=): an upload between the plan and the
# fetch (here by a proxy that runs upload-certs when the join's second connection, the
# fetch, arrives) is refused without being counted, so the new bundle's one fetch is left
# for a node that has its key (outside review of issue 29: the join spent it, and could
# never open what it got).
upload "$R/pki" --max-fetches 1
PLANNED=$KEY
cat >"$T/upload-between.py" <<'PY'
import socket, subprocess, sys, threading
target, hook = int(sys.argv[1]), sys.argv[2]
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(8)
print(ls.getsockname()[1], flush=True)
def pipe(a, b):
    try:
        while (d := a.recv(65536)):
            b.sendall(d)
    except OSError:
        pass
    finally:
        try: b.shutdown(socket.SHUT_WR)
        except OSError: pass
n = 0
while True:
    c, _ = ls.accept()
    n += 1
    if n == 2:
        subprocess.run(["bash", "-c", hook], check=True)
    s = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pipe, args=(c, s), daemon=True).start()
    threading.Thread(target=pipe, args=(s, c), daemon=True).start()
PY
HOOK="$(printf '%q ' "$PKISHARE") upload-certs --pki-dir $(printf '%q' "$R/pki") --max-fetches 1 >$(printf '%q' "$T/between.out")"
/usr/bin/python3 "$T/upload-between.py" "$PORT" "$HOOK" >"$T/proxy.port" 2>"$T/proxy.err" &
PROXY_PID=$!
for _ in $(seq 1 100); do [ -s "$T/proxy.port" ] && break; sleep 0.05; done
expect_exit 4 "an upload between the plan and the fetch: refused" "$PKISHARE" join \
	--server "127.0.0.1:$(cat "$T/proxy.port")" --ca-cert-hash "$PIN" --certificate-key "$PLANNED" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$T/race/pki"
kill "$PROXY_PID"; wait "$PROXY_PID" 2>/dev/null || true
check "... the upload did happen in between" grep -q "Using certificate key" "$T/between.out"
check "... saying another bundle is held now and what to do" err_has "holds bundle [0-9a-f]* (key id [0-9a-f]*) now, not bundle [0-9a-f]* this join planned on.*nothing was fetched or written.*run join again"
check "... no 'Fetched' line, nothing written" bash -c "! grep -q Fetched '$T/last.out' && [ ! -e '$T/race' ]"
KEY=$(tail -1 "$T/between.out")
expect_exit 0 "the new bundle's one fetch is still there for a node with its key" join_as node-3 "$T/race2/pki"
check "the daemon logged the refusal, not a fetch" grep -q "refused fetch by .*other-bundle-held" "$DAEMON_LOG"
finish
