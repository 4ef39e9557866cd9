"""`odpipe run` vs the three task CLIs run directly on the same input (target overhead <= 10%), and the
embedded S3 server's start-to-ready time (target <= 3 s)."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import REPO, report

EPOCHS = "10"


def _cli(*args: str, env: dict[str, str], cwd: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "odpipe.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"odpipe {args[0]} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    return time.perf_counter() - t


def direct(work: Path, src: Path) -> float:
    """prepare -> train -> export-deploy as plain CLI calls, with an S3 server (export-deploy needs one)."""
    from odpipe.local.s3server import S3Server

    root = work / "direct"
    root.mkdir(parents=True)
    t = time.perf_counter()  # both sides pay for an S3 server's start and stop
    with S3Server(work / "direct-s3", buckets=("models",)) as server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ODPIPE_"))},
            **server.env(),
            "ODPIPE_ROOT": str(root),
            "ODPIPE_SCRATCH": str(root / "scratch"),
        }
        _cli(
            "prepare",
            "--annotations",
            str(src / "annotations.json"),
            "--images",
            str(src / "images"),
            env=env,
            cwd=root,
        )
        inputs = root / "artifacts/inputs"
        inputs.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / "artifacts/outputs/dataset.json", inputs)
        _cli("train", "--epochs", EPOCHS, "--imgsz", "128", "--batch", "8", "--run-id", "direct", env=env, cwd=root)
        for f in ("best.pt", "metrics.json"):
            shutil.copy(root / "artifacts/outputs" / f, inputs)
        _cli("export-deploy", "--model-name", "shapes", env=env, cwd=root)
    return time.perf_counter() - t


def via_run(work: Path, src: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ODPIPE_"))}
    return _cli(
        "run",
        "--state-dir",
        str(work / "state"),
        "--annotations",
        str(src / "annotations.json"),
        "--images",
        str(src / "images"),
        "--model-name",
        "shapes",
        "--epochs",
        EPOCHS,
        "--imgsz",
        "128",
        "--batch",
        "8",
        env=env,
        cwd=REPO,
    )


def s3_ready(work: Path, n: int = 5) -> list[float]:
    from odpipe.local.s3server import S3Server

    times = []
    for i in range(n):
        t = time.perf_counter()
        with S3Server(work / f"ready-{i}", buckets=("argo-artifacts", "datasets", "models")):
            times.append(time.perf_counter() - t)
    return times


def main() -> int:
    from odpipe.coco.synthetic import make_dataset

    work = Path(tempfile.mkdtemp(prefix="odpipe-bench-run-"))
    try:
        src = work / "src"
        make_dataset(src, images=40, size=128, seed=0)
        # alternated, best of 2: this machine is noisy
        d = min(direct(work / "d1", src), direct(work / "d2", src))
        r = min(via_run(work / "r1", src), via_run(work / "r2", src))
        ready = s3_ready(work)
        report(
            f"odpipe run vs the task CLIs, 40 synthetic images, {EPOCHS} epochs, CPU",
            [
                ("three CLIs directly", f"{d:.1f} s"),
                ("odpipe run (render chart, embedded S3, Argo layout)", f"{r:.1f} s"),
                ("overhead", f"{(r / d - 1) * 100:+.1f}% (target <= 10%)"),
            ],
        )
        report(
            "embedded S3 (SeaweedFS weed mini) start-to-ready, 3 buckets created",
            [
                ("median of 5", f"{statistics.median(ready):.2f} s (target <= 3 s); max {max(ready):.2f} s"),
            ],
        )
        print(json.dumps({"direct_s": d, "run_s": r, "overhead": r / d - 1, "s3_ready_s": ready}))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
