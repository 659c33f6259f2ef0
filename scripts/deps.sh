# deps.sh - install the Debian packages pkishare needs, only those missing.
# Sourced by scripts/demo.sh and scripts/test.sh; usage: install_deps PACKAGE...
install_deps() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "==> installing: ${missing[*]}"
	if [ "$(id -u)" != 0 ]; then
		echo "pkishare: installing packages needs root; run as root or install: ${missing[*]}" >&2
		return 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

BUILD_DEPS=(meson ninja-build pkg-config gcc libc6-dev libmicrohttpd-dev libgnutls28-dev
	libssl-dev libsodium-dev libjansson-dev libsystemd-dev libyaml-dev)
RUN_DEPS=(curl openssl ca-certificates python3 python3-cryptography util-linux)
# libcurl's OpenSSL flavour: coordd (-Dcoordination=enabled), which the tests build.
TEST_DEPS=(libcurl4-openssl-dev clang clang-format clang-tidy cppcheck libclang-rt-14-dev libfaketime golang-go valgrind systemd etcd-server etcd-client iproute2 strace haproxy
	debhelper dpkg-dev lintian debootstrap systemd-container python3-seccomp)
