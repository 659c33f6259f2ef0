#!/bin/bash
# The suite never depends on files of the host: with a hostile
# /etc/pkishare/pkishared.conf present (as when the package is installed), other
# integration tests still pass, because every daemon they start names its --config. The
# file is put there only inside a private mount namespace, on an overlay of /etc, so the
# host's /etc is neither read for it nor changed. Skipped (77) where that cannot be done.
HERE=$(cd "$(dirname "$0")" && pwd)
if [ -z "${PKISHARE_HOSTCONF_NS:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
		echo "skip: needs root and unshare(1) for a private mount namespace"; exit 77
	fi
	if ! unshare -m --propagation private true 2>/dev/null; then
		echo "skip: cannot make a mount namespace here"; exit 77
	fi
	exec unshare -m --propagation private env PKISHARE_HOSTCONF_NS=1 bash "$0" "$@"
fi
. "$HERE/lib.sh"
# The file this build reads without --config (/etc/pkishare/pkishared.conf with --prefix
# /usr, /usr/local/etc/pkishare/pkishared.conf with meson's default prefix).
CONF_FILE=$("$PKISHARED" --help | grep -o -- '--config FILE .*(default [^ ]*' | sed 's/.*(default //')
ETC=$(dirname "$(dirname "$CONF_FILE")")
check "pkishared --help names its default configuration file ($CONF_FILE)" \
	bash -c "[ -n '$CONF_FILE' ] && [ -d '$ETC' ]"
O=$(mktemp -d /tmp/pkishare-ovl.XXXXXX)
mkdir -p "$O/up" "$O/work"
if ! mount -t overlay overlay -o "lowerdir=$ETC,upperdir=$O/up,workdir=$O/work" "$ETC" 2>"$T/mount.err"; then
	cat "$T/mount.err"; rm -rf "$O"; echo "skip: no overlayfs here"; exit 77
fi
mkdir -p "$(dirname "$CONF_FILE")"
cat >"$CONF_FILE" <<'CONF'
# hostile: every setting here would break a test that read it
log-level = error
allow = nobody-has-this-name
enrolled-fetch = no
tls-cert = /nonexistent/tls.crt
tls-key = /nonexistent/tls.key
client-ca = /nonexistent/ca.crt
CONF

# Every daemon a test starts names its configuration: "$PKISHARED" appears only in
# PKISHARED_RUN (lib.sh), with --help, --version or --on-stop, with its own --config, or
# where a test means the default file (this one).
BARE=$(grep -n '"$PKISHARED"' "$HERE"/*.sh | grep -v -e 'PKISHARED_RUN=' -e '--help' -e '--version' \
	-e '--on-stop' -e '--config' -e '__asan_init' -e '^[^:]*test-host-config.sh:' || true)
check "no test starts pkishared without --config${BARE:+: $BARE}" [ -z "$BARE" ]

R=$T/r
make_pki "$R"
rc=0
timeout 5 "$PKISHARED" --listen 127.0.0.1:0 --admin-socket "$T/h.sock" >"$T/h.log" 2>&1 || rc=$?
check "the hostile file is in place: a daemon without --config reads it and fails (exit $rc)" \
	bash -c "[ $rc = 78 ] || [ $rc = 1 ] || [ $rc = 2 ]"
check "... saying so" grep -q "nonexistent" "$T/h.log"
for t in refusals tokens enroll admin-socket; do
	rc=0
	bash "$HERE/test-$t.sh" >"$T/$t.log" 2>&1 || rc=$?
	check "integration.$t passes with a hostile $CONF_FILE" [ "$rc" = 0 ]
	[ "$rc" = 0 ] || tail -n 20 "$T/$t.log" | sed 's/^/    /' >&2
done
rm "$CONF_FILE"
"$PKISHARED" --listen 127.0.0.1:0 --tls-cert "$R/pkishared/tls.crt" --tls-key "$R/pkishared/tls.key" \
	--client-ca "$R/clients/ca.crt" --admin-socket "$T/n.sock" >"$T/n.log" 2>&1 &
N=$!
for _ in $(seq 1 100); do grep -q "listening on" "$T/n.log" && break; sleep 0.05; done
kill "$N"; wait "$N" || true
check "without a configuration file the start-up log says none was read" \
	grep -q "no configuration file read ($CONF_FILE is not there" "$T/n.log"
# pkishared run by hand without --tls-cert says where it looked (review of issue 30).
expect_exit 2 "no configuration file and no --tls-cert: refused" "$PKISHARED" --listen 127.0.0.1:0 \
	--admin-socket "$T/x.sock"
check "... saying no configuration file was read, and where it was looked for" \
	err_has "no configuration file was read ($CONF_FILE is not there; --config FILE names another)"
echo "log-level = info" >"$T/some.conf"
expect_exit 2 "a configuration file without tls-cert and tls-key: refused" "$PKISHARED" --config "$T/some.conf" \
	--listen 127.0.0.1:0 --admin-socket "$T/x.sock"
check "... naming the file read and what it lacks" err_has "$T/some.conf, the file read, does not set either of them"
expect_exit 2 "... with --tls-cert alone" "$PKISHARED" --config "$T/some.conf" --tls-cert "$R/pkishared/tls.crt" \
	--listen 127.0.0.1:0 --admin-socket "$T/x.sock"
check "... naming what is missing: tls-key" err_has "$T/some.conf, the file read, does not set tls-key"
umount "$ETC"
rm -rf "$O"
finish
