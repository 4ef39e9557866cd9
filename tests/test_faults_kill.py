"""Kills at every phase: SIGKILL of a real `odpipe prepare`, `odpipe train` and `odpipe export-deploy`
at points spread by hooks (a file appears, a count is reached, an S3 object appears) and by time. The
rerun completes: prepare yields the same dataset id and the same bytes, train resumes or restarts and
finishes every epoch, export-deploy yields exactly one new version. A truncated or corrupt last.pt is
detected with a warning, and the run starts over instead of loading it."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import shared_testdata
from faults.kill import Hook, after, exists, glob_count, kill_when, odpipe_cli, odpipe_env
from faults.record import Tally, full
from odpipe.common.storage import Storage
from odpipe.export.repository import ModelRepository

pytestmark = [pytest.mark.faults, pytest.mark.slow]
BCCD_VAL = ("bccd", "voc2coco", "sample", "outputs", "bccd_val_cocoformat.json")
BCCD_IMAGES = ("bccd", "BCCD_Dataset", "BCCD", "JPEGImages")
FAST = ["--imgsz", "64", "--batch", "4", "--workers", "0", "--device", "cpu"]
EPOCHS = 3


def _tree(root: Path, base: Path | None = None) -> dict[str, bytes]:
    """Files and bytes under `root`, with the run's own folder (`base`: data.yaml names it) masked."""
    mask = str(base).encode() if base else b"\0"
    return {
        str(p.relative_to(root)): p.read_bytes().replace(mask, b"BASE") for p in sorted(root.rglob("*")) if p.is_file()
    }


def _prepare_args() -> list[str]:
    ann, images = shared_testdata(*BCCD_VAL), shared_testdata(*BCCD_IMAGES)
    return ["prepare", "--annotations", str(ann), "--images", str(images), "--link-mode", "copy"]


def _building(datasets: Path, files: int) -> Hook:
    """True once a build folder holds `files` files (the dataset is being written)."""

    def counted() -> bool:
        try:
            return any(sum(1 for f in d.rglob("*") if f.is_file()) >= files for d in datasets.glob(".tmp-*"))
        except FileNotFoundError:  # the build folder was renamed into place while it was walked: too late
            return False

    return counted


def _prepare_points(data: Path, outputs: Path, dataset_id: str, took: float) -> dict[str, Hook]:
    """Hooks on what the run has written, then times spread over a whole run's length (`took` seconds)."""
    datasets = data / "datasets"
    points: dict[str, Hook] = {
        "validating": exists(data / "raw" / ".odpipe-cache"),
        "writing 60 files": _building(datasets, 60),
        "renamed, outputs not written": exists(datasets / dataset_id),
        "build started": glob_count(datasets, ".tmp-*", 1),
        "writing 20 files": _building(datasets, 20),
        "writing 120 files": _building(datasets, 120),
        "report written": exists(outputs / "report.json"),
    }
    for fraction in (0.25, 0.5, 0.75):
        points[f"after {fraction:.0%} of a run"] = after(fraction * took)
    return points if full() else dict(list(points.items())[:3])


def test_sigkill_during_prepare_then_rerun_gives_the_same_dataset(tmp_path: Path) -> None:
    began = time.monotonic()
    code, out = odpipe_cli(_prepare_args(), odpipe_env(tmp_path / "reference"))
    took = time.monotonic() - began
    assert code == 0, out
    want_id = (tmp_path / "reference/artifacts/outputs/params/dataset-id").read_text()
    want = _tree(tmp_path / "reference/data/datasets" / want_id, tmp_path / "reference")
    names = list(_prepare_points(tmp_path, tmp_path, want_id, took))
    tally = Tally("SIGKILL: prepare", f"{len(names)} kill points (hooks and times)")
    for n, name in enumerate(names):
        for attempt in range(3):  # a hook polled just too late sees the run exit first: try that point again
            root = tmp_path / f"kill-{n}-{attempt}"
            hook = _prepare_points(root / "data", root / "artifacts/outputs", want_id, took)[name]
            landed = kill_when(_prepare_args(), odpipe_env(root), hook)
            if landed:
                break
        datasets = root / "data/datasets"
        named = [d for d in datasets.iterdir() if not d.name.startswith(".")] if datasets.exists() else []
        whole = all(_tree(d, root) == want for d in named)  # anything with a final name is complete
        code, out = odpipe_cli(_prepare_args(), odpipe_env(root))
        got = (root / "artifacts/outputs/params/dataset-id").read_text() if code == 0 else None
        ok = landed and whole and got == want_id and _tree(datasets / want_id, root) == want
        tally.case(ok, f"{name}: landed={landed} whole={whole} rerun exit {code} id {got}")
    tally.close()


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from odpipe.coco.synthetic import make_dataset

    src = tmp_path_factory.mktemp("src")
    make_dataset(src, images=12, size=64, seed=3)
    root = tmp_path_factory.mktemp("root")
    args = ["prepare", "--annotations", str(src / "annotations.json"), "--images", str(src / "images")]
    code, out = odpipe_cli(args, odpipe_env(root))
    assert code == 0, out
    shutil.copy(root / "artifacts/outputs/dataset.json", root / "dataset.json")
    return root


def _train_args(run_id: str) -> list[str]:
    return ["train", "--dataset", "DATASET", *FAST, "--epochs", str(EPOCHS), "--run-id", run_id]


def _train(root: Path, run_id: str, *, hook: Hook | None = None) -> tuple[int, str]:
    args = [a.replace("DATASET", str(root / "dataset.json")) for a in _train_args(run_id)]
    if hook is not None:
        return int(kill_when(args, odpipe_env(root), hook)), ""
    return odpipe_cli(args, odpipe_env(root))


