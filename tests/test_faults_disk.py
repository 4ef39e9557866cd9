"""Disk full on the data volume (a small tmpfs): during prepare's dataset write and during a training
checkpoint. The error names the path; no dataset looks finished; with space again the next run
completes (prepare: the same dataset id); a resume never loads a truncated checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import shared_testdata
from faults.disk import fill, tmpfs
from faults.record import Tally, full
from odpipe.cli import app
from typer.testing import CliRunner

pytestmark = pytest.mark.faults
BCCD_VAL = ("bccd", "voc2coco", "sample", "outputs", "bccd_val_cocoformat.json")
BCCD_IMAGES = ("bccd", "BCCD_Dataset", "BCCD", "JPEGImages")


def _prepare(root: Path, data: Path) -> tuple[int, str]:
    args = ["prepare", "--annotations", str(shared_testdata(*BCCD_VAL)), "--images", str(shared_testdata(*BCCD_IMAGES))]
    args += ["--data-dir", str(data), "--link-mode", "copy", "--workers", "1"]
    result = CliRunner().invoke(app, args, env={"ODPIPE_ROOT": str(root), "COLUMNS": "200"}, catch_exceptions=False)
    return result.exit_code, result.output


def _looks_finished(data: Path) -> list[Path]:
    """Dataset folders a reader would take for finished (named by id, not a .tmp-* build folder)."""
    folder = data / "datasets"
    return [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.exists() else []


def test_disk_full_during_prepare_dataset_write(tmp_path: Path) -> None:
    code, out = _prepare(tmp_path / "reference", tmp_path / "reference-data")
    assert code == 0, out
    want = json.loads((tmp_path / "reference/artifacts/outputs/dataset.json").read_text())["dataset_id"]
    leaves = [0, 4096, 64 << 10, 256 << 10, 512 << 10, 1 << 20, 1536 << 10, 2 << 20]
    leaves = leaves if full() else leaves[::3]
    tally = Tally("disk full: prepare dataset write", f"tmpfs with {len(leaves)} free-space levels (0-2 MiB)")
    for n, leave in enumerate(leaves):
        root = tmp_path / f"run-{n}"
        with tmpfs(tmp_path / f"volume-{n}", "4m") as data:
            filler = fill(data, leave)
            code, out = _prepare(root, data)
            failed_clean = code != 0 and "error:" in out and str(data) in out and "No space" in out
            clean = not _looks_finished(data) and not (root / "artifacts/outputs/dataset.json").exists()
            filler.unlink()
            code2, _ = _prepare(root, data)
            again = (
                code2 == 0 and json.loads((root / "artifacts/outputs/dataset.json").read_text())["dataset_id"] == want
            )
            tally.case(failed_clean and clean and again, f"{leave} B free: exit {code} {out[-400:]!r}; rerun {code2}")
    tally.close()
