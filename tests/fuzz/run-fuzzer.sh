#!/bin/sh
# run-fuzzer.sh FUZZER WORK-CORPUS ARGS... - run a libFuzzer binary with a scratch corpus
# directory (created here) first, so that new inputs never land in the source tree.
set -e
fuzzer=$1 work=$2
shift 2
mkdir -p "$work"
exec "$fuzzer" "$work" "$@"
