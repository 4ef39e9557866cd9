#!/usr/bin/env python3
"""Print the fault-injection table from the JSON lines the `faults` tests wrote (ODPIPE_FAULTS_LOG).

One row per fault: cases tried, survived, and lost (bytes that existed before the fault and were gone
or changed after it, or a half-written object that looked finished). Rows with the same fault name
(parametrized tests) are added up. Exit 1 when any row has survived < tried or lost > 0, or no rows.

    tools/faults_table.py .faults/results.jsonl
    tools/faults_table.py --markdown .faults/results.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def load(path: Path) -> dict[str, dict[str, int]]:
    rows: dict[str, dict[str, int]] = {}
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        row = rows.setdefault(rec["fault"], {"tried": 0, "survived": 0, "lost": 0})
        for key in ("tried", "survived", "lost"):
            row[key] += int(rec[key])
    return rows


def render(rows: dict[str, dict[str, int]], markdown: bool) -> str:
    width = max([len("fault"), *(len(name) for name in rows)])
    if markdown:
        lines = ["| fault | tried | survived | lost |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {n} | {r['tried']} | {r['survived']} | {r['lost']} |" for n, r in rows.items()]
    else:
        lines = [f"{'fault':<{width}}  {'tried':>6}  {'survived':>8}  {'lost':>5}", "-" * (width + 25)]
        lines += [f"{n:<{width}}  {r['tried']:>6}  {r['survived']:>8}  {r['lost']:>5}" for n, r in rows.items()]
    total = {k: sum(r[k] for r in rows.values()) for k in ("tried", "survived", "lost")}
    tail = f"total: {total['tried']} tried, {total['survived']} survived, {total['lost']} lost"
    return "\n".join([*lines, "", tail])


def main(argv: list[str]) -> int:
    markdown = "--markdown" in argv
    paths = [a for a in argv if not a.startswith("--")]
    if len(paths) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(paths[0])
    rows = load(path) if path.exists() else {}
    if not rows:
        print(f"{path}: no fault results (did the faults tests run?)", file=sys.stderr)
        return 1
    print(render(rows, markdown))
    bad = [n for n, r in rows.items() if r["survived"] < r["tried"] or r["lost"] > 0]
    if bad:
        print(f"NOT SURVIVED: {', '.join(bad)}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
