#!/bin/bash
# Refusals: each gives a clear message and its exit status, leaves the target directory
# exactly as it was, and the daemon keeps serving a good client afterwards.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
make_pki "$T/other"
start_daemon "$R"
upload "$R/pki"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
OTHER_PIN=$("$PKISHARE" pki ca-cert-hash "$T/other/pki/ca.crt")
curl_fetch "$R" node-3 >"$T/good.json"
TARGET=$T/node/pki
mkdir -p "$TARGET"
echo "node's own file" >"$TARGET/apiserver.crt"
BEFORE=$(tree_sum "$TARGET")

join_args() { echo --server "$SERVER" --ca-cert-hash "$PIN" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$TARGET"; }
unchanged() { check "$1: target unchanged" [ "$(tree_sum "$TARGET")" = "$BEFORE" ]
	check "$1: daemon still serving" daemon_serves "$R"; }

# 1. Wrong key: told it is not the bundle's key (rotated?) before any decryption.
WRONG=$("$PKISHARE" certificate-key)
expect_exit 4 "wrong key" "$PKISHARE" join $(join_args) --certificate-key "$WRONG"
check "wrong key: message says rotated" err_has "rotated"
unchanged "wrong key"

# 2. Malformed keys are usage errors that say what was found.
expect_exit 2 "short key" "$PKISHARE" join $(join_args) --certificate-key abc123
check "short key: says the length found" err_has "found 6 characters"
expect_exit 2 "non-hex key" "$PKISHARE" decrypt --certificate-key "$(printf 'z%.0s' $(seq 64))" --pki-dir "$TARGET" "$T/good.json"
check "non-hex key: names the position" err_has "character 1 is not a hexadecimal digit"
unchanged "bad key"

# 3. One flipped byte in one ciphertext.
/usr/bin/python3 - "$T/good.json" "$T/flipped.json" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1]))
raw = bytearray(base64.b64decode(d["files"][3]["data"]))
raw[40] ^= 0x01
d["files"][3]["data"] = base64.b64encode(bytes(raw)).decode()
json.dump(d, open(sys.argv[2], "w"))
PY
expect_exit 8 "flipped ciphertext byte" "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$TARGET" "$T/flipped.json"
check "flipped byte: authentication failure named" err_has "failed authentication"
unchanged "flipped byte"

# 4. An entry's data moved under another entry's name.
/usr/bin/python3 - "$T/good.json" "$T/swapped.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
f = {e["name"]: e for e in d["files"]}
f["ca.key"]["data"], f["front-proxy-ca.key"]["data"] = f["front-proxy-ca.key"]["data"], f["ca.key"]["data"]
json.dump(d, open(sys.argv[2], "w"))
PY
expect_exit 8 "entries swapped" "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$TARGET" "$T/swapped.json"
unchanged "swapped entries"

# 5. No client certificate: the handshake completes (enrollment needs that) but every
#    route except POST /v1/enroll answers 403, and no bundle is sent.
code=$(curl -sS -o "$T/nocert.out" -w '%{http_code}' --cacert "$R/pki/ca.crt" "https://127.0.0.1:$PORT/v1/bundle" || true)
check "no client certificate: 403 (got $code)" [ "$code" = 403 ]
check "no client certificate: no bundle leaked" bash -c "! grep -q SealedBundle '$T/nocert.out'"
check "no client certificate: the answer says what is needed" grep -q "client certificate" "$T/nocert.out"
check "no client certificate: audited" grep -q "result=forbidden" "$DAEMON_LOG"
code=$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$R/pki/ca.crt" "https://127.0.0.1:$PORT/v1/bundle/info" || true)
check "no client certificate: bundle info refused too (got $code)" [ "$code" = 403 ]
unchanged "no client certificate"

# 6. A client certificate from another CA.
rc=0; curl -sS --cacert "$R/pki/ca.crt" --cert "$T/other/clients/node-2.crt" --key "$T/other/clients/node-2.key" \
	"https://127.0.0.1:$PORT/v1/bundle" >"$T/foreign.out" 2>&1 || rc=$?
check "foreign client certificate: curl fails (exit $rc)" [ "$rc" != 0 ]
check "foreign client certificate: no bundle leaked" bash -c "! grep -q SealedBundle '$T/foreign.out'"
check "foreign client certificate: audited" grep -q "client certificate from .* refused in the TLS handshake: .*issuer is unknown" "$DAEMON_LOG"
expect_exit 7 "foreign client certificate: join refused" "$PKISHARE" join --server "$SERVER" --ca-cert-hash "$PIN" \
	--cert "$T/other/clients/node-2.crt" --key "$T/other/clients/node-2.key" --pki-dir "$TARGET" --certificate-key "$KEY"
check "foreign client certificate: message says what to use" err_has "client-ca"
unchanged "foreign client certificate"

# 7. The server's certificate used as a client certificate (right CA, wrong purpose).
rc=0; curl -sS -k --cert "$R/pkishared/tls.crt" --key "$R/pkishared/tls.key" \
	"https://127.0.0.1:$PORT/v1/bundle" >"$T/purpose.out" 2>&1 || rc=$?
check "server-purpose certificate as client: no bundle" bash -c "! grep -q SealedBundle '$T/purpose.out'"

