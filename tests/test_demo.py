"""odpipe demo: the synthetic set through the whole pipeline, the summary once and the reports' paths once,
last (they were printed twice, by the run and again after the live model)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def test_demo_lists_the_reports_once_and_last(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ODPIPE_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "odpipe.cli", "demo", "--state-dir", str(tmp_path / "demo"), "--images", "8",
         "--epochs", "1", "--no-serve"],
        cwd=REPO, env=env, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert out.count("reports (open in a browser):") == 1, out
    tail = out[out.index("reports (open in a browser):") :]
    for name in ("dataset-report", "evaluation-report"):
        assert name in tail, tail
    for line in tail.splitlines()[1:]:
        path = Path(line.split(": ", 1)[1].strip())
        assert path.is_file() and path.suffix == ".html", line
