#!/bin/bash
# scripts/lint.sh - static analysis: cppcheck and clang-tidy (bugprone-*, cert-*; see
# .clang-tidy). Needs a configured build directory for compile_commands.json.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-test}
cppcheck --quiet --error-exitcode=1 --enable=warning,portability --inline-suppr -D_GNU_SOURCE \
	-Ilib -Idaemon/core -Idaemon/view -Idaemon/serve -Icoordd -I"$B" \
	--suppressions-list=.cppcheck-suppressions lib daemon client coordd
out=$(clang-tidy -p "$B" lib/*.c daemon/*.c daemon/*/*.c client/*.c coordd/*.c 2>/dev/null | grep -E "warning:|error:" || true)
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "lint: cppcheck and clang-tidy clean"
