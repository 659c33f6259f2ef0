#!/usr/bin/python3
"""memscan.py PID BUNDLE.json: exit 1 if any 32-byte run of any entry's sealed bytes (or of
its base64 text) is still in the process's readable memory. Needs root (reads
/proc/PID/mem of a non-dumpable process)."""
import base64
import json
import re
import sys

pid, path = int(sys.argv[1]), sys.argv[2]
doc = json.load(open(path))
needles = []
for f in doc["files"]:
    raw = base64.b64decode(f["data"])
    for off in range(0, len(raw) - 32, 97):
        needles.append(raw[off:off + 32])
    needles.append(f["data"][:32].encode())
found = 0
with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
    for line in maps:
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
        start, end, perms = int(m.group(1), 16), int(m.group(2), 16), m.group(3)
        if "r" not in perms or "[vvar]" in line or "[vsyscall]" in line:
            continue
        # Sanitizer shadow maps span terabytes and hold no data: skip giant regions.
        if end - start > (1 << 32):
            continue
        step, hit, pos = 16 << 20, False, start
        while pos < end and not hit:
            try:
                mem.seek(pos)
                chunk = mem.read(min(step + 64, end - pos))
            except (OSError, ValueError, OverflowError, MemoryError):
                break
            hit = any(n in chunk for n in needles)
            pos += step
        if hit:
            found += 1
            print("found a run of the old bundle in", line.strip(), file=sys.stderr)
print("%d needles, %d regions with a match" % (len(needles), found))
sys.exit(1 if found else 0)
