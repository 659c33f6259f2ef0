#!/bin/bash
# A full file system on the joiner is found before the fetch (issue 30 P15): join's plan
# checks the free space where the new tree will be built against the bundle's size (from
# GET /v1/bundle/info, "bytes") and this node's certificates; --dry-run too. The message
# says how much is needed and how much is free; nothing is fetched (the fetch count stays)
# and nothing is written. The estimate is an upper bound that stays near the install
# (review of issue 30, F10): a 200 KiB file system the install fits in is not refused. An
# install that fails on a full file system (decrypt, which has no plan) leaves nothing it
# made behind, the empty directories above the target included. Small tmpfs mounts in a private mount namespace (unshare -m).
. "$(dirname "$0")/lib.sh"
R=$T/r
make_pki "$R"
start_daemon "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
upload "$R/pki" --max-fetches 10
fetches() { "$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["fetches"])'; }
check "bundle/info says the sealed bundle's size" bash -c \
	"'$PKISHARE' status -o json | /usr/bin/python3 -c 'import json,sys; b=json.load(sys.stdin)[\"bundle\"][\"bytes\"]; assert b > 1000, b'"
if ! unshare -m true 2>/dev/null; then
	echo "skip: no mount namespaces here; the free-space cases did not run"
	finish
	exit
fi
curl_fetch "$R" node-3 >"$T/bundle.json"
F0=$(fetches); [ -n "$F0" ] || fail "status -o json gives no fetch count"
cat >"$T/fs.sh" <<SH
set -e
mkdir -p "$T/small" "$T/big"
mount -t tmpfs -o size=64k tmpfs "$T/small"
mkdir -p "$T/small/kubernetes/pki"; echo keep >"$T/small/kubernetes/pki/operator-notes.txt"
mount -t tmpfs -o size=4m tmpfs "$T/big"
j() { c=\$1; shift; env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" join --server "$SERVER" \
	--ca-cert-hash "$PIN" --cert "$R/clients/\$c.crt" --key "$R/clients/\$c.key" \
	--node-name node-9 --advertise-address 10.0.0.19 "\$@"; }
rc=0; j node-2 --pki-dir "$T/small/kubernetes/pki" --dry-run >"$T/dry.out" 2>"$T/dry.err" || rc=\$?
echo "dry \$rc"
rc=0; j node-2 --pki-dir "$T/small/kubernetes/pki" >"$T/full.out" 2>"$T/full.err" || rc=\$?
echo "full \$rc"; ls -A "$T/small/kubernetes/pki" | tr '\n' ' '; echo
rc=0; j node-3 --pki-dir "$T/big/kubernetes/pki" >"$T/big.out" 2>"$T/big.err" || rc=\$?
echo "big \$rc"
# A file system the install fits in with room to spare (it takes about 92 KiB in 4 KiB
# pages here): the estimate is an upper bound, but not three times the install.
mkdir -p "$T/mid"
mount -t tmpfs -o size=200k tmpfs "$T/mid"
rc=0; j node-2 --pki-dir "$T/mid/kubernetes/pki" >"$T/mid.out" 2>"$T/mid.err" || rc=\$?
echo "mid \$rc"
echo "mid-used \$(df -k --output=used "$T/mid" | tail -1 | tr -d ' ')"
# decrypt has no plan to check the space first: the install itself fails, and removes the
# directories it made on the way (kubernetes/ here), as it removes its temporary tree.
mkdir -p "$T/tiny"
mount -t tmpfs -o size=16k tmpfs "$T/tiny"
rc=0; env PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" decrypt --pki-dir "$T/tiny/kubernetes/pki" \
	"$T/bundle.json" >"$T/tiny.out" 2>"$T/tiny.err" || rc=\$?
echo "tiny \$rc"; echo "tiny-left \$(ls -A "$T/tiny" | tr '\n' ' ')."
SH
if unshare -m bash "$T/fs.sh" >"$T/fs.out" 2>"$T/fs.err"; then
	check "join --dry-run on a file system too small: refused" grep -q "^dry 1$" "$T/fs.out"
	check "... says how much is needed and free" grep -q "not enough free space to install into $T/small/kubernetes/pki: the file system of $T/small/kubernetes has [0-9]* KiB free.*needs at most [0-9]* KiB" "$T/dry.err"
	check "join on it: refused" grep -q "^full 1$" "$T/fs.out"
	check "... before the fetch" grep -q "nothing was fetched or written" "$T/full.err"
	check "... the target holds exactly what it held" grep -qx "operator-notes.txt *" "$T/fs.out"
	check "... and no fetch was spent (only node-2's join with room counts: node-3 had fetched the bundle for decrypt)" [ "$(fetches)" = "$((F0 + 1))" ]
	check "a file system with room: joined" grep -q "^big 0$" "$T/fs.out"
	check "a 200 KiB file system the install fits in: joined, not refused" grep -q "^mid 0$" "$T/fs.out"
	grep -q "^mid 0$" "$T/fs.out" || sed 's/^/    /' "$T/mid.err" >&2
	grep "^mid-used" "$T/fs.out" || true
	check "decrypt into a full file system: refused" grep -q "^tiny [1-9]" "$T/fs.out"
	check "... saying the target was left as it was" grep -q "No space left on device.*$T/tiny/kubernetes/pki was left as it was" "$T/tiny.err"
	check "... and it was: not even the kubernetes/ it made on the way is left" grep -qx "tiny-left \." "$T/fs.out"
else
	echo "skip: cannot mount tmpfs here ($(head -1 "$T/fs.err")); the free-space cases did not run"
fi
finish
