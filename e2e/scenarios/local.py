"""`odpipe run` on the same data as the cluster's workflow (processes, embedded S3), for the ratio."""

from __future__ import annotations

import time
from pathlib import Path

from e2e.cluster.layout import REPO

from . import data
from .kube import MODEL, sh


def odpipe_run_seconds(work: Path, params: dict[str, str]) -> float:
    images = work / "bccd-images"
    images.mkdir(exist_ok=True)
    for name in data.image_names():
        if not (images / name).exists():
            (images / name).symlink_to(data.BCCD_IMAGES / name)
    state = work / f"local-{time.monotonic_ns()}"
    args = [str(REPO / ".venv" / "bin" / "odpipe"), "run", "--annotations", str(data.BCCD_JSON), "--images",
            str(images), "--state-dir", str(state), "--model-name", MODEL]  # fmt: skip
    for key in data.TRAIN_PARAMS:
        args += ["-p", f"{key}={params[key]}"]
    started = time.monotonic()
    sh(*args, timeout=1800)
    return time.monotonic() - started
