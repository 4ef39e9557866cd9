"""Run one workload in a fresh child process and read its wall time and peak RSS (os.wait4 rusage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Sample:
    wall_s: float
    peak_rss_mb: float
    output: str


def measure(code: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Sample:
    """Run `python -c code` in a child; its rusage gives the peak RSS of that child alone."""
    full_env = {**os.environ, **(env or {})}
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code], env=full_env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({proc.returncode}):\n{out[-3000:]}")
    return Sample(wall, usage.ru_maxrss / 1024, out)


def best_of(n: int, code: str, env: dict[str, str] | None = None) -> Sample:
    samples = [measure(code, env) for _ in range(n)]
    return min(samples, key=lambda s: s.wall_s)


def report(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n== {title}")
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"  {key:<{width}}  {value}")


def dump(path: Path, doc: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2))
