#!/bin/bash
# scripts/test.sh - install what is missing, build, and run every test suite twice:
# once in a normal build and once under AddressSanitizer + UndefinedBehaviorSanitizer.
# Prints "N passed, M failed" as its last line; exits non-zero if anything failed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/deps.sh
install_deps "${BUILD_DEPS[@]}" "${RUN_DEPS[@]}" "${TEST_DEPS[@]}"

run_suite() { # run_suite BUILDDIR [meson setup args]   (env MESON_TEST_ARGS: for meson test)
	local dir=$1; shift
	if [ -d "$dir" ]; then
		meson setup --reconfigure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
	# shellcheck disable=SC2086 # words on purpose
	meson test -C "$dir" --print-errorlogs --num-processes 2 ${MESON_TEST_ARGS:-} || true
}

echo "==> formatting (clang-format, .clang-format)"
FORMAT=0
clang-format --dry-run -Werror lib/*.[ch] daemon/*.[ch] daemon/*/*.[ch] client/*.[ch] coordd/*.[ch] tests/unit/*.[ch] tests/fuzz/*.[ch] || FORMAT=1

echo "==> build and test (gcc, -Werror)"
# e2e.multinode (three nodes, ~100 s alone) and e2e.etcd-client (coordd against a real
# etcd, ~45 s) run in the sanitizer build below only.
MESON_TEST_ARGS="--no-suite e2e-multinode --no-suite e2e-coordd" run_suite build-test -Dcoordination=enabled
echo "==> static analysis (cppcheck, clang-tidy)"
LINT=0
bash scripts/lint.sh build-test || LINT=1

echo "==> every meson build type builds with -Werror (gcc and clang)"
# A warning that only -O3, -Os or -O0 shows (-Wformat-truncation, say) breaks a
# packager's build; test builds are debugoptimized (gcc) and debug (clang).
BUILDTYPES=0
for cc in gcc clang; do
	for bt in plain debug debugoptimized release minsize; do
		dir=build-types/$cc-$bt
		if [ -d "$dir" ]; then
			CC=$cc meson setup --reconfigure "$dir" -Dbuildtype="$bt" -Dcoordination=enabled >/dev/null
		else
			CC=$cc meson setup "$dir" -Dbuildtype="$bt" -Dcoordination=enabled >/dev/null
		fi
		if ! ninja -C "$dir" >"$dir.log" 2>&1; then
			echo "FAIL: $cc -Dbuildtype=$bt:"; grep -E "error" "$dir.log" | head -5
			BUILDTYPES=1
		fi
	done
done

echo "==> valgrind memcheck (unit tests, fuzz corpora, a daemon + client session)"
VALGRIND=0
bash scripts/valgrind.sh build-test || VALGRIND=1

echo "==> build and test under ASan+UBSan (clang)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:strict_string_checks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The sanitizer build also builds the libFuzzer targets and runs each for a short while.
CC=clang run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug \
	-Dcoordination=enabled \
	-Dfuzz=true -Dfuzz_seconds="${FUZZ_SECONDS:-15}"

printf 'scripts/valgrind.sh %s\nclang-format %s\nscripts/lint.sh %s\nbuild-types %s\n' "$VALGRIND" \
	"$FORMAT" "$LINT" "$BUILDTYPES" >build-test/ci-steps
exec /usr/bin/python3 scripts/summary.py
