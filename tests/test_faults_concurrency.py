"""Concurrency: two prepares of the same input at once give one dataset folder and both succeed; two
`odpipe run` pipelines on one S3 server never mix artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from conftest import shared_testdata
from faults.record import Tally, cases, full
from faults.s3 import server_at

pytestmark = pytest.mark.faults
BCCD_VAL = ("bccd", "voc2coco", "sample", "outputs", "bccd_val_cocoformat.json")
BCCD_IMAGES = ("bccd", "BCCD_Dataset", "BCCD", "JPEGImages")


def _start_prepare(data: Path, outputs: Path, link_mode: str) -> subprocess.Popen[str]:
    args = ["prepare", "--annotations", str(shared_testdata(*BCCD_VAL)), "--images", str(shared_testdata(*BCCD_IMAGES))]
    args += ["--data-dir", str(data), "--outputs-dir", str(outputs), "--link-mode", link_mode]
    env = {**os.environ, "ODPIPE_ROOT": str(outputs.parent)}
    return subprocess.Popen(
        [sys.executable, "-m", "odpipe.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_two_prepares_of_the_same_input_at_once(tmp_path: Path) -> None:
    rounds = cases(2, 8)
    tally = Tally("concurrency: two prepares at once", f"{rounds} rounds, same input, one data volume")
    for n in range(rounds):
        data = tmp_path / f"data-{n}"
        procs = [
            _start_prepare(data, tmp_path / f"out-{n}-{i}" / "outputs", ("copy", "hardlink")[n % 2]) for i in (0, 1)
        ]
        outs = [p.communicate(timeout=300)[0] for p in procs]
        ids = {
            (tmp_path / f"out-{n}-{i}/outputs/params/dataset-id").read_text()
            for i in (0, 1)
            if procs[i].returncode == 0
        }
        folders = sorted(p.name for p in (data / "datasets").iterdir())
        ok = all(p.returncode == 0 for p in procs) and len(ids) == 1 and folders == sorted(ids)
        ok = ok and (data / "datasets" / folders[0] / "dataset.json").exists()
        tally.case(
            ok, f"round {n}: exits {[p.returncode for p in procs]} ids {ids} folders {folders} {outs[0][-300:]!r}"
        )
    tally.close()


def _pipeline(state: Path, src: Path, server_env: dict[str, str], endpoint: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ODPIPE_"))}
    env.update(server_env)
    args = ["run", "--state-dir", str(state), "--s3-endpoint", endpoint, "--model-name", "shared"]
    args += ["--annotations", str(src / "annotations.json"), "--images", str(src / "images")]
    args += ["--epochs", "1", "--imgsz", "64", "--batch", "4"]
    return subprocess.Popen(
        [sys.executable, "-m", "odpipe.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.mark.slow
def test_two_pipelines_on_one_s3_never_mix_artifacts(tmp_path: Path) -> None:
    from odpipe.coco.synthetic import make_dataset

    if not full():
        pytest.skip("two whole pipelines at once cost ~90 s on 2 cores: `make faults` runs this one")
    with server_at(tmp_path / "s3", ("argo-artifacts", "datasets", "models")) as server:
        srcs = [tmp_path / f"src-{i}" for i in (0, 1)]
        for i, src in enumerate(srcs):
            make_dataset(src, images=12, size=64, seed=10 + i)  # different inputs: a mix would show
        procs = [
            _pipeline(tmp_path / f"state-{i}", src, server.env(), server.endpoint_url) for i, src in enumerate(srcs)
        ]
        outs = [p.communicate(timeout=900)[0] for p in procs]
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=server.credentials.access_key,
            aws_secret_access_key=server.credentials.secret_key,
            config=Config(s3={"addressing_style": "path"}),
        )
        keys = [o["Key"] for o in client.list_objects_v2(Bucket="argo-artifacts").get("Contents", [])]
        cards = [
            json.loads(client.get_object(Bucket="models", Key=f"shared/{v}/model-card.json")["Body"].read())
            for v in (1, 2)
        ]
    states = [
        json.loads((next((tmp_path / f"state-{i}" / "runs").iterdir()) / "state.json").read_text()) for i in (0, 1)
    ]
    runs = [state["workflow"] for state in states]
    own = [sorted(k for k in keys if k.startswith(f"{wf}/")) for wf in runs]
    tally = Tally("concurrency: two pipelines, one S3", "two odpipe run at once, --s3-endpoint, one model name")
    ok = all(p.returncode == 0 for p in procs) and runs[0] != runs[1] and len(own[0]) + len(own[1]) == len(keys)
    # each published version was trained on its own pipeline's dataset, and says which workflow made it
    made_by = {c["workflow"]["name"]: c["dataset_id"] for c in cards}
    want = {state["workflow"]: state["results"]["prepare"]["parameters"]["dataset-id"] for state in states}
    tally.case(ok and made_by == want and len(set(want.values())) == 2, f"{outs[0][-400:]!r} {made_by} {want}")
    tally.close()
