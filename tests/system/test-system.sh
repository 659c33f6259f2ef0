#!/bin/bash
# test-system.sh - the README's operator's guide, walked under a booted systemd.
#
# Builds the Debian packages from this source tree, boots Debian 12 with systemd as PID 1
# in a systemd-nspawn container (its own network namespace, nothing but loopback), installs
# the packages in it and does what an operator does: configure, enable the sockets, let
# the first connection start the daemon, upload, check status, join with pkishare and with
# curl + pkishare decrypt (inside the guest, and from the host through the guest's network
# namespace), read STATUS= and the journal fields, see the held state survive kill -9,
# systemctl restart and the watchdog (systemd's fd store), a too-small fd store reported as not kept, a corrupted store start the
# daemon empty, expiry wipe it and leave no byte of the bundle on disk or in the daemon's
# memory, reload (good and bad), hit the start limit with a broken configuration, stop
# (which wipes the kept state), and purge.
# With coordination on (README, "Every control-plane node serves: coordination"):
# pkishare-coordd from its package (DynamicUser=, the etcd credential by LoadCredential=),
# started by pkishared's first call on its socket, against a real etcd run on the host in
# the guest's network namespace; coordd restarted, etcd stopped (503
# coordination-unavailable) and started again, coordd hung (its watchdog).
#
# The guest's root filesystem is made once by debootstrap and cached outside the checkout
# in $PKISHARE_SYSTEM_CACHE (default /var/cache/pkishare-system), keyed by the package list,
# the apt sources and the host's library versions; each run boots a copy of it.
# Exits 77 (meson's "skipped") with the reason where no container can be booted.
#
# usage: test-system.sh SOURCE_DIR   (env: PKISHARE = the host's client, for the host join)
set -euo pipefail

SRC=$(cd "${1:?usage: test-system.sh SOURCE_DIR}" && pwd)
PKISHARE=${PKISHARE:?PKISHARE must name the built client}
CACHE=${PKISHARE_SYSTEM_CACHE:-/var/cache/pkishare-system}
T0=$(date +%s)

skip() {
	echo "SKIP: $*"
	echo "system: skipped ($*)"
	exit 77
}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
say() { printf '\n== [%3ds] %s\n' "$(($(date +%s) - T0))" "$*"; }

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, systemd-nspawn)"
for tool in debootstrap systemd-nspawn dpkg-buildpackage lintian nsenter flock etcd etcdctl openssl; do
	command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/test.sh installs it)"
done

