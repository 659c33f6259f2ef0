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
check "world-writable etcd/: named" grep -q "etcd/" "$T/last.err"
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
finish
