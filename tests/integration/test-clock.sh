#!/bin/bash
# Deadlines are on the monotonic clock, and never later than the sealed expiresAt by the
# wall clock either (CLOCK_MONOTONIC stops while the machine sleeps): moving pkishared's
# wall clock (libfaketime, monotonic clock left alone) back does not keep a bundle past
# its deadline, forward within the lifetime does not expire it, forward past expiresAt
# does; a daemon whose clock is behind the uploader's holds a bundle no longer than the
# lifetime asked for.
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
echo "+2" >"$T/faketime"
sleep 0.3
check "daemon's wall clock 2 s ahead, within the lifetime: still 200 (not expired early)" [ "$(code)" = 200 ]
"$PKISHARE" status >"$T/status.txt"
check "status still shows the bundle" grep -q "^bundle: *[0-9a-f]\{32\}" "$T/status.txt"
echo "+3h" >"$T/faketime"
sleep 0.3
check "daemon's wall clock 3 h ahead, past the sealed expiresAt (a suspend): 410" [ "$(code)" = 410 ]
check "... recorded as an expiry" [ "$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["previous"]["reason"])')" = expired ]

# A daemon clock 3 h behind the uploader's: held for the 10 minutes asked, not 3 h 10 min.
echo "-3h" >"$T/faketime"
sleep 0.3
upload "$R/pki" --ttl 10m
LEFT=$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["expiresInSeconds"])')
check "daemon clock behind the uploader's: held ${LEFT}s, at most the 600 s asked" [ "$LEFT" -le 600 ]

upload "$R/pki" --ttl 8s
START=$(date +%s)
echo "-4m" >"$T/faketime"
sleep 0.3
check "daemon's wall clock 4 min behind (certificates are backdated 5): still 200" [ "$(code)" = 200 ]
# Wait out the real (monotonic) deadline with the wall clock still behind.
sleep $((START + 9 - $(date +%s)))
check "past the monotonic deadline, wall clock 4 min behind: 410" [ "$(code)" = 410 ]
check "the reaper wiped it" grep -q "event=expire" "$DAEMON_LOG"
finish
