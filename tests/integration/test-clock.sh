#!/bin/bash
# Deadlines are on the monotonic clock: moving pkishared's wall clock hours forward or
# back (libfaketime, monotonic clock left alone) neither expires a bundle early nor keeps
# it past its deadline.
. "$(dirname "$0")/lib.sh"

FT=/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1
if [ ! -e "$FT" ]; then
	echo "libfaketime is not installed (scripts/test.sh installs it): skipping"
	exit 77
fi
R=$T/c1
make_pki "$R"
echo "+0" >"$T/faketime"
export LD_PRELOAD=$FT FAKETIME_TIMESTAMP_FILE=$T/faketime FAKETIME_NO_CACHE=1 DONT_FAKE_MONOTONIC=1
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
start_daemon "$R"
unset LD_PRELOAD FAKETIME_TIMESTAMP_FILE FAKETIME_NO_CACHE DONT_FAKE_MONOTONIC
code() { curl -sS -o /dev/null -w '%{http_code}' --cacert "$R/pki/ca.crt" --cert "$R/clients/node-3.crt" \
	--key "$R/clients/node-3.key" "https://127.0.0.1:$PORT/v1/bundle"; }

upload "$R/pki" --ttl 8s
START=$(date +%s)
check "fetch right after upload: 200" [ "$(code)" = 200 ]
echo "+3h" >"$T/faketime"
sleep 0.3
check "daemon's wall clock 3 h ahead: still 200 (not expired early)" [ "$(code)" = 200 ]
"$PKISHARE" status >"$T/status.txt"
check "status still shows the bundle" grep -q "^bundle: *[0-9a-f]\{32\}" "$T/status.txt"
echo "-4m" >"$T/faketime"
sleep 0.3
check "daemon's wall clock 4 min behind (certificates are backdated 5): still 200" [ "$(code)" = 200 ]
# Wait out the real (monotonic) deadline with the wall clock still behind.
sleep $((START + 9 - $(date +%s)))
check "past the monotonic deadline, wall clock 4 min behind: 410" [ "$(code)" = 410 ]
check "the reaper wiped it" grep -q "event=expire" "$DAEMON_LOG"
finish