WORK=$(mktemp -d /var/tmp/pkishare-system.XXXXXX)
NETNS=pkishare-sys-$$
NSPAWN_PID=
ETCD_PID=
cleanup() {
	set +e
	if [ -n "$ETCD_PID" ]; then
		kill "$ETCD_PID" 2>/dev/null
		wait "$ETCD_PID" 2>/dev/null
	fi
	ip netns delete "$NETNS" 2>/dev/null
	if [ -n "$NSPAWN_PID" ] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
		kill -TERM "$NSPAWN_PID" # nspawn asks the guest's systemd to power off
		for _ in $(seq 40); do
			kill -0 "$NSPAWN_PID" 2>/dev/null || break
			sleep 0.5
		done
		kill -KILL "$NSPAWN_PID" 2>/dev/null
		wait "$NSPAWN_PID" 2>/dev/null
	fi
	rm -rf --one-file-system "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------------------------------
say "building the Debian packages (dpkg-buildpackage -us -uc -b)"
mkdir -p "$WORK/src/pkishare" "$WORK/debs"
tar -C "$SRC" --exclude='./build*' --exclude=./.git --exclude='./obj-*' -cf - . |
	tar -C "$WORK/src/pkishare" -xf -
(cd "$WORK/src/pkishare" && DEB_BUILD_OPTIONS=nocheck dpkg-buildpackage -us -uc -b) \
	>"$WORK/dpkg-buildpackage.log" 2>&1 || {
	tail -40 "$WORK/dpkg-buildpackage.log"
	fail "dpkg-buildpackage failed (log above)"
}
cp "$WORK"/src/pkishare_*.deb "$WORK"/src/pkishared_*.deb "$WORK"/src/pkishare-coordd_*.deb "$WORK/debs/"
ls "$WORK/debs"
say "lintian (errors and warnings fail the test)"
LINTIAN=0
lintian --fail-on error,warning "$WORK"/src/*.changes >"$WORK/lintian.log" 2>&1 || LINTIAN=$?
grep -v 'running with root' "$WORK/lintian.log" || true
[ "$LINTIAN" = 0 ] || fail "lintian reports errors or warnings (above)"

# ---------------------------------------------------------------------------------------
# The guest's packages: systemd as PID 1, the daemon's run-time libraries, the tools the
# test uses in the guest; pkishare-coordd's libcurl4 (the OpenSSL flavour) too: the guest
# has no network to fetch a dependency when the packages are installed. The key changes
# when these, the apt sources or the host's library versions change (the guest must be at
# least as new as what the build links).
INCLUDE=systemd,systemd-sysv,dbus,curl,openssl,libmicrohttpd12,libgnutls30,libssl3,libsodium23,libjansson4,libsystemd0,libyaml-0-2,libcurl4,iproute2,procps
KEY=$( {
	echo "$INCLUDE v1"
	cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list 2>/dev/null
	dpkg-query -W libmicrohttpd12 libgnutls30 libssl3 libsodium23 libjansson4 libsystemd0 libcurl4 libc6 2>/dev/null
} | sha256sum | cut -c1-16)
ROOTFS=$CACHE/rootfs-$KEY
mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9
if [ ! -f "$ROOTFS/.complete" ]; then
	say "making the guest's root filesystem (debootstrap bookworm; cached in $ROOTFS)"
	MIRROR=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
	MIRROR=${MIRROR:-http://deb.debian.org/debian}
	rm -rf --one-file-system "$ROOTFS.new"
	debootstrap --variant=minbase --include="$INCLUDE" bookworm "$ROOTFS.new" "$MIRROR" \
		>"$WORK/debootstrap.log" 2>&1 || {
		tail -5 "$WORK/debootstrap.log"
		rm -rf --one-file-system "$ROOTFS.new"
		skip "debootstrap could not make a Debian 12 root filesystem from $MIRROR (no mirror reachable?)"
	}
	# The same suites as the host (security updates included), so the guest's libraries
	# are at least as new as those the packages were built against.
	rm -f "$ROOTFS.new/etc/apt/sources.list"
	cp /etc/apt/sources.list.d/*.sources "$ROOTFS.new/etc/apt/sources.list.d/" 2>/dev/null || true
	[ -f /etc/apt/sources.list ] && cp /etc/apt/sources.list "$ROOTFS.new/etc/apt/"
	chroot "$ROOTFS.new" apt-get update -qq >"$WORK/upgrade.log" 2>&1 &&
		chroot "$ROOTFS.new" env DEBIAN_FRONTEND=noninteractive apt-get -y -qq upgrade \
			>>"$WORK/upgrade.log" 2>&1 || {
		tail -5 "$WORK/upgrade.log"
		rm -rf --one-file-system "$ROOTFS.new"
		skip "could not bring the guest's packages up to date"
	}
	chroot "$ROOTFS.new" apt-get clean
	echo pkishare-guest >"$ROOTFS.new/etc/hostname"
	touch "$ROOTFS.new/.complete"
	for old in "$CACHE"/rootfs-*; do
		[ "$old" = "$ROOTFS" ] || [ "$old" = "$ROOTFS.new" ] || rm -rf --one-file-system "$old"
	done
	mv "$ROOTFS.new" "$ROOTFS"
fi
cp -a "$ROOTFS" "$WORK/root"
exec 9>&-

# ---------------------------------------------------------------------------------------
say "booting the guest (systemd-nspawn -b, private network)"
# No machined or system bus on a host without systemd as PID 1: --register=no and
# --keep-unit. Without CAP_IPC_LOCK, nspawn's own filter denies mlock, and without the
# filter line memfd_secret (the daemon falls back to a plain memfd, tested in integration).
systemd-nspawn -b -D "$WORK/root" --register=no --keep-unit --private-network \
	--capability=CAP_IPC_LOCK --system-call-filter=memfd_secret \
	--bind-ro="$WORK/debs:/root/debs" --console=passive \
	--machine=pkishare-guest >"$WORK/nspawn.log" 2>&1 </dev/null &
NSPAWN_PID=$!
GPID=
for _ in $(seq 100); do
	GPID=$(pgrep -P "$NSPAWN_PID" -x systemd || true)
	[ -n "$GPID" ] && break
	kill -0 "$NSPAWN_PID" 2>/dev/null || break
	sleep 0.1
done
[ -n "$GPID" ] || {
	cat "$WORK/nspawn.log"
	skip "systemd-nspawn could not boot a container here (log above)"
}
g() { nsenter -t "$GPID" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
# The guest's systemd answers only once its private socket exists: ask until it does.
STATE=
for _ in $(seq 180); do
	STATE=$(timeout 60 nsenter -t "$GPID" -a -- systemctl is-system-running --wait 2>/dev/null || true)
	case "$STATE" in running | degraded) break ;; esac
	sleep 0.5
done
case "$STATE" in
running) ;;
degraded) g systemctl --failed --no-pager ;;
*)
	cat "$WORK/nspawn.log"
	skip "the guest's systemd did not finish booting (state '$STATE')"
	;;
esac
echo "guest systemd: PID $GPID on the host, $(g systemctl --version | head -1), state $STATE"
ip netns attach "$NETNS" "$GPID"

show() { g systemctl show -p "$1" --value pkishared; }

# ---------------------------------------------------------------------------------------
say "install from the package"
DEBS=$(cd "$WORK/debs" && printf '/root/debs/%s ' pkishare_*.deb pkishared_*.deb pkishare-coordd_*.deb)
# shellcheck disable=SC2086 # three file names without blanks
g apt-get install -y -qq $DEBS >"$WORK/install.log" 2>&1 ||
	{
		cat "$WORK/install.log"
		fail "apt-get install of the packages failed in the guest"
	}
g dpkg -s pkishared | grep -q '^Status: install ok installed' || fail "pkishared is not installed"
g test -f /etc/pkishare/pkishared.conf || fail "no /etc/pkishare/pkishared.conf"
g grep -qx /etc/pkishare/pkishared.conf /var/lib/dpkg/info/pkishared.conffiles ||
	fail "pkishared.conf is not a conffile"
for u in pkishared.service pkishared.socket pkishared-admin.socket; do
	st=$(g systemctl is-enabled "$u" || true)
	[ "$st" = disabled ] || fail "$u is '$st' after installation; nothing is enabled until configured"
done
[ "$(show ActiveState)" = inactive ] || fail "pkishared runs before it is configured"
g dpkg -s pkishare-coordd | grep -q '^Status: install ok installed' || fail "pkishare-coordd is not installed"
g grep -qx /etc/pkishare/coordd.conf /var/lib/dpkg/info/pkishare-coordd.conffiles ||
	fail "coordd.conf is not a conffile"
for u in pkishare-coordd.service pkishare-coordd.socket; do
	g test -f "/lib/systemd/system/$u" || fail "$u is not installed"
	# The service has no WantedBy= of its own, only Also= its socket: "indirect".
	st=$(g systemctl is-enabled "$u" || true)
	case "$st" in disabled | indirect) ;; *) fail "$u is '$st' after installation; nothing is enabled until configured" ;; esac
done
[ "$(g systemctl show -p ActiveState --value pkishare-coordd.service)" = inactive ] ||
	fail "pkishare-coordd runs before it is configured"
g man -w pkishared 2>/dev/null || g test -f /usr/share/man/man8/pkishared.8.gz || fail "no pkishared(8)"

say "stand-in for kubeadm init: a cluster PKI in /etc/kubernetes/pki and a node-identity CA"
g pkishare pki init --dir /root/cluster --node-name cp-1 --address 127.0.0.1 \
	--client node-2 --client node-3 >/dev/null
g mkdir -p /etc/kubernetes
g cp -a /root/cluster/pki /etc/kubernetes/pki

say "operator's guide 1-2: serving certificate and client CA"
g pkishare pki serving-cert --pki-dir /etc/kubernetes/pki --out /etc/pkishare \
	--node-name cp-1 --address 127.0.0.1
g install -m 0600 /root/cluster/clients/ca.crt /etc/pkishare/client-ca.crt
PIN=$(g pkishare pki ca-cert-hash /etc/kubernetes/pki/ca.crt)

say "operator's guide 3: enable the sockets; the first connection starts the daemon"
g systemctl enable --now pkishared.socket pkishared-admin.socket
[ "$(show ActiveState)" = inactive ] || fail "pkishared started before any connection"
g pkishare status
[ "$(show ActiveState)" = active ] || fail "the first connection did not start pkishared"
[ "$(show Type)" = notify ] || fail "pkishared.service is not Type=notify"
STATUS=$(show StatusText)
echo "STATUS=$STATUS"
[[ $STATUS == "Serving on [::]:9443"*"no bundle held" ]] || fail "unexpected STATUS= '$STATUS'"
EXPOSURE=$(g systemd-analyze security pkishared.service --no-pager | sed -n 's/.*Overall exposure level for pkishared.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security: $EXPOSURE"
awk -v e="$EXPOSURE" 'BEGIN { exit !(e != "" && e <= 1.0) }' ||
	fail "systemd-analyze security rates pkishared '$EXPOSURE' (expected <= 1.0)"

say "operator's guide 4: upload"
upload() {
	g pkishare upload-certs "$@" | tee "$WORK/upload.out"
	# The key's own line (with --replicas, "Held by" comes after it).
	KEY=$(grep -xE '[0-9a-f]{64}' "$WORK/upload.out" | tail -1 || true)
	[[ $KEY =~ ^[0-9a-f]{64}$ ]] || fail "upload-certs printed no key"
	BUNDLE=$(sed -n 's/.*(bundle \([0-9a-f]*\),.*/\1/p' "$WORK/upload.out")
	[ -n "$BUNDLE" ] || fail "upload-certs printed no bundle id"
}
upload
g pkishare status | tee "$WORK/status.out"
grep -q "bundle: *$BUNDLE" "$WORK/status.out" || fail "status does not show bundle $BUNDLE"
for _ in $(seq 30); do
	[[ $(show StatusText) == *"holding bundle ${BUNDLE:0:8}"* ]] && break
	sleep 0.1
