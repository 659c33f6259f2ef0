#!/bin/bash
# GET /metrics over mutual TLS and on the admin socket: Prometheus text format, names
# by convention, and counters that move with fetches, refusals, enrollments and uploads.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
start_daemon "$R"
C=(--cacert "$R/pki/ca.crt" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key")
scrape() { curl -sS "${C[@]}" "https://127.0.0.1:$PORT/metrics"; }
value() { grep -F "$1 " "$2" | awk '{print $NF}'; }

scrape >"$T/m0"
check "metrics: Prometheus text, every family typed and helped" /usr/bin/python3 - "$T/m0" <<'PY'
import re, sys
typed, helped, samples = set(), set(), 0
for line in open(sys.argv[1]):
    line = line.rstrip("\n")
    if line.startswith("# TYPE "):
        name, kind = line.split()[2:4]; assert kind in ("counter", "gauge"); typed.add(name)
    elif line.startswith("# HELP "):
        helped.add(line.split()[2])
    elif line:
        m = re.fullmatch(r'([a-z_]+)(\{[a-z]+="[a-z0-9.-]+"\})? ([0-9]+)', line)
        assert m, line
        assert m.group(1) in typed, line
        assert m.group(1).startswith("pkishare_"), line
        samples += 1
assert typed == helped and samples >= 15
PY
check "metrics: counters end in _total" bash -c "grep '^# TYPE' '$T/m0' | awk '\$4==\"counter\"{print \$3}' | grep -v '_total$' | wc -l | grep -qx 0"
check "metrics: no bundle held at start" grep -qx "pkishare_bundle_held 0" "$T/m0"
check "metrics: build info" grep -q '^pkishare_build_info{version="[0-9.]*"} 1$' "$T/m0"

upload "$R/pki" --ttl 1h
curl_fetch "$R" node-3 >/dev/null
curl_fetch "$R" node-3 >/dev/null
curl -sS --cacert "$R/pki/ca.crt" "https://127.0.0.1:$PORT/v1/bundle" >/dev/null || true
TOKEN=$("$PKISHARE" token create)
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=x -keyout "$T/x.key" -out "$T/x.csr" 2>/dev/null
curl -sS -o /dev/null -k -H "Authorization: Bearer aaaaaa.bbbbbbbbbbbbbbbb" --data-binary @"$T/x.csr" "https://127.0.0.1:$PORT/v1/enroll" || true
curl -sS -o /dev/null -k -H "Authorization: Bearer $TOKEN" --data-binary "x" "https://127.0.0.1:$PORT/v1/enroll" || true
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
"$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" --token "$TOKEN" --certificate-key "$KEY" --pki-dir "$T/j/pki" >/dev/null
curl -sS --unix-socket "$ADMIN" http://localhost/metrics >"$T/m1"
check "admin socket serves the same metrics" grep -q "^pkishare_bundle_held 1$" "$T/m1"
check "fetches ok counted (3)" [ "$(value 'pkishare_bundle_fetches_total{result="ok"}' "$T/m1")" = 3 ]
check "upload counted" [ "$(value 'pkishare_uploads_total{result="ok"}' "$T/m1")" = 1 ]
check "enrollment ok counted" [ "$(value 'pkishare_enrollments_total{result="ok"}' "$T/m1")" = 1 ]
check "bad token counted" [ "$(value 'pkishare_enrollments_total{result="bad-token"}' "$T/m1")" = 1 ]
check "bad CSR counted" [ "$(value 'pkishare_enrollments_total{result="bad-csr"}' "$T/m1")" = 1 ]
check "token failure counted as an authentication failure" [ "$(value 'pkishare_authentication_failures_total{stage="join-token"}' "$T/m1")" = 1 ]
check "certificate-less client counted" [ "$(value 'pkishare_authentication_failures_total{stage="client-certificate"}' "$T/m1")" -ge 1 ]
check "expiry gauge near 1h" bash -c "v=\$(grep '^pkishare_bundle_expires_in_seconds ' '$T/m1' | awk '{print \$2}'); [ \$v -gt 3500 ] && [ \$v -le 3600 ]"
check "active token gauge (the token has unlimited uses)" grep -qx "pkishare_tokens_active 1" "$T/m1"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$R/pki/ca.crt" "https://127.0.0.1:$PORT/metrics" || true)
check "metrics need a client certificate like every route (got $code)" [ "$code" = 403 ]
check "metrics carry no secret" bash -c "! grep -q -e '$KEY' -e '${TOKEN#*.}' '$T/m1'"
finish
