#!/bin/bash
# Reload (SIGHUP) under load and forever: status readers racing reloads never see freed
# TLS material, more than 64 reloads keep working, and a rejected reload says why.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
start_daemon "$R"
upload "$R/pki" --ttl 1h
reloads() { grep -c "reloaded the configuration" "$DAEMON_LOG" || true; }

# Four clients looping on status while SIGHUP arrives every 0.15 s (this crashed the
# daemon: the status pins were computed from a PEM that a reload had freed).
pids=()
for i in 1 2 3 4; do
	(end=$((SECONDS + 4)); n=0
	 while [ $SECONDS -lt $end ]; do
		"$PKISHARE" status -o json >/dev/null || { echo "status failed" >"$T/status.$i.err"; break; }
		n=$((n + 1))
	 done; echo "$n" >"$T/status.$i.n") &
	pids+=($!)
done
for _ in $(seq 1 20); do kill -HUP "$DAEMON_PID"; sleep 0.15; done
wait "${pids[@]}"
check "the daemon survived 20 reloads under status load" kill -0 "$DAEMON_PID"
check "every status call answered" bash -c "! ls '$T'/status.*.err 2>/dev/null | grep -q ."
check "status still carries the pins" bash -c "'$PKISHARE' status -o json | grep -q caCertHash"

# More than 64 reloads (a fixed array stopped the 65th).
for i in $(seq 1 70); do
	before=$(reloads)
	kill -HUP "$DAEMON_PID"
	for _ in $(seq 1 100); do [ "$(reloads)" -gt "$before" ] && break; sleep 0.02; done
done
check "90 reloads all succeeded ($(reloads))" [ "$(reloads)" -ge 90 ]
check "no reload was refused" bash -c "! grep -q 'configuration is not valid' '$DAEMON_LOG'"
check "the bundle is still served after 90 reloads" daemon_serves "$R"
check "the held bundle survived the reloads" bash -c "'$PKISHARE' status -o json | grep -q '\"bundle\": {'"

# A broken serving certificate: the reload is refused with the reason, serving goes on.
cp "$R/pkishared/tls.crt" "$T/tls.crt.good"
echo "garbage" >"$R/pkishared/tls.crt"
kill -HUP "$DAEMON_PID"
for _ in $(seq 1 100); do grep -q "keeping the running TLS files" "$DAEMON_LOG" && break; sleep 0.05; done
check "a rejected reload says why" grep -q "do not load together" "$DAEMON_LOG"
check "a rejected reload keeps serving" daemon_serves "$R"

# pkishare reload (the unit's ExecReload=) waits for the outcome and fails when refused.
expect_exit 1 "pkishare reload with the broken certificate fails" "$PKISHARE" reload
check "it says why" grep -q "do not load together" "$T/last.err"
check "and that the previous configuration still serves" grep -q "still serving with the previous configuration" "$T/last.err"
cp "$T/tls.crt.good" "$R/pkishared/tls.crt"
expect_exit 0 "pkishare reload with good files" "$PKISHARE" reload
check "it says what it holds was kept" grep -q "what it holds (bundle, join tokens) was kept" "$T/last.out"
check "the bundle is served after pkishare reload" daemon_serves "$R"
finish
