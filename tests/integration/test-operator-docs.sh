#!/bin/bash
# What an operator reads and types: bash completion for both commands (installed where
# the Debian package takes it from), per-subcommand --help, pkishare(1) documenting every
# flag pkishare accepts, the CA pin in `pkishare status`, progress lines on
# `pki init --node-certs`; docs/design.md's module map names every source file.
. "$(dirname "$0")/lib.sh"
SRC=$(cd "$PROTO_DIR/.." && pwd)

# The module map: every module of lib/, daemon/ and client/ by its name, NAME.c or NAME.h.
unmapped=""
for f in "$SRC"/lib/*.[ch] "$SRC"/daemon/*.[ch] "$SRC"/daemon/*/*.[ch] "$SRC"/client/*.[ch]; do
	b=$(basename "$f"); n=${b%.*}
	grep -qE '[`]('"$n|$n\.c|$n\.h"')[`]' "$SRC/docs/design.md" || unmapped="$unmapped $f"
done
check "docs/design.md's module map names every source file (missing:${unmapped:- none})" [ -z "$unmapped" ]

# Completion, driven as bash drives it.
complete_words() { # complete_words WORD... -> the candidates for the last word
	COMP_WORDS=("$@")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMPREPLY=()
	"$FN"
	printf '%s\n' "${COMPREPLY[@]}"
}
check "the pkishare completion script is in the tree" [ -f "$SRC/client/pkishare.bash" ]
check "the pkishared completion script is in the tree" [ -f "$SRC/daemon/pkishared.bash" ]
if [ -f "$SRC/client/pkishare.bash" ] && [ -f "$SRC/daemon/pkishared.bash" ]; then
	# shellcheck source=/dev/null
	. "$SRC/client/pkishare.bash"
	# shellcheck source=/dev/null
	. "$SRC/daemon/pkishared.bash"
	FN=_pkishare
	check "completion: verbs" bash -c "$(declare -f complete_words _pkishare); FN=_pkishare; complete_words '$PKISHARE' jo | grep -qx join"
	check "completion: join's flags, --dry-run among them" bash -c "$(declare -f complete_words _pkishare); FN=_pkishare; complete_words '$PKISHARE' join --dry | grep -qx -- --dry-run"
	check "completion: after the variables a printed command starts with" bash -c "$(declare -f complete_words _pkishare); FN=_pkishare; complete_words PKISHARE_TOKEN=x PKISHARE_CERTIFICATE_KEY=y '$PKISHARE' join --dry | grep -qx -- --dry-run"
	check "completion: pki subcommands" bash -c "$(declare -f complete_words _pkishare); FN=_pkishare; complete_words '$PKISHARE' pki no | grep -qx node-certs"
	check "completion: a subcommand's own flags" bash -c "$(declare -f complete_words _pkishare); FN=_pkishare; complete_words '$PKISHARE' pki init --node-c | grep -qx -- --node-certs"
	check "completion: values of --encryption-algorithm" bash -c "$(declare -f complete_words _pkishare); FN=_pkishare; complete_words '$PKISHARE' join --encryption-algorithm ECDSA-P3 | grep -qx ECDSA-P384"
	check "completion: pkishared's options" bash -c "$(declare -f complete_words _pkishared); FN=_pkishared; complete_words '$PKISHARED' --enroll | grep -qx -- --enrolled-fetch"
fi
# Installed by meson install where debian/*.install picks it up (usr/share/...).
DEST=$T/dest
meson install -C "$BUILD_ROOT" --no-rebuild --destdir "$DEST" >"$T/install.log" 2>&1 || true
for c in pkishare pkishared; do
	F=$(find "$DEST" -path "*/share/bash-completion/completions/$c" | head -1)
	check "meson install installs the $c completion" [ -n "$F" ]
	check "... and the Debian package ships it" grep -qx "usr/share/bash-completion/completions/$c" "$SRC/debian/$c.install"
done

# Per-subcommand --help: its own usage, not the whole group's.
expect_exit 0 "pki ca-cert-hash --help" "$PKISHARE" pki ca-cert-hash --help
check "... shows ca-cert-hash only" bash -c "grep -q 'pki ca-cert-hash' '$T/last.out' && ! grep -q 'pki init' '$T/last.out'"
expect_exit 0 "token list --help" "$PKISHARE" token list --help
check "... shows token list only" bash -c "grep -q 'token list' '$T/last.out' && ! grep -q 'token create' '$T/last.out'"
expect_exit 0 "token delete --help" "$PKISHARE" token delete --help
check "... shows token delete only" bash -c "grep -q 'token delete' '$T/last.out' && ! grep -q 'token list' '$T/last.out'"

# pkishare(1) documents every long option pkishare's option tables accept.
missing=
for f in $(cat "$SRC"/client/*.c "$SRC"/client/*.h "$SRC"/lib/pkidir.h |
	grep -o '{"[a-z][a-z0-9-]*", *\(required\|no\|optional\)_argument' | sed 's/{"\([^"]*\)".*/\1/' | sort -u); do
	grep -q -- "\\\\-\\\\-${f//-/\\\\-}\\b" "$SRC/docs/pkishare.1" || missing="$missing --$f"
done
check "pkishare(1) documents every flag pkishare accepts (missing:${missing:- none})" [ -z "$missing" ]
check "pkishare(1) says what --dry-run does" grep -q '^stops after these checks: it fetches nothing' "$SRC/docs/pkishare.1"

# Progress on a long pki init --node-certs; the CA pin in status.
R=$T/r
expect_exit 0 "pki init --node-certs" "$PKISHARE" pki init --dir "$R" --node-name node-1 --address 127.0.0.1 \
	--node-certs --advertise-address 127.0.0.1
check "... shows progress on the CAs" grep -q '^\[pki\] Generating the cluster CA' "$T/last.out"
check "... and on each node certificate" grep -q '^\[pki\] Generating apiserver.crt and .key' "$T/last.out"
start_daemon "$R"
PIN=$("$PKISHARE" pki ca-cert-hash "$R/pki/ca.crt")
expect_exit 0 "status" "$PKISHARE" status
check "status shows the CA pin joiners need" grep -qx "CA pin:     $PIN" "$T/last.out"
stop_daemon
finish
