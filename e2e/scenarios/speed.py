"""The cluster against the laptop, three times: on the umbrella's install, the same workflow and `odpipe
run` on the same data, alternated in pairs (this machine is noisy: a pair shares its conditions), each
workflow with its breakdown (train not memoized: every pair trains). Not in the default `make e2e`:
`python -m e2e.scenarios --only speed`."""

from __future__ import annotations

from pathlib import Path

from . import data, umbrella
from .local import odpipe_run_seconds
from .summary import Report
from .workflows import submit

PAIRS = 3


def run(r: Report, work: Path) -> None:
    umbrella.install(r, work, "--set", "odpipe-workflows.memoize.enabled=false")  # each pair trains
    params = data.params()
    for i in range(1, PAIRS + 1):
        with r.step(f"pair {i}: argo submit --wait, then odpipe run on the same data") as note:
            wf = submit(umbrella.TARGET, f"odpipe-speed-{i}", params)
            local = odpipe_run_seconds(work, params)
            r.facts[f"workflow speed {i}"], r.facts[f"odpipe run for workflow speed {i}"] = wf, local
            note[""] = f"{wf['_wall']:.0f} s against {local:.0f} s: {wf['_wall'] / local:.2f}x"
    ratios = [r.facts[f"workflow speed {i}"]["_wall"] / r.facts[f"odpipe run for workflow speed {i}"]
              for i in range(1, PAIRS + 1)]  # fmt: skip
    r.facts["speed ratios"] = [round(x, 2) for x in ratios]
