"""Artifact staging (odpipe.local.staging): Argo's layout in S3, on the real SeaweedFS server."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from odpipe.common.errors import InputError
from odpipe.common.storage import Storage
from odpipe.formats.contract import (
    BEST_WEIGHTS,
    DATASET_MANIFEST,
    ENV_ARTIFACTS_BUCKET,
    METRICS,
    OUTPUTS_SUBDIR,
    PARAM_MAP,
    PARAMS_SUBDIR,
    RUN_DIR,
)
from odpipe.local.staging import ARTIFACT_REF, ArtifactStore, collect_outputs, fetch_inputs, tar_to, untar

OUT = f"/{OUTPUTS_SUBDIR}"


def test_tar_and_untar_round_trip_renames_the_top_entry(tmp_path: Path) -> None:
    src = tmp_path / "produced" / RUN_DIR
    (src / "weights").mkdir(parents=True)
    (src / "results.csv").write_text("epoch\n1\n")
    (src / "weights" / "last.pt").write_bytes(b"\0" * 10)
    tgz = tmp_path / "run.tgz"
    tar_to(src, tgz)
    dest = tmp_path / "inputs" / "previous-run"
    untar(tgz.read_bytes(), dest)
    assert (dest / "results.csv").read_text() == "epoch\n1\n"
    assert (dest / "weights" / "last.pt").stat().st_size == 10


def test_untar_refuses_archives_with_several_top_entries_or_escapes(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name in ("a.txt", "b.txt"):
            info = tarfile.TarInfo(name)
            tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(InputError, match="has 2 top entries, expected 1"):
        untar(buf.getvalue(), tmp_path / "x")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("top/../../escape.txt")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(tarfile.OutsideDestinationError):
        untar(buf.getvalue(), tmp_path / "y" / "z")


TEMPLATE = {
    "name": "train",
    "inputs": {"artifacts": [{"name": "dataset", "path": f"/artifacts/inputs/{DATASET_MANIFEST}"}]},
    "outputs": {
        "parameters": [{"name": PARAM_MAP, "valueFrom": {"path": f"{OUT}/{PARAMS_SUBDIR}/{PARAM_MAP}"}}],
        "artifacts": [
            {"name": "weights", "path": f"{OUT}/{BEST_WEIGHTS}", "archive": {"none": {}}},
            {"name": "metrics", "path": f"{OUT}/{METRICS}", "archive": {"none": {}}},
            {"name": "run", "path": f"{OUT}/{RUN_DIR}"},
        ],
    },
}


def test_outputs_land_where_argo_puts_them_and_feed_the_next_step(s3: Storage, tmp_path: Path) -> None:
    store = ArtifactStore(s3, os.environ[ENV_ARTIFACTS_BUCKET])
    pod = tmp_path / "pod-a"
    out = pod / OUTPUTS_SUBDIR
    (out / PARAMS_SUBDIR).mkdir(parents=True)
    (out / PARAMS_SUBDIR / PARAM_MAP).write_text("0.5\n")
    (out / BEST_WEIGHTS).write_bytes(b"weights")
    (out / METRICS).write_text("{}")
    (out / RUN_DIR).mkdir()
    (out / RUN_DIR / "results.csv").write_text("x")
    params, artifacts = collect_outputs(store, "pod-a", pod, TEMPLATE, "wf/pod-a")
    assert params == {PARAM_MAP: "0.5"}
    assert artifacts == {
        "weights": f"wf/pod-a/{BEST_WEIGHTS}",
        "metrics": f"wf/pod-a/{METRICS}",
        "run": "wf/pod-a/run.tgz",
    }
    assert s3.get_bytes(store.bucket, f"wf/pod-a/{BEST_WEIGHTS}") == b"weights"

    nxt = {"name": "next", "inputs": {"artifacts": [
        {"name": "weights", "path": f"/artifacts/inputs/{BEST_WEIGHTS}"},
        {"name": "run", "path": "/artifacts/inputs/run"},
        {"name": "base", "path": "/artifacts/inputs/base.pt", "optional": True},
    ]}}  # fmt: skip
    scope = {f"tasks.train.outputs.artifacts.{k}": f"{ARTIFACT_REF}{v}" for k, v in artifacts.items()}
    sources = {"weights": "{{tasks.train.outputs.artifacts.weights}}", "run": "{{tasks.train.outputs.artifacts.run}}"}
    placed = fetch_inputs(store, "pod-b", tmp_path / "pod-b", nxt, scope, sources)
    assert placed == [f"/artifacts/inputs/{BEST_WEIGHTS}", "/artifacts/inputs/run"]
    assert (tmp_path / "pod-b/artifacts/inputs" / BEST_WEIGHTS).read_bytes() == b"weights"
    assert (tmp_path / "pod-b/artifacts/inputs/run/results.csv").read_text() == "x"


def test_a_missing_output_is_named(s3: Storage, tmp_path: Path) -> None:
    store = ArtifactStore(s3, os.environ[ENV_ARTIFACTS_BUCKET])
    (tmp_path / OUTPUTS_SUBDIR / PARAMS_SUBDIR).mkdir(parents=True)
    (tmp_path / OUTPUTS_SUBDIR / PARAMS_SUBDIR / PARAM_MAP).write_text("1")
    with pytest.raises(InputError, match=f"pod-a: output artifact weights: {OUT}/{BEST_WEIGHTS} was not written"):
        collect_outputs(store, "pod-a", tmp_path, TEMPLATE, "wf/pod-a")
