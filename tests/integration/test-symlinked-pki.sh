#!/bin/bash
# /etc/kubernetes or its pki as a symlink to a data disk (issue 30 P10): a symlink owned by
# root or the installing user, to a directory that passes the safety rules, is followed
# (the parent and the PKI directory itself), by join, decrypt and pki node-certs, and the
# files land on the "data disk" with the link left in place, join and decrypt saying so
# for a link above the PKI directory too; a symlink owned by another
# user is refused with a message that says who owns it, and nothing is written.
. "$(dirname "$0")/lib.sh"
R=$T/r
make_pki "$R"
start_daemon "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
upload "$R/pki" --max-fetches 10
join_into() { # join_into DIR [ARGS]: the README's join, node certificates included
	local dir=$1; shift
	env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" join --server "$SERVER" \
		--ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
		--pki-dir "$dir" --node-name node-9 --advertise-address 10.0.0.19 "$@"
}

# 1. The parent is a symlink (/etc/kubernetes -> /data/kubernetes).
mkdir -p "$T/disk1/kubernetes" "$T/etc1"
ln -s "$T/disk1/kubernetes" "$T/etc1/kubernetes"
expect_exit 0 "join --dry-run into a PKI directory whose parent is a symlink" join_into "$T/etc1/kubernetes/pki" --dry-run
expect_exit 0 "join into a PKI directory whose parent is a symlink" join_into "$T/etc1/kubernetes/pki"
check "... the files are on the data disk" test -f "$T/disk1/kubernetes/pki/ca.key"
check "... and the link is still a link" test -L "$T/etc1/kubernetes"
check "... the join said the directory above is a link, and where it installs" \
	grep -q "\[join\] $T/etc1/kubernetes is a symlink to $T/disk1/kubernetes: installing there, into $T/disk1/kubernetes/pki" "$T/last.out"

# 2. The PKI directory itself is a symlink (pki -> /data/pki), existing and empty.
mkdir -p "$T/disk2/pki" "$T/etc2/kubernetes"
ln -s "$T/disk2/pki" "$T/etc2/kubernetes/pki"
expect_exit 0 "join into a PKI directory that is a symlink" join_into "$T/etc2/kubernetes/pki"
check "... the files are in the link's target" test -f "$T/disk2/pki/apiserver.crt"
check "... the link is still a link to it" [ "$(readlink "$T/etc2/kubernetes/pki")" = "$T/disk2/pki" ]
check "... the join said where it installed" grep -q "$T/disk2/pki" "$T/last.out"

# 3. decrypt and pki node-certs through a relative symlink.
mkdir -p "$T/disk3/pki" "$T/etc3"
ln -s ../disk3/pki "$T/etc3/pki"
curl_fetch "$R" node-3 >"$T/bundle.json"
expect_exit 0 "decrypt into a PKI directory that is a (relative) symlink" env \
	PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" decrypt --pki-dir "$T/etc3/pki" "$T/bundle.json"
check "... the files are in the link's target" test -f "$T/disk3/pki/ca.key"
check "... the link is still a link" test -L "$T/etc3/pki"
expect_exit 0 "pki node-certs into it" "$PKISHARE" pki node-certs --pki-dir "$T/etc3/pki" \
	--node-name node-9 --advertise-address 10.0.0.19
check "... the node certificates are in the link's target" test -f "$T/disk3/pki/etcd/peer.crt"
mkdir -p "$T/disk3b/kubernetes" "$T/etc3b"
ln -s "$T/disk3b/kubernetes" "$T/etc3b/kubernetes"
expect_exit 0 "decrypt into a PKI directory whose parent is a symlink" env \
	PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" decrypt --pki-dir "$T/etc3b/kubernetes/pki" "$T/bundle.json"
check "... the files are on the data disk" test -f "$T/disk3b/kubernetes/pki/ca.key"
check "... decrypt said the directory above is a link, and where it installs" \
	grep -q "\[decrypt\] $T/etc3b/kubernetes is a symlink to $T/disk3b/kubernetes: installing there, into $T/disk3b/kubernetes/pki" "$T/last.out"

# 4. A symlink owned by another user: refused, saying who owns it; nothing written.
mkdir -p "$T/disk4/pki" "$T/etc4"
ln -s "$T/disk4/pki" "$T/etc4/pki"
chown -h nobody "$T/etc4/pki"
expect_exit 1 "join into a symlink owned by another user" join_into "$T/etc4/pki"
check "... says who owns it" err_has "symlink owned by another user (uid $(id -u nobody), nobody)"
check "... nothing written" [ -z "$(ls -A "$T/disk4/pki")" ]
expect_exit 1 "decrypt into it" env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" decrypt \
	--pki-dir "$T/etc4/pki" "$T/bundle.json"
check "... says who owns it" err_has "owned by another user (uid $(id -u nobody), nobody)"
check "... nothing written" [ -z "$(ls -A "$T/disk4/pki")" ]

# 5. A symlink of ours to a directory another user owns: refused by the safety rules.
mkdir -p "$T/disk5/pki" "$T/etc5"
chown nobody "$T/disk5/pki"
ln -s "$T/disk5/pki" "$T/etc5/pki"
expect_exit 1 "join into a symlink to another user's directory" join_into "$T/etc5/pki"
check "... says the directory is another user's" err_has "owned by another user"
check "... nothing written" [ -z "$(ls -A "$T/disk5/pki")" ]
finish