def _rows(csv: Path, count: int) -> Hook:
    return lambda: csv.exists() and len(csv.read_text().strip().splitlines()) > count


def _epochs_done(root: Path) -> int:
    return int(json.loads((root / "artifacts/outputs/metrics.json").read_text())["epochs_done"])


def test_sigkill_during_train_then_resume_or_restart(prepared: Path) -> None:
    def points(run: Path) -> dict[str, Hook]:
        weights = run / "train/weights"
        return {
            "after the first checkpoint": exists(weights / "last.pt.sha256"),
            "run folder claimed": exists(run / "odpipe-train.json"),
            "after two epochs": _rows(run / "train/results.csv", 2),
            # checkpoints are written to a temp file and renamed: its appearance is mid-write
            "while writing the first checkpoint": glob_count(weights, ".last.pt.*.writing", 1),
        }

    names = list(points(prepared))[: 4 if full() else 1]
    tally = Tally("SIGKILL: train", f"{len(names)} kill points, {EPOCHS} epochs on CPU")
    for n, name in enumerate(names):
        run_id = f"killed-{n}"
        landed, _ = _train(prepared, run_id, hook=points(prepared / "data/runs" / run_id)[name])
        code, out = _train(prepared, run_id)
        resumed_or_fresh = "resuming after epoch" in out or "starting" in out
        ok = bool(landed) and code == 0 and resumed_or_fresh and _epochs_done(prepared) == EPOCHS
        tally.case(ok, f"{name}: landed={landed} rerun exit {code}: {out[-400:]!r}")
    tally.close()


def _half(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _flip_middle(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes([data[mid] ^ 0xFF]) + data[mid + 1 :]


CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated to half": _half,
    "one byte flipped mid-file": _flip_middle,
    "empty": lambda data: b"",
    "truncated to 100 bytes": lambda data: data[:100],
    "16 bytes zeroed at 3/4": lambda data: data[: 3 * len(data) // 4] + bytes(16) + data[3 * len(data) // 4 + 16 :],
}


def test_truncated_or_corrupt_last_pt_is_detected_and_not_loaded(prepared: Path) -> None:
    landed, _ = _train(prepared, "base", hook=exists(prepared / "data/runs/base/train/weights/last.pt.sha256"))
    assert landed, "the kill must land after the first checkpoint"
    names = list(CORRUPTIONS) if full() else ["one byte flipped mid-file"]
    tally = Tally("corrupt last.pt on resume", f"{len(names)} corruptions of a mid-run checkpoint")
    for n, name in enumerate(names):
        run_id = f"corrupt-{n}"
        shutil.copytree(prepared / "data/runs/base", prepared / "data/runs" / run_id)
        last = prepared / "data/runs" / run_id / "train/weights/last.pt"
        last.write_bytes(CORRUPTIONS[name](last.read_bytes()))
        code, out = _train(prepared, run_id)
        ok = code == 0 and "warning:" in out and "starting over" in out and _epochs_done(prepared) == EPOCHS
        tally.case(ok and "resuming after" not in out, f"{name}: exit {code}: {out[-600:]!r}")
    tally.close()


@pytest.fixture(scope="module")
def trained(prepared: Path) -> Path:
    code, out = _train(prepared, "for-export")
    assert code == 0, out
    inputs = prepared / "artifacts/inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    for name in ("best.pt", "metrics.json", "dataset.json"):
        (inputs / name).write_bytes((prepared / "artifacts/outputs" / name).read_bytes())
    return prepared


def _complete_versions(repo: ModelRepository) -> tuple[list[int], list[int]]:
    """(deployed versions, versions holding a model without a card or a card without a model)."""
    versions = repo.versions("shapes")
    half = [v for v, f in versions.items() if ("model.onnx" in f) != ("model-card.json" in f)]
    return repo.deployed("shapes"), half


def test_sigkill_during_export_deploy_then_exactly_one_new_version(trained: Path, s3: Storage) -> None:
    bucket = os.environ["ODPIPE_MODELS_BUCKET"]
    repo = ModelRepository(s3, bucket)

    def claimed(version: int) -> Hook:
        return lambda: s3.exists(bucket, f"shapes/{version}/claim.json")

    points: dict[str, Callable[[int], Hook]] = {
        "claimed, uploading": claimed,
        "exporting (after 6s)": lambda v: after(6),
        "after 3s": lambda v: after(3),
        "after 9s": lambda v: after(9),
    }
    names = list(points)[: 4 if full() else 1]
    tally = Tally("SIGKILL: export-deploy", f"{len(names)} kill points (a claim appears, times)")
    for n, name in enumerate(names):
        deployed_before, _ = _complete_versions(repo)
        nxt = max(repo.versions("shapes"), default=0) + 1
        args = ["export-deploy", "--model-name", "shapes", "--workflow-name", "wf", "--workflow-uid", f"uid-{n}"]
        landed = kill_when(args, odpipe_env(trained, dict(os.environ)), points[name](nxt))
        code, out = odpipe_cli(args, odpipe_env(trained, dict(os.environ)))
        out = out[-300:]
        deployed, half = _complete_versions(repo)
        new = sorted(set(deployed) - set(deployed_before))
        ok = landed and code == 0 and len(new) == 1 and not half
        tally.case(ok, f"{name}: landed={landed} rerun exit {code}, new versions {new}, half-written {half}: {out!r}")
    tally.close()
