"""The cluster's wall time against `odpipe run`, as the last `make e2e` measured them side by side in one
run (the umbrella scenario's workflow v1 and `odpipe run` on the same data): the per-step breakdown
with each segment's owner, and the ratio. A cluster run takes ~20 minutes, so the bench reads the e2e's
record instead of starting one; it says when there is none."""

from __future__ import annotations

import json
import time

from e2e.scenarios.summary import TIMING_RECORD


def main() -> None:
    print("== cluster: argo submit --wait against odpipe run on the same data (last make e2e)")
    if not TIMING_RECORD.exists():
        print(f"   no record at {TIMING_RECORD}: run `make cluster images e2e` first")
        return
    runs = json.loads(TIMING_RECORD.read_text()).get("runs", [])
    age = (time.time() - TIMING_RECORD.stat().st_mtime) / 3600
    print(f"   {len(runs)} runs recorded, the last {age:.1f} h ago")
    for run in runs[-1:]:
        for line in run["lines"]:
            print(f"   {line}")
    print(
        "   ratios (argo submit --wait / odpipe run): "
        + ", ".join(f"{r['ratio']:.2f}x" for r in runs)
        + " (goal <= 1.3x)"
    )


if __name__ == "__main__":
    main()
