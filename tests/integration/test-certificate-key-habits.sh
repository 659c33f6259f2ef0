#!/bin/bash
# The certificate key, from the operator's side (issue 30, P12 and P16): print-join-command
# refuses a key the held bundle is not sealed with (an older upload's), and upload-certs
# --skip-certificate-key-print without a key of one's own is refused before anything is
# uploaded, since the bundle it would seal nobody could open.
. "$(dirname "$0")/lib.sh"

R=$T/c1
make_pki "$R"
start_daemon "$R"
upload "$R/pki"
OLD=$KEY
upload "$R/pki"
NEW=$KEY
NEW_ID=$("$PKISHARE" status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["keyId"])')
tokens() { "$PKISHARE" token list -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))'; }

# P12: the old key is refused, saying which key the bundle is sealed with, by id.
before=$(tokens)
expect_exit 4 "print-join-command with an older upload's key is refused" \
	env PKISHARE_CERTIFICATE_KEY="$OLD" "$PKISHARE" print-join-command --server "$SERVER"
check "the refusal names the held bundle's key id" err_has "key id $NEW_ID"
check "the refusal says what to do" err_has "upload-certs"
check "the refusal never shows a key" bash -c "! grep -q -e '$OLD' -e '$NEW' '$T/last.err' '$T/last.out'"
check "no command was printed" bash -c "[ ! -s '$T/last.out' ]"
check "no token was created" test "$(tokens)" = "$before"
expect_exit 2 "token create --print-join-command --certificate-key - with the old key is refused" \
	bash -c "echo '$OLD' | '$PKISHARE' token create --print-join-command --certificate-key - --server '$SERVER'; exit \$(( \$? == 4 ? 2 : 1 ))"
# The held bundle's key is taken.
expect_exit 0 "print-join-command with the held bundle's key" \
	env PKISHARE_CERTIFICATE_KEY="$NEW" "$PKISHARE" print-join-command --server "$SERVER"
check "the command carries the key" grep -q "$NEW" "$T/last.out"

# P16: --skip-certificate-key-print without a key is a usage error; the bundle is kept.
held=$("$PKISHARE" status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')
expect_exit 2 "upload-certs --skip-certificate-key-print without a key is refused" \
	env -u PKISHARE_CERTIFICATE_KEY "$PKISHARE" upload-certs --pki-dir "$R/pki" --skip-certificate-key-print
check "the refusal says to pass the joiners' key" err_has "pass the key you will give joiners"
check "the refusal says nothing was uploaded" err_has "nothing was uploaded"
now=$("$PKISHARE" status -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["id"])')
check "the held bundle was not replaced" test "$held" = "$now"
check "the refusal says how to make a key" err_has "pkishare certificate-key"
# With a key given (the variable, or standard input), it is taken and not printed.
K2=$("$PKISHARE" certificate-key)
expect_exit 0 "upload-certs --skip-certificate-key-print with the key in the variable" \
	env PKISHARE_CERTIFICATE_KEY="$K2" "$PKISHARE" upload-certs --pki-dir "$R/pki" --skip-certificate-key-print
check "the key is not printed" bash -c "! grep -q '$K2' '$T/last.out'"
K3=$("$PKISHARE" certificate-key)
expect_exit 0 "upload-certs --skip-certificate-key-print --certificate-key -" \
	bash -c "echo '$K3' | '$PKISHARE' upload-certs --pki-dir '$R/pki' --skip-certificate-key-print --certificate-key -"
expect_exit 0 "the joiners' key opens the new bundle (its join command is printed)" \
	env PKISHARE_CERTIFICATE_KEY="$K3" "$PKISHARE" print-join-command --server "$SERVER"
finish