done
echo "STATUS=$(show StatusText)"
[[ $(show StatusText) == *"holding bundle ${BUNDLE:0:8}"* ]] || fail "STATUS= does not name the bundle"

say "operator's guide 5: join with pkishare (in the guest)"
g pkishare join --server 127.0.0.1:9443 --ca-cert-hash "$PIN" --certificate-key "$KEY" \
	--cert /root/cluster/clients/node-2.crt --key /root/cluster/clients/node-2.key \
	--pki-dir /root/node-2/pki
g diff -r -x pkishare-joined.json /etc/kubernetes/pki /root/node-2/pki || fail "the joined PKI differs from the first node's"

say "operator's guide 5: join with curl + pkishare decrypt (in the guest)"
g sh -c "curl -sS --fail-with-body --cacert /etc/kubernetes/pki/ca.crt \
	--cert /root/cluster/clients/node-3.crt --key /root/cluster/clients/node-3.key \
	https://127.0.0.1:9443/v1/bundle |
	pkishare decrypt --certificate-key $KEY --pki-dir /root/node-3/pki"
g diff -r -x pkishare-joined.json /etc/kubernetes/pki /root/node-3/pki || fail "the curl-joined PKI differs"

say "the same from the host, through the guest's network namespace"
R=$WORK/root/root/cluster
ip netns exec "$NETNS" curl -sS --fail-with-body --cacert "$R/pki/ca.crt" \
	--cert "$R/clients/node-3.crt" --key "$R/clients/node-3.key" \
	https://127.0.0.1:9443/v1/bundle |
	"$PKISHARE" decrypt --certificate-key "$KEY" --pki-dir "$WORK/host-node/pki"
diff -r -x pkishare-joined.json "$WORK/root/etc/kubernetes/pki" "$WORK/host-node/pki" || fail "the host's copy differs"
ip netns exec "$NETNS" "$PKISHARE" join --server 127.0.0.1:9443 --ca-cert-hash "$PIN" \
	--certificate-key "$KEY" --cert "$R/clients/node-2.crt" --key "$R/clients/node-2.key" \
	--pki-dir "$WORK/host-node2/pki"
# Four fetches by two client-ca identities: each identity is counted once (a repeat
# gets the same bytes and is logged, not counted; docs/design.md).
g pkishare status | grep -q 'fetches: *2' || fail "status does not count 2 fetches (two identities)"

say "journal: every fetch with MESSAGE_ID and the PKISHARE_* fields"
g journalctl -u pkishared -o json --no-pager MESSAGE_ID=5f1b0c6a2e8d4b7f9a3c1d2e4f5a6b71 >"$WORK/journal.json"
/usr/bin/python3 - "$WORK/journal.json" "$BUNDLE" <<'EOF'
import json, sys
entries = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
bundle = sys.argv[2]
fetches = [e for e in entries if e.get("PKISHARE_EVENT") == "fetch"]
assert len(fetches) == 4, f"expected 4 fetch entries, got {len(fetches)}"
for e in fetches:
    assert e["PKISHARE_BUNDLE_ID"] == bundle, e
    assert e["PKISHARE_RESULT"] == "ok", e
    assert e["PKISHARE_CLIENT_SOURCE"] == "client-ca", e
    assert e["PKISHARE_PEER"].startswith("127.0.0.1:"), e
    assert e["PRIORITY"] == "5", e
    assert e["_SYSTEMD_UNIT"] == "pkishared.service", e
assert sorted(e["PKISHARE_CLIENT"] for e in fetches) == ["node-2", "node-2", "node-3", "node-3"]
print(f"{len(fetches)} fetch entries, clients node-2 and node-3, bundle {bundle[:8]}")
EOF

# ---------------------------------------------------------------------------------------
# The held state outlives the process (memory-only files in systemd's fd store).
jstatus() { g pkishare status -o json | /usr/bin/python3 -c "import json,sys; j=json.load(sys.stdin); print($1)"; }
wait_new_pid() { # wait_new_pid OLD: until a different main PID is up and answering
	local new
	for _ in $(seq 80); do
		sleep 0.25
		new=$(show MainPID)
		if [ "$new" != "$1" ] && [ "$new" != 0 ] && [ "$(show ActiveState)" = active ] &&
			g pkishare status >/dev/null 2>&1; then
			# This test restarts more often than the start limit (5 a minute) allows;
			# reset-failed also zeroes NRestarts, so keep it first.
			show NRestarts >"$WORK/nrestarts"
			g systemctl reset-failed pkishared
			echo "$new"
			return 0
		fi
	done
	fail "pkishared did not come back after PID $1 ended"
}
store_fds() { # what PID 1 holds for pkishared: memory files in the guest's systemd
	g sh -c 'ls -l /proc/1/fd 2>/dev/null' | grep -cE 'secretmem|memfd:pkishared' || true
}
say "the state survives kill -9: same bundle, same expiry, the fetch count, tokens, key history"
upload --ttl 10m
g pkishare status | grep -q "state: *kept in systemd's store (memfd_secret)" ||
	fail "the state is not kept in systemd's store as memfd_secret: $(g pkishare status | grep state)"
g pkishare join --server 127.0.0.1:9443 --ca-cert-hash "$PIN" --certificate-key "$KEY" \
	--cert /root/cluster/clients/node-2.crt --key /root/cluster/clients/node-2.key \
	--pki-dir /root/node-2b/pki >/dev/null
