#!/usr/bin/python3
"""summary.py: the closing "N passed, M failed" line of scripts/test.sh and .ci/run.

Counts every test in meson's test logs (build-test and build-asan) and the extra steps
that scripts/test.sh records in build-test/ci-steps (one "name status" per line). Exits 1
if anything failed or nothing ran."""
import json
import os
import sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
passed = failed = skipped = 0
reasons = []
if os.path.exists("build-test/ci-steps"):
    for line in open("build-test/ci-steps"):
        name, status = line.split()
        if status == "0":
            passed += 1
        else:
            failed += 1
            print("FAIL: " + name)
for path in ("build-test/meson-logs/testlog.json", "build-asan/meson-logs/testlog.json"):
    if not os.path.exists(path):
        failed += 1
        print("FAIL: no test log " + path)
        continue
    for line in open(path):
        t = json.loads(line)
        r = t["result"]
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
            # A skipped test says why on a line "<suite>: skipped (reason)".
            why = [l for l in t.get("stdout", "").splitlines() if ": skipped (" in l]
            reasons.append(t["name"] + (" - " + why[-1].split(": skipped ", 1)[1] if why else ""))
        else:
            failed += 1
if skipped:
    print(f"{skipped} skipped: {'; '.join(reasons)}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed or not passed else 0)
