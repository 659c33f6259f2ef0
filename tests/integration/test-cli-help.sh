#!/bin/bash
# Finding one's way, from the operator's side (issue 30, P18): 'pkishare help VERB' is
# VERB's own help (kubeadm's habit), a mistyped verb or the start of one gets "did you
# mean", and the bash
# completion offers join's --external-etcd-* flags and status --output.
. "$(dirname "$0")/lib.sh"

# help VERB [SUB] is VERB [SUB] --help.
"$PKISHARE" join --help >"$T/join.help"
expect_exit 0 "pkishare help join" "$PKISHARE" help join
check "help join prints join's help" cmp "$T/join.help" "$T/last.out"
"$PKISHARE" token delete --help >"$T/td.help"
expect_exit 0 "pkishare help token delete" "$PKISHARE" help token delete
check "help token delete prints token delete's help" cmp "$T/td.help" "$T/last.out"
expect_exit 0 "pkishare help (no verb)" "$PKISHARE" help
check "help alone is the global help" grep -q "Usage: pkishare VERB" "$T/last.out"
expect_exit 2 "pkishare help of an unknown verb" "$PKISHARE" help jion
check "... says did you mean join" err_has "did you mean 'join'"

# A mistyped verb: did you mean, exit 2; nothing close: no guess.
expect_exit 2 "a mistyped verb" "$PKISHARE" stauts
check "... did you mean status" err_has "unknown verb 'stauts'; did you mean 'status'"
expect_exit 2 "a swapped verb" "$PKISHARE" upload-cerst
check "... did you mean upload-certs" err_has "did you mean 'upload-certs'"
# The start of a verb counts too (review of issue 30): delete for delete-certs.
expect_exit 2 "the first word of a verb" "$PKISHARE" delete
check "... did you mean delete-certs" err_has "unknown verb 'delete'; did you mean 'delete-certs'"
expect_exit 2 "... upload" "$PKISHARE" upload
check "... did you mean upload-certs" err_has "unknown verb 'upload'; did you mean 'upload-certs'"
expect_exit 2 "the start of a token verb" "$PKISHARE" token del abcdef
check "... did you mean delete" err_has "unknown 'token' verb 'del'; did you mean 'delete'"
expect_exit 2 "the start of two pki verbs (client-ca, client-cert)" "$PKISHARE" pki client
check "... is not guessed at" bash -c "! grep -q 'did you mean' '$T/last.err'"
expect_exit 2 "an unrelated word" "$PKISHARE" frobnicate
check "... gets no guess" bash -c "! grep -q 'did you mean' '$T/last.err' && grep -q 'pkishare --help' '$T/last.err'"
expect_exit 2 "a verb with a control character" "$PKISHARE" $'stat\e[2Jus'
check "... is not echoed raw" bash -c "! grep -q \$'\e' '$T/last.err'"
# The verbs under token and pki too (found by an outside review), never echoed raw.
expect_exit 2 "a mistyped token verb" "$PKISHARE" token dlete abcdef
check "... did you mean delete" err_has "unknown 'token' verb 'dlete'; did you mean 'delete'"
expect_exit 2 "a mistyped pki verb" "$PKISHARE" pki clientca
check "... did you mean client-ca" err_has "unknown 'pki' verb 'clientca'; did you mean 'client-ca'"
expect_exit 2 "a pki verb with a control character" "$PKISHARE" pki $'ini\e[2Jt'
check "... is not echoed raw" bash -c "! grep -q \$'\e' '$T/last.err'"

# Bash completion, as the package installs it, driven as bash drives it.
BASH_COMP=$(dirname "$0")/../../client/pkishare.bash
complete_words() { # complete_words WORD... -> the candidates for the last word
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _pkishare; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$BASH_COMP" "$@" | PATH=$(dirname "$PKISHARE"):$PATH sort
}
export PATH=$(dirname "$PKISHARE"):$PATH
complete_words pkishare join --external >"$T/c1"
check "completion: join --external-etcd-ca" grep -qx -- --external-etcd-ca "$T/c1"
check "completion: join --external-etcd-cert" grep -qx -- --external-etcd-cert "$T/c1"
check "completion: join --external-etcd-key" grep -qx -- --external-etcd-key "$T/c1"
complete_words pkishare status --ou >"$T/c2"
check "completion: status --output" grep -qx -- --output "$T/c2"
complete_words pkishare status --output "" >"$T/c3"
check "completion: status --output json" grep -qx json "$T/c3"
complete_words pkishare token list -o "" >"$T/c4"
check "completion: token list -o yaml" grep -qx yaml "$T/c4"
complete_words pkishare help jo >"$T/c5"
check "completion: help join" grep -qx join "$T/c5"
finish
