#!/usr/bin/python3
"""unit.layout: docs/design.md's folder rules and module map hold for the tree.

Reads the table under "Folders and what each may use" in docs/design.md and checks, for
every C source and header under lib/, daemon/, client/ and coordd/:
  - each quoted #include resolves to a header of a folder its row allows (config.h is
    the build's and allowed everywhere);
  - no angle #include matches a pattern its row forbids;
  - every folder holding sources has a row, and every row's folder exists;
  - every module (a .c or .h by its stem) is named in design.md, as `name`, `name.c`
    or `name.h` (the module map matches the tree).
Exit 0 when all hold; otherwise one line per violation and exit 1.
"""
import fnmatch
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
design = open(os.path.join(root, "docs", "design.md"), encoding="utf-8").read()

rows = {}
in_table = False
for line in design.splitlines():
    t = line.strip()
    if t.startswith("| folder | may include from"):
        in_table = True
        continue
    if in_table:
        if not t.startswith("|"):
            if rows:
                break
            continue
        cells = [c.strip() for c in t.strip("|").split("|")]
        if set(cells[0]) <= set("-"):
            continue
        folder = cells[0].strip("`")
        allowed = re.findall(r"`([^`]+/)`", cells[1])
        denied = re.findall(r"`<([^>]+)>`", cells[2])
        rows[folder] = (allowed, denied)

problems = []
if not rows:
    problems.append("docs/design.md: no folder table found")

sources = []
for top in ("lib", "daemon", "client", "coordd"):
    for d, _, files in os.walk(os.path.join(root, top)):
        for f in files:
            if f.endswith((".c", ".h")):
                sources.append(os.path.relpath(os.path.join(d, f), root))

folders = {os.path.dirname(s) + "/" for s in sources}
for f in sorted(folders - set(rows)):
    problems.append(f"{f}: holds sources but has no row in design.md's folder table")
for f in sorted(set(rows) - folders):
    problems.append(f"{f}: has a row in design.md's folder table but holds no sources")

headers = {}
for s in sources:
    if s.endswith(".h"):
        headers.setdefault(os.path.basename(s), []).append(os.path.dirname(s) + "/")
for name, where in headers.items():
    if len(where) > 1:
        problems.append(f"{name}: a header of this name is in {', '.join(where)}; names must be unique")

inc = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')
for s in sorted(sources):
    folder = os.path.dirname(s) + "/"
    if folder not in rows:
        continue
    allowed, denied = rows[folder]
    with open(os.path.join(root, s), encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            m = inc.match(line)
            if not m:
                continue
            kind, name = m.groups()
            if kind == '"':
                if name == "config.h":
                    continue
                where = headers.get(os.path.basename(name))
                if not where:
                    problems.append(f"{s}:{n}: \"{name}\" is not a header of the tree")
                elif where[0] not in allowed:
                    problems.append(f"{s}:{n}: {folder} may not include {where[0]}{name} "
                                    f"(design.md allows {', '.join(allowed)})")
            else:
                for pat in denied:
                    if fnmatch.fnmatch(name, pat):
                        problems.append(f"{s}:{n}: {folder} may not include <{name}>")

named = set(re.findall(r"`([A-Za-z0-9_-]+)(?:\.[ch])?`", design))
for s in sorted(sources):
    if os.path.splitext(os.path.basename(s))[0] not in named:
        problems.append(f"{s}: not named in docs/design.md's module map")

for p in problems:
    print(p)
print(f"{len(sources)} files in {len(folders)} folders checked against {len(rows)} rules: "
      f"{len(problems)} problem(s)")
sys.exit(1 if problems else 0)