# 8. A server whose CA does not match the pin: join sends nothing.
FETCHES=$(grep -c "event=fetch" "$DAEMON_LOG" || true)
expect_exit 9 "pin mismatch" "$PKISHARE" join --server "$SERVER" --ca-cert-hash "$OTHER_PIN" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$TARGET" --certificate-key "$KEY"
check "pin mismatch: message says nothing was sent" err_has "nothing was sent"
sleep 0.2
check "pin mismatch: no request reached the daemon" [ "$(grep -c 'event=fetch' "$DAEMON_LOG" || true)" = "$FETCHES" ]
check "pin mismatch: not even a client certificate (no refusal logged for it)" bash -c "! grep -q 'client=node-2.*forbidden' '$DAEMON_LOG'"
expect_exit 2 "malformed pin" "$PKISHARE" join --server "$SERVER" --ca-cert-hash "sha256:1234" \
	--cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" --pki-dir "$TARGET" --certificate-key "$KEY"
unchanged "pin mismatch"

# 9. Existing different files without --force; with --force they are replaced and
#    other files are kept (not node certificates of another CA: integration.join-force).
mkdir -p "$T/existing/pki"
cp "$T/other/pki/ca.crt" "$T/existing/pki/ca.crt"
echo keep >"$T/existing/pki/operator-notes.crt"
EXIST_BEFORE=$(tree_sum "$T/existing/pki")
expect_exit 10 "different existing files" "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$T/existing/pki" "$T/good.json"
check "different files: names the file" err_has "ca.crt already exists"
check "different files: target unchanged" [ "$(tree_sum "$T/existing/pki")" = "$EXIST_BEFORE" ]
expect_exit 0 "--force replaces them" "$PKISHARE" decrypt --force --certificate-key "$KEY" --pki-dir "$T/existing/pki" "$T/good.json"
check "--force: ca.crt replaced" cmp "$R/pki/ca.crt" "$T/existing/pki/ca.crt"
check "--force: other files kept" grep -q keep "$T/existing/pki/operator-notes.crt"

# 10. A target that is another user's symlink (one of root's or ours is followed:
#     integration.symlinked-pki), and one containing a symlink.
ln -s "$T/elsewhere" "$T/link-pki"
chown -h nobody "$T/link-pki"
mkdir -p "$T/elsewhere"
expect_exit 1 "symlink target" "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$T/link-pki" "$T/good.json"
check "symlink target: message says whose symlink it is" err_has "symlink owned by another user"
check "symlink target: nothing written through it" [ -z "$(ls -A "$T/elsewhere")" ]
mkdir -p "$T/inner/pki"; ln -s "$T/elsewhere" "$T/inner/pki/etcd"
expect_exit 1 "target containing a symlink" "$PKISHARE" decrypt --force --certificate-key "$KEY" --pki-dir "$T/inner/pki" "$T/good.json"
check "inner symlink: nothing written through it" [ -z "$(ls -A "$T/elsewhere")" ]

# 11. Hostile bundles: not JSON, unknown entry names, path traversal.
echo '{"apiVersion":' >"$T/trunc.json"
expect_exit 1 "truncated JSON" "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$TARGET" "$T/trunc.json"
sed 's/"etcd\/ca.key"/"..\/..\/etc\/passwd"/' "$T/good.json" >"$T/traversal.json"
expect_exit 1 "path traversal in an entry name" "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$TARGET" "$T/traversal.json"
check "path traversal: named" err_has "not a shared PKI file"
: >"$T/empty.json"
expect_exit 1 "empty input (curl failed)" "$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$TARGET" "$T/empty.json"
unchanged "hostile bundles"

# 12. Admin API: a bad upload body and a non-root caller change nothing.
ID=$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')
rc=0; curl -sS --unix-socket "$ADMIN" -X PUT --data '{"not":"a bundle"}' http://localhost/v1/bundle >"$T/badput.out" || rc=$?
check "bad upload body: 400 with reason" grep -q '"reason": "bad-bundle"' "$T/badput.out"
head -c 2000000 /dev/zero | tr '\0' 'a' >"$T/huge.bin"
code=$(curl -sS -o /dev/null -w '%{http_code}' --unix-socket "$ADMIN" -X PUT --data-binary @"$T/huge.bin" http://localhost/v1/bundle || true)
check "oversized upload body: 413 (got $code)" [ "$code" = 413 ]
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
	chmod 755 "$T"
	rc=0; setpriv --reuid=65534 --regid=65534 --clear-groups "$PKISHARE" status --admin-socket "$ADMIN" >/dev/null 2>"$T/nobody.err" || rc=$?
	check "non-root admin caller refused (exit $rc)" [ "$rc" != 0 ]
fi
check "held bundle untouched by refused uploads" [ "$("$PKISHARE" status -o json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')" = "$ID" ]

# After all of it: a good join still works.
expect_exit 0 "good join after all refusals" "$PKISHARE" join $(join_args) --certificate-key "$KEY"
check "good join: byte-identical" bash -c "cd '$R/pki' && for f in \$(find . -type f); do cmp \$f '$TARGET'/\$f || exit 1; done"
check "good join: other file kept" grep -q "node's own file" "$TARGET/apiserver.crt"
finish
