#!/bin/bash
# A joining node whose clock is ahead (outside review of issue 30): decrypt, fed a bundle
# curl fetched just now, reads it as expired by its own clock. It says both times (sealed,
# expiry, this node's now) and that this node's clock may be ahead (timedatectl, NTP),
# not only "run upload-certs again"; nothing is written.
. "$(dirname "$0")/lib.sh"

FT=/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1
if [ ! -e "$FT" ]; then
	echo "libfaketime is not installed (scripts/test.sh installs it): skipping"
	exit 77
fi
R=$T/c1
make_pki "$R"
start_daemon "$R"
upload "$R/pki" --ttl 1h
curl_fetch "$R" node-2 >"$T/bundle.json"
ahead() { env LD_PRELOAD=$FT FAKETIME=+3h ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 "$@"; }
expect_exit 3 "decrypt on a node 3 h ahead: expired by its clock" ahead env \
	PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" decrypt --pki-dir "$T/n2/pki" "$T/bundle.json"
check "... names when it was sealed and when it expires" err_has "was sealed at .* and expired at .* (a lifetime of 1h"
check "... and this node's clock" err_has "by this node's clock, which reads"
check "... says this node's clock may be ahead, with timedatectl" bash -c \
	"grep -q \"this node's clock is ahead\" '$T/last.err' && grep -q timedatectl '$T/last.err'"
check "... nothing written" [ ! -e "$T/n2" ]
expect_exit 0 "the same bundle with this node's clock right installs" env \
	PKISHARE_CERTIFICATE_KEY="$KEY" "$PKISHARE" decrypt --pki-dir "$T/n2/pki" "$T/bundle.json"
finish