TOKEN=$(g pkishare token create --uses 1 | grep -oE '[a-z0-9]{6}\.[a-z0-9]{16}' | head -1)
[ -n "$TOKEN" ] || fail "token create printed no token"
EXPIRES=$(jstatus 'j["bundle"]["expiresAt"]')
LEFT=$(jstatus 'j["bundle"]["expiresInSeconds"]')
echo "before: bundle ${BUNDLE:0:8}, expires $EXPIRES (in ${LEFT}s), 1 fetch, token ${TOKEN%%.*}; store holds $(store_fds) file(s)"
[ "$(store_fds)" = 3 ] || fail "systemd's store should hold key, state and bundle"
PID=$(show MainPID)
g kill -KILL "$PID"
PID=$(wait_new_pid "$PID")
g pkishare status | tee "$WORK/status-after-kill.out"
[ "$(jstatus 'j["bundle"]["id"]')" = "$BUNDLE" ] || fail "kill -9 lost the bundle"
[ "$(jstatus 'j["bundle"]["expiresAt"]')" = "$EXPIRES" ] || fail "kill -9 changed the expiry"
[ "$(jstatus 'j["bundle"]["expiresInSeconds"]')" -le "$LEFT" ] || fail "kill -9 extended the deadline"
[ "$(jstatus 'j["bundle"]["fetches"]')" = 1 ] || fail "kill -9 lost the fetch count"
[ "$(jstatus 'j["state"]["restores"]')" = 1 ] || fail "status does not count the restart survived"
grep -q "1 restart(s) survived" "$WORK/status-after-kill.out" || fail "status does not say the state survived a restart"
g journalctl -u pkishared --no-pager -n 20 | grep -q "resumed the state kept in systemd's store" ||
	fail "the journal does not say the state was resumed"
g pkishare join --server 127.0.0.1:9443 --ca-cert-hash "$PIN" --certificate-key "$KEY" \
	--cert /root/cluster/clients/node-2.crt --key /root/cluster/clients/node-2.key \
	--pki-dir /root/node-2c/pki >/dev/null || fail "a join after kill -9 failed"
g pkishare join --server 127.0.0.1:9443 --ca-cert-hash "$PIN" --certificate-key "$KEY" \
	--token "$TOKEN" --pki-dir /root/node-4/pki >/dev/null || fail "a token made before kill -9 does not enroll"
echo "after kill -9: same bundle and expiry, a second join and a token join succeeded"
if g pkishare upload-certs --certificate-key "$KEY" >/dev/null 2>"$WORK/reuse.err"; then
	fail "a reused certificate key was accepted after kill -9"
fi
echo "a reused key after kill -9: $(head -1 "$WORK/reuse.err")"

say "the state survives systemctl restart and the watchdog (a stopped daemon is killed and restarted)"
PID=$(show MainPID)
g systemctl restart pkishared
PID=$(wait_new_pid "$PID")
[ "$(jstatus 'j["bundle"]["id"]')" = "$BUNDLE" ] || fail "systemctl restart lost the bundle"
RESTARTS=$(show NRestarts)
g kill -STOP "$PID"
PID=$(wait_new_pid "$PID")
# The whole unit's journal (a restarted daemon logs a dozen lines of its own), waited
# for a little: journald may write systemd's line after the new daemon answers.
for _ in $(seq 20); do
	g journalctl -u pkishared --no-pager | grep -q "Watchdog timeout" && break
	sleep 0.5
done
g journalctl -u pkishared --no-pager | grep -q "Watchdog timeout" || fail "no watchdog timeout in the journal"
[ "$(cat "$WORK/nrestarts")" = $((RESTARTS + 1)) ] || fail "NRestarts did not grow by one"
[ "$(jstatus 'j["bundle"]["id"]')" = "$BUNDLE" ] || fail "the watchdog restart lost the bundle"
# node-2's join after kill -9 was a repeat (its first fetch survived in the restored fetch
# log, so it is not counted again); the token join counted: 2.
[ "$(jstatus 'j["bundle"]["fetches"]')" = 2 ] || fail "the fetch count did not survive"
[ "$(jstatus 'j["state"]["restores"]')" = 3 ] || fail "restores should be 3 (kill, restart, watchdog)"
echo "after kill -9, systemctl restart and the watchdog: bundle ${BUNDLE:0:8} held, 3 fetches, 3 restarts survived"

say "a corrupted store: the daemon starts empty, says why, serves nothing it cannot trust"
# memfd_secret files cannot be reopened through /proc/PID/fd; pidfd_getfd(2) takes a
# copy of the daemon's descriptor (root, ptrace rights), and the test writes through it.
HPID=$(pgrep --ns "$GPID" --nslist pid -x pkishared)
/usr/bin/python3 - "$HPID" <<'PY'
import ctypes, mmap, os, sys
pid = int(sys.argv[1])
libc = ctypes.CDLL(None, use_errno=True)
pidfd = os.pidfd_open(pid)
files = []
for name in os.listdir(f"/proc/{pid}/fd"):
    link = os.readlink(f"/proc/{pid}/fd/{name}")
    if "secretmem" in link or "memfd:pkishared" in link:
        fd = libc.syscall(438, pidfd, int(name), 0)  # pidfd_getfd
        if fd < 0:
            sys.exit(f"pidfd_getfd: errno {ctypes.get_errno()}")
        files.append((os.fstat(fd).st_size, fd))
size, fd = max(files)  # the state: two slots, the largest file
m = mmap.mmap(fd, size)
# Both slots start with their magic; flip the first byte of each one's body (just past
# the 64-byte header), which the MAC covers.
slots = [i for i in range(size - 8) if m[i:i + 8] == b"PKSHSTAT"]
for off in slots:
    m[off + 64] ^= 0x5A
m.close()
print(f"flipped a byte in each of {len(slots)} slots of the {size}-byte state file of pkishared {pid}")
assert len(slots) == 2, slots
PY
PID=$(show MainPID)
g kill -KILL "$PID"
PID=$(wait_new_pid "$PID")
echo "STATUS=$(show StatusText)"
[[ $(show StatusText) == *"started empty: neither copy of the state passes its integrity check"* ]] ||
	fail "STATUS= does not say the state was refused"
g pkishare status | tee "$WORK/status-refused.out"
grep -q "bundle: *none" "$WORK/status-refused.out" || fail "a corrupted state was served"
grep -q "refused: *the previous state" "$WORK/status-refused.out" || fail "status does not say the state was refused"
g journalctl -u pkishared --no-pager -n 20 | grep -q "starting empty: the state kept in systemd's store is not usable" ||
	fail "the journal does not say why the daemon started empty"
[ "$(store_fds)" = 2 ] || fail "the refused files were not replaced by a fresh key and state"

say "expiry wipes the bundle from the store; a restart then holds nothing"
upload --ttl 5s
SEALED=$(ip netns exec "$NETNS" curl -sS --fail-with-body --cacert "$R/pki/ca.crt" \
	--cert "$R/clients/node-3.crt" --key "$R/clients/node-3.key" https://127.0.0.1:9443/v1/bundle)
# A piece of ciphertext to look for: 48 characters from the middle of the longest field.
CHUNK=$(printf '%s' "$SEALED" | /usr/bin/python3 -c '
import json, sys
best = ""
def walk(v):
    global best
    if isinstance(v, dict): [walk(x) for x in v.values()]
    elif isinstance(v, list): [walk(x) for x in v]
    elif isinstance(v, str) and len(v) > len(best): best = v
walk(json.load(sys.stdin))
print(best[len(best) // 2 - 24:len(best) // 2 + 24])')
[ ${#CHUNK} = 48 ] || fail "no ciphertext found in the fetched bundle"
[ "$(store_fds)" = 3 ] || fail "the new bundle is not in systemd's store"
sleep 6
g pkishare status | grep -q "bundle: *none" || fail "the bundle outlived its deadline"
[ "$(store_fds)" = 2 ] || fail "the expired bundle's file is still in systemd's store"
HPID=$(pgrep --ns "$GPID" --nslist pid -x pkishared)
/usr/bin/python3 - "$HPID" "$CHUNK" <<'PY' || fail "the sealed bundle is still in pkishared's memory after expiry"
import re, sys
pid, chunk = sys.argv[1], sys.argv[2].encode()
found = 0
with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        if "r" not in m.group(3):
            continue
        lo, hi = int(m.group(1), 16), int(m.group(2), 16)
        try:
            mem.seek(lo)
            if chunk in mem.read(hi - lo):
                found += 1
                print("found in", line.strip())
        except OSError:
            pass  # unreadable (guard pages, secretmem)
sys.exit(1 if found else 0)
PY
PID=$(show MainPID)
g systemctl restart pkishared
PID=$(wait_new_pid "$PID")
g pkishare status | grep -q "bundle: *none" || fail "a restart after expiry brought a bundle back"
echo "expired: wiped and out of the store; after a restart nothing is held"
if grep -rlsF "$CHUNK" "$WORK/root" >"$WORK/found-disk"; then
	fail "the sealed bundle is on the guest's disk: $(cat "$WORK/found-disk")"
fi
if g grep -rlsF "$CHUNK" /run /tmp /var/tmp /dev/shm >"$WORK/found-run"; then
	fail "the sealed bundle is in the guest's /run or /tmp: $(cat "$WORK/found-run")"
fi
echo "no byte sequence of the sealed bundle on the guest's disk, in /run, /tmp, nor in pkishared's memory"

say "a unit whose fd store is too small says the state is not kept (systemd 252: asked over the bus)"
[ "$(jstatus 'j["state"]["kept"], j["state"]["note"]')" = "True " ] ||
	fail "with the shipped unit the state should be kept without a note: $(jstatus 'j["state"]')"
g mkdir -p /run/systemd/system/pkishared.service.d
g sh -c 'printf "[Service]\nFileDescriptorStoreMax=2\n" >/run/systemd/system/pkishared.service.d/small.conf'
g systemctl daemon-reload
PID=$(show MainPID)
g systemctl restart pkishared
PID=$(wait_new_pid "$PID")
[ "$(jstatus 'j["state"]["kept"]')" = False ] || fail "FileDescriptorStoreMax=2: status says kept"
jstatus 'j["state"]["note"]' | grep -qF "FileDescriptorStoreMax=2) and the held state needs 4" ||
	fail "FileDescriptorStoreMax=2: status does not say why: $(jstatus 'j["state"]')"
show StatusText | grep -q "NOT kept across restarts" || fail "FileDescriptorStoreMax=2: STATUS= does not say so: $(show StatusText)"
echo "FileDescriptorStoreMax=2: $(jstatus 'j["state"]["note"]' | cut -c1-100)..."
g rm /run/systemd/system/pkishared.service.d/small.conf
g systemctl daemon-reload
PID=$(show MainPID)
g systemctl restart pkishared
PID=$(wait_new_pid "$PID")
[ "$(jstatus 'j["state"]["kept"]')" = True ] || fail "back to the shipped unit: not kept"

say "reload keeps the bundle; a bad reload fails systemctl reload and says why"
upload >/dev/null
g systemctl reload pkishared
g pkishare status | grep -q "bundle: *$BUNDLE" || fail "reload lost the bundle"
g cp /etc/pkishare/tls.crt /root/tls.crt.good
echo "not a certificate" | g tee /etc/pkishare/tls.crt >/dev/null
if g systemctl reload pkishared 2>"$WORK/reload.err"; then
	fail "systemctl reload succeeded with a garbage tls.crt"
fi
echo "STATUS=$(show StatusText)"
[[ $(show StatusText) == "Reload refused: "*"tls.crt"* ]] || fail "STATUS= does not say why the reload was refused"
[ "$(show ActiveState)" = active ] || fail "a refused reload stopped the daemon"
g journalctl -u pkishared --no-pager -n 20 | grep -q "Reload failed" || fail "systemd did not log a failed reload"
g pkishare status | grep -q "bundle: *$BUNDLE" || fail "a refused reload lost the bundle"
g cp /root/tls.crt.good /etc/pkishare/tls.crt
g systemctl reload pkishared

say "a broken configuration is not restarted forever: the start limit"
g cp /etc/pkishare/pkishared.conf /root/pkishared.conf.good
g sed -i 's|^tls-key = .*|tls-key = /etc/pkishare/missing.key|' /etc/pkishare/pkishared.conf
g systemctl restart pkishared 2>/dev/null && fail "pkishared started with a missing tls-key"
[ "$(show ExecMainStatus)" = 78 ] || fail "a missing TLS key exited $(show ExecMainStatus), not 78"
g journalctl -u pkishared --no-pager -n 20 | grep -q "missing.key" || fail "the log does not name the missing key"
# A connection triggers starts until the limit (5 in 60 s) stops them; the socket then
# fails too, so clients are turned away at once instead of hanging.
START=$(date +%s%N)
for i in $(seq 8); do
	if timeout 20 nsenter -t "$GPID" -a -- pkishare status 2>"$WORK/limit.err"; then
		fail "status succeeded with a broken configuration"
	fi
	[ "$(g systemctl show -p Result --value pkishared-admin.socket)" = service-start-limit-hit ] && break
done
MS=$((($(date +%s%N) - START) / 1000000))
[ "$(g systemctl show -p Result --value pkishared-admin.socket)" = service-start-limit-hit ] ||
	fail "the start limit was not hit (admin socket: $(g systemctl show -p Result --value pkishared-admin.socket))"
g journalctl -u pkishared --no-pager -n 30 | grep -q "Start request repeated too quickly" ||
	fail "systemd did not log the start limit"
echo "start limit hit after $i connection(s) in $MS ms; the client was told: $(cat "$WORK/limit.err")"
ip netns exec "$NETNS" curl -sS -o /dev/null --max-time 20 -k https://127.0.0.1:9443/v1/bundle 2>"$WORK/limit-https.err" &&
	fail "the HTTPS port answered with a broken configuration"
echo "an HTTPS client: $(cat "$WORK/limit-https.err")"
g cp /root/pkishared.conf.good /etc/pkishare/pkishared.conf
g systemctl reset-failed pkishared.service pkishared.socket pkishared-admin.socket
g systemctl start pkishared.socket pkishared-admin.socket
g pkishare status >/dev/null || fail "pkishared does not come back after the configuration is fixed"

say "the kubeadm way: token-only, no client CA (the packaged file with client-ca commented out)"
g sed -i 's|^client-ca *=|# client-ca =|' /etc/pkishare/pkishared.conf
PID=$(show MainPID)
g systemctl restart pkishared
PID=$(wait_new_pid "$PID")
g pkishare status | tee "$WORK/status-token-only.out" | grep -q "^joiners: *token-only" ||
	fail "status does not say token-only: $(grep joiners "$WORK/status-token-only.out")"
[[ $(show StatusText) == *"(token-only)"* ]] || fail "STATUS= does not say token-only: $(show StatusText)"
upload
g sh -c "PKISHARE_CERTIFICATE_KEY=$KEY pkishare print-join-command --server 127.0.0.1:9443" \
	>"$WORK/join-token-only.cmd" || fail "print-join-command failed in token-only mode"
grep -q '^PKISHARE_TOKEN=[a-z0-9]\{6\}\.[a-z0-9]\{16\} PKISHARE_CERTIFICATE_KEY=' "$WORK/join-token-only.cmd" ||
	fail "print-join-command did not print the environment form: $(cut -c1-60 "$WORK/join-token-only.cmd")"
g sh -c "$(cat "$WORK/join-token-only.cmd") --pki-dir /root/node-t/pki" >/dev/null ||
	fail "the printed join command failed in token-only mode"
g diff -r -x pkishare-joined.json /etc/kubernetes/pki /root/node-t/pki || fail "the token-only join differs from the first node's PKI"
if g pkishare join --server 127.0.0.1:9443 --ca-cert-hash "$PIN" --certificate-key "$KEY" \
	--cert /root/cluster/clients/node-2.crt --key /root/cluster/clients/node-2.key \
	--pki-dir /root/node-t2/pki >/dev/null 2>&1; then
	fail "a client-CA certificate fetched in token-only mode"
fi
echo "token-only: the printed command joined; a client-CA certificate was refused"
g sed -i 's|^# client-ca =|client-ca =|' /etc/pkishare/pkishared.conf
PID=$(show MainPID)
g systemctl restart pkishared
PID=$(wait_new_pid "$PID")

# ---------------------------------------------------------------------------------------
# Coordination (README, "Every control-plane node serves: coordination"): pkishare-coordd
# from its package under the guest's systemd, against a real etcd. etcd is not installed
# in the guest: it runs on the host in the guest's network namespace (127.0.0.1 there),
# with TLS and client-certificate auth, its member certificate signed by the guest's etcd CA.
say "coordination: etcd-client-cert, etcd in the guest's network namespace, coordd.conf"
C0=$(date +%s)
cshow() { g systemctl show -p "$1" --value pkishare-coordd.service; }
g pkishare pki etcd-client-cert --pki-dir /etc/kubernetes/pki --out /etc/pkishare/etcd
E=$WORK/etcd
mkdir -p "$E"
cp "$WORK/root/etc/kubernetes/pki/etcd/ca.crt" "$E/ca.crt"
# etcd 3.4's JSON gateway dials the member itself at 127.0.0.1 with the member's
# certificate: serverAuth and clientAuth, IP:127.0.0.1.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=cp-1 \
	-keyout "$E/member.key" -out "$E/member.csr" 2>/dev/null
printf '%s\n' "subjectAltName = IP:127.0.0.1, DNS:localhost" \
	"extendedKeyUsage = serverAuth, clientAuth" \
	"keyUsage = critical, digitalSignature, keyEncipherment" >"$E/member.ext"
openssl x509 -req -in "$E/member.csr" -CA "$E/ca.crt" -CAkey "$WORK/root/etc/kubernetes/pki/etcd/ca.key" \
	-set_serial "0x$(openssl rand -hex 12)" -days 1 -extfile "$E/member.ext" -out "$E/member.crt" 2>/dev/null ||
	fail "could not sign etcd's member certificate with the guest's etcd CA"
start_etcd() {
	ip netns exec "$NETNS" etcd --name cp-1 --data-dir "$E/data" \
		--listen-client-urls https://127.0.0.1:2379 --advertise-client-urls https://127.0.0.1:2379 \
		--listen-peer-urls https://127.0.0.1:2380 --initial-advertise-peer-urls https://127.0.0.1:2380 \
		--initial-cluster cp-1=https://127.0.0.1:2380 --initial-cluster-state new \
		--client-cert-auth --trusted-ca-file "$E/ca.crt" --cert-file "$E/member.crt" --key-file "$E/member.key" \
		--peer-client-cert-auth --peer-trusted-ca-file "$E/ca.crt" \
		--peer-cert-file "$E/member.crt" --peer-key-file "$E/member.key" \
		--logger zap --log-outputs "$E/etcd.log" </dev/null >/dev/null 2>&1 &
	ETCD_PID=$!
}
# etcdctl on the host, in the guest's network namespace, with coordd's credential.
EC=$WORK/root/etc/pkishare/etcd
ectl() {
	ip netns exec "$NETNS" env ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 \
		--cacert "$EC/ca.crt" --cert "$EC/client.crt" --key "$EC/client.key" \
		--dial-timeout=2s --command-timeout=4s "$@"
}
wait_etcd() {
	for _ in $(seq 50); do
		ectl put /pkishare-probe x >/dev/null 2>&1 && return 0
		kill -0 "$ETCD_PID" 2>/dev/null || break
		sleep 0.2
	done
	tail -20 "$E/etcd.log"
	fail "etcd did not take a write (its log above)"
}
# coordd answers one thing at a time; pkishared's view of etcd follows within seconds.
wait_status() { # wait_status PATTERN SECONDS
	for _ in $(seq $(($2 * 4))); do
		g pkishare status >"$WORK/status-coord.out" 2>&1 && grep -q "$1" "$WORK/status-coord.out" && return 0
		sleep 0.25
	done
	cat "$WORK/status-coord.out"
	return 1
}
start_etcd
wait_etcd
echo "etcd $(etcd --version | sed -n 's/^etcd Version: //p') (PID $ETCD_PID on the host) takes writes" \
	"at https://127.0.0.1:2379 in the guest's network namespace"
g sed -i 's|^#* *etcd-endpoints *=.*|etcd-endpoints = https://127.0.0.1:2379|' /etc/pkishare/coordd.conf
g grep -qx 'etcd-endpoints = https://127.0.0.1:2379' /etc/pkishare/coordd.conf || fail "could not set etcd-endpoints"
g cp /etc/pkishare/pkishared.conf /root/pkishared.conf.no-coord
g sh -c 'printf "coord-socket = /run/pkishare/coord.sock\nnode-name = cp-1\npeer-address = 127.0.0.1:9443\n" >>/etc/pkishare/pkishared.conf'

say "coordination: enable pkishare-coordd.socket, restart pkishared; the first call starts coordd"
g systemctl enable --now pkishare-coordd.socket
[ "$(g systemctl is-enabled pkishare-coordd.socket)" = enabled ] || fail "pkishare-coordd.socket is not enabled"
g sh -c 'stat -c "%a %U %F" /run/pkishare/coord.sock' | tee "$WORK/coord-sock.stat"
[ "$(cat "$WORK/coord-sock.stat")" = "600 root socket" ] || fail "coord.sock is not a 0600 root socket"
[ "$(cshow ActiveState)" = inactive ] || fail "pkishare-coordd started before any call"
PID=$(show MainPID)
g systemctl restart pkishared
PID=$(wait_new_pid "$PID")
wait_status "^etcd: *answering" 10 || fail "status does not say etcd is answering"
grep -E "^(cluster|etcd):" "$WORK/status-coord.out"
grep -q "^cluster: *node cp-1, peers reach it at 127.0.0.1:9443" "$WORK/status-coord.out" ||
	fail "status does not name node cp-1 at 127.0.0.1:9443"
[ "$(cshow ActiveState)" = active ] || fail "pkishared's first call did not start pkishare-coordd"
[ "$(cshow Type)" = notify ] || fail "pkishare-coordd.service is not Type=notify"
[ "$(cshow WatchdogUSec)" = 10s ] || fail "pkishare-coordd.service's watchdog is '$(cshow WatchdogUSec)', not 10s"
CPID=$(cshow MainPID)
CUID=$(cshow UID)
echo "pkishare-coordd: PID $CPID, uid $CUID (DynamicUser), STATUS=$(cshow StatusText)"
[ -n "$CUID" ] && [ "$CUID" != 0 ] && [ "$CUID" != '[not set]' ] || fail "pkishare-coordd runs as uid '$CUID', not a dynamic user"
[ "$(g ps -o uid= -p "$CPID" | tr -d ' ')" = "$CUID" ] || fail "pkishare-coordd's process is not uid $CUID"
[ "$(cshow DynamicUser)" = yes ] || fail "pkishare-coordd.service has no DynamicUser"
# The credential, as systemd passes it: readable by the dynamic user alone.
CRED=$(g stat -c '%u %a' /run/credentials/pkishare-coordd.service/etcd-key)
echo "LoadCredential=: etcd-key in /run/credentials/pkishare-coordd.service (owner uid, mode): $CRED"
[ "$CRED" = "$CUID 400" ] || fail "the etcd-key credential is '$CRED', not uid $CUID mode 400"
# And pkishared still reached the socket from its own sandbox (nothing loosened for it).
SANDBOX=$(g systemctl show -p PrivateNetwork -p PrivateUsers -p ProtectSystem -p RestrictAddressFamilies pkishared | sort | tr '\n' ' ')
[ "$SANDBOX" = "PrivateNetwork=yes PrivateUsers=yes ProtectSystem=strict RestrictAddressFamilies=AF_UNIX " ] ||
	fail "pkishared's sandbox is '$SANDBOX'"
g journalctl -u pkishare-coordd --no-pager -n 20 | grep -q "serving /run/pkishare/coord.sock" ||
	fail "pkishare-coordd did not log that it serves its socket"
EXPOSURE=$(g systemd-analyze security pkishare-coordd.service --no-pager | sed -n 's/.*Overall exposure level for pkishare-coordd.service: \([0-9.]*\).*/\1/p')
echo "systemd-analyze security pkishare-coordd.service: $EXPOSURE"
# 1.2 under systemd 252: it talks to etcd (no PrivateNetwork=, AF_INET/AF_INET6, no
# IPAddressDeny=), and has no PrivateUsers=, PrivateMounts= or RootDirectory=.
awk -v e="$EXPOSURE" 'BEGIN { exit !(e != "" && e <= 1.5) }' ||
	fail "systemd-analyze security rates pkishare-coordd '$EXPOSURE' (expected <= 1.5)"

say "coordination: upload --replicas 1, a join, the fetch counted in etcd"
upload --replicas 1
grep -q "Held by 1 control-plane node(s): cp-1 (127.0.0.1:9443)" "$WORK/upload.out" ||
	fail "upload-certs --replicas 1 does not name cp-1"
g pkishare join --server 127.0.0.1:9443 --ca-cert-hash "$PIN" --certificate-key "$KEY" \
	--cert /root/cluster/clients/node-2.crt --key /root/cluster/clients/node-2.key \
	--pki-dir /root/node-c2/pki >/dev/null || fail "a join with coordination on failed"
g diff -r -x pkishare-joined.json /etc/kubernetes/pki /root/node-c2/pki || fail "the coordinated join differs from the first node's PKI"
# The records, ids replaced by their names in proto/coord.md.
ectl get --prefix /pkishare/ --keys-only | sed '/^$/d' |
	sed "s|$BUNDLE|ID|; s|/keyids/[0-9a-f]*|/keyids/KEYID|; s|/slots/[0-9a-f]*|/slots/CLAIMID|" |
	sed "s|/certs/[0-9a-f]*|/certs/CERTID|" | sort | uniq -c | sed 's/^ */   /'
[ "$(ectl get "/pkishare/bundles/$BUNDLE/count" --print-value-only)" = 1 ] ||
	fail "etcd does not count the fetch (bundles/$BUNDLE/count: '$(ectl get "/pkishare/bundles/$BUNDLE/count" --print-value-only)')"
ectl get /pkishare/current --print-value-only | grep -q "\"$BUNDLE\"" || fail "etcd's current is not bundle $BUNDLE"
echo "etcd: bundles/${BUNDLE:0:8}.../count = 1, current names it"

say "coordination: systemctl restart pkishare-coordd is survived"
g systemctl restart pkishare-coordd
[ "$(cshow MainPID)" != "$CPID" ] && [ "$(cshow ActiveState)" = active ] || fail "pkishare-coordd did not restart"
CPID=$(cshow MainPID)
wait_status "^etcd: *answering" 10 || fail "status does not say etcd is answering after coordd's restart"
# Its last WATCHDOG=1 as systemd saw it; coordd sends one every 5 s (WatchdogSec=10s).
WD1=$(cshow WatchdogTimestampMonotonic)
WDT=$(date +%s)
upload --replicas 1
grep -q "Held by 1 control-plane node(s): cp-1" "$WORK/upload.out" || fail "an upload after coordd's restart is not held"
echo "after systemctl restart pkishare-coordd (PID $CPID): status answers, a new upload held by cp-1"

say "coordination: etcd stopped: a fetch answers 503 coordination-unavailable; started again: served"
kill "$ETCD_PID"
wait "$ETCD_PID" 2>/dev/null || true
ETCD_PID=
fetch3() { # fetch3 OUT: node-3's fetch in the guest; prints the HTTP status
	g curl -sS -o "$1" -w '%{http_code}' --max-time 20 --cacert /etc/kubernetes/pki/ca.crt \
		--cert /root/cluster/clients/node-3.crt --key /root/cluster/clients/node-3.key \
		https://127.0.0.1:9443/v1/bundle || true
}
T1=$(date +%s%N)
CODE=$(fetch3 /root/fetch-no-etcd.out)
MS=$((($(date +%s%N) - T1) / 1000000))
echo "without etcd: HTTP $CODE in $MS ms: $(g head -c 200 /root/fetch-no-etcd.out)"
[ "$CODE" = 503 ] || fail "a fetch without etcd answered $CODE, not 503"
g grep -q coordination-unavailable /root/fetch-no-etcd.out || fail "the 503 is not coordination-unavailable"
wait_status "^etcd: *NOT ANSWERING" 10 || fail "status does not say etcd is not answering"
grep "^etcd:" "$WORK/status-coord.out"
start_etcd
wait_etcd
wait_status "^etcd: *answering" 15 || fail "status does not say etcd answers again"
CODE=$(fetch3 /root/fetch-etcd-back.out)
[ "$CODE" = 200 ] || fail "a fetch after etcd came back answered $CODE: $(g head -c 200 /root/fetch-etcd-back.out)"
g sh -c "pkishare decrypt --certificate-key $KEY --pki-dir /root/node-c3/pki </root/fetch-etcd-back.out" >/dev/null ||
	fail "the fetch after etcd came back does not decrypt"
[ "$(ectl get "/pkishare/bundles/$BUNDLE/count" --print-value-only)" = 1 ] || fail "etcd does not count the fetch after it came back"
echo "etcd back: status answers, node-3's fetch served and counted once in etcd"
LEFT=$((WDT + 6 - $(date +%s)))
[ "$LEFT" -le 0 ] || sleep "$LEFT"
WD2=$(cshow WatchdogTimestampMonotonic)
[ "$WD2" -gt "$WD1" ] && [ "$(cshow MainPID)" = "$CPID" ] && [ "$(cshow NRestarts)" = 0 ] ||
	fail "pkishare-coordd's watchdog: timestamps $WD1 then $WD2, PID $(cshow MainPID) (was $CPID), NRestarts $(cshow NRestarts)"
echo "coordd kept its watchdog fed meanwhile (WATCHDOG=1 at $WD1 then $WD2 us); NRestarts 0"

say "coordination: a hung coordd is killed by its watchdog and restarted by systemd"
g kill -STOP "$CPID"
for _ in $(seq 60); do # WatchdogSec=10s, then RestartSec=2s
	sleep 0.5
	NEW=$(cshow MainPID)
	[ "$NEW" != "$CPID" ] && [ "$NEW" != 0 ] && [ "$(cshow ActiveState)" = active ] && break
done
[ "$NEW" != "$CPID" ] && [ "$NEW" != 0 ] || fail "pkishare-coordd (PID $CPID, SIGSTOPped) was not restarted"
# systemd's line may reach the journal a little after the restart: up to 15 s.
for _ in $(seq 60); do
	g journalctl -u pkishare-coordd --no-pager | grep -qi "watchdog timeout" && break
	sleep 0.25
done
g journalctl -u pkishare-coordd --no-pager | grep -qi "watchdog timeout" || {
	g journalctl -u pkishare-coordd --no-pager | tail -15
	fail "no watchdog timeout for pkishare-coordd in the journal (its last lines above)"
}
[ "$(cshow NRestarts)" = 1 ] || fail "pkishare-coordd's NRestarts is $(cshow NRestarts), not 1"
CPID=$NEW
wait_status "^etcd: *answering" 10 || fail "status does not say etcd is answering after coordd's watchdog restart"
echo "SIGSTOPped coordd: watchdog timeout, restarted as PID $CPID, status answers again"

say "coordination off again (the steps below use one node without it)"
g cp /root/pkishared.conf.no-coord /etc/pkishare/pkishared.conf
PID=$(show MainPID)
g systemctl restart pkishared
PID=$(wait_new_pid "$PID")
g pkishare status | grep -q "^cluster:" && fail "coordination is still on"
g systemctl disable --now pkishare-coordd.socket
g systemctl stop pkishare-coordd.service
kill "$ETCD_PID"
wait "$ETCD_PID" 2>/dev/null || true
ETCD_PID=
echo "coordination section: $(($(date +%s) - C0)) s"

say "a clean stop wipes the kept state"
upload
[ "$(store_fds)" = 3 ] || fail "the bundle is not in systemd's store"
g systemctl stop pkishared
[ "$(show Result)" = success ] || fail "stop: Result=$(show Result)"
[ "$(show ExecMainStatus)" = 0 ] || fail "stop: exit status $(show ExecMainStatus)"
g journalctl -u pkishared --no-pager -n 10 | grep -q "wiping secrets and stopping" || fail "no stop line in the journal"
g journalctl -u pkishared --no-pager -n 10 | grep -q "systemctl stop: the state kept in systemd's store is wiped" ||
	fail "stop did not wipe the kept state"
[ "$(store_fds)" = 0 ] || fail "systemd's store still holds pkishared's files after stop"
g pkishare status >"$WORK/status-after-stop.out"
grep -q "bundle: *none" "$WORK/status-after-stop.out" || fail "a stop kept the bundle"
grep -q "0 restart(s) survived" "$WORK/status-after-stop.out" || fail "a stop kept the state"
g systemctl stop pkishared

say "purge removes what the packages installed"
g systemctl disable --now pkishared.socket pkishared-admin.socket
g systemctl disable --now pkishare-coordd.socket
g apt-get purge -y -qq pkishare-coordd pkishared pkishare >"$WORK/purge.log" 2>&1 || {
	cat "$WORK/purge.log"
	fail "apt-get purge failed"
}
grep -i 'warning' "$WORK/purge.log" || true
for f in /usr/sbin/pkishared /usr/bin/pkishare /lib/systemd/system/pkishared.service \
	/lib/systemd/system/pkishared.socket /lib/systemd/system/pkishared-admin.socket \
	/etc/pkishare/pkishared.conf /usr/share/man/man8/pkishared.8.gz \
	/usr/sbin/pkishare-coordd /lib/systemd/system/pkishare-coordd.service \
	/lib/systemd/system/pkishare-coordd.socket /etc/pkishare/coordd.conf \
	/usr/share/man/man8/pkishare-coordd.8.gz; do
	! g test -e "$f" || fail "$f is still there after purge"
done
! g sh -c 'ls /etc/systemd/system/*/pkishare* 2>/dev/null | grep -q .' || fail "unit symlinks left after purge"
[ -z "$(g systemctl list-unit-files 'pkishare*' --no-legend)" ] || fail "units still known after purge"
for p in pkishare-coordd pkishared pkishare; do
	st=$(g dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
	case "$st" in "" | not-installed) ;; *) fail "$p is '$st' after purge" ;; esac
done
echo "left in /etc/pkishare (the operator's own files): $(g ls /etc/pkishare | tr '\n' ' ')"

say "done"
echo "system: the operator's guide passed under systemd $(g systemctl --version | head -1 | cut -d' ' -f2) in $(($(date +%s) - T0)) s"
