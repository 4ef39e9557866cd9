"""odpipe run: the chart's pipeline end to end on one machine, against the embedded S3 server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import psutil
import pytest
from botocore.config import Config
from conftest import shared_testdata
from report_check import check_dataset_report, check_evaluation_report, check_model_report

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def _run(state: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ODPIPE_"))}
    proc = subprocess.run(
        [sys.executable, "-m", "odpipe.cli", "run", "--state-dir", str(state), *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _weeds(state: Path) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["name", "cmdline"]):
        try:
            if any(str(state) in part for part in (p.info["cmdline"] or [])) and "weed" in " ".join(p.info["cmdline"]):
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return out


def _objects(state: Path, bucket: str) -> list[str]:
    """Read the embedded server's objects after the run: start it again on its state."""
    from odpipe.local.run import _credentials
    from odpipe.local.s3server import S3Server

    with S3Server(state / "s3", _credentials(state / "s3")) as server:
        client = boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=server.credentials.access_key,
            aws_secret_access_key=server.credentials.secret_key,
            config=Config(s3={"addressing_style": "path"}),
        )
        pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))


def check_run_reports(out: str, run_dir: Path, tmp: Path, name: str) -> None:
    """The three reports `odpipe run` lists: where it says, and showing the run's JSON artifacts' numbers."""
    from odpipe.local.run import run_reports

    listed = {}
    for art in ("dataset-report", "evaluation-report", "model-report"):
        line = next((ln for ln in out.splitlines() if ln.strip().startswith(f"{art}: ")), None)
        assert line is not None, f"odpipe run does not list {art}:\n{out[-3000:]}"
        listed[art] = Path(line.split(": ", 1)[1].strip())
        assert listed[art].is_file()
    assert listed == run_reports(run_dir)
    side = {art: path.parent for art, path in listed.items()}
    prep, train, export = side["dataset-report"], side["evaluation-report"], side["model-report"]
    findings = json.loads((prep / "report.json").read_text())
    check_dataset_report(
        listed["dataset-report"], json.loads((prep / "dataset.json").read_text()), findings, tmp, f"run-dataset-{name}"
    )
    metrics = json.loads((train / "metrics.json").read_text())
    check_evaluation_report(listed["evaluation-report"], metrics, tmp, f"run-evaluation-{name}")
    card = json.loads((export / "model-card.json").read_text())
    check_model_report(listed["model-report"], card, None, tmp, f"run-model-{name}")


def test_synthetic_end_to_end_follows_argo_layout(tmp_path: Path) -> None:
    from odpipe.coco.synthetic import make_dataset

    make_dataset(tmp_path / "src", images=16, size=64, seed=5)
    state = tmp_path / "state"
    code, out = _run(
        state,
        "--annotations",
        str(tmp_path / "src/annotations.json"),
        "--images",
        str(tmp_path / "src/images"),
        "--model-name",
        "shapes",
        "--epochs",
        "2",
        "--imgsz",
        "64",
        "--batch",
        "4",
    )
    assert code == 0, out
    assert "✓ prepare: Succeeded" in out and "✓ train: Succeeded" in out and "✓ export-deploy: Succeeded" in out
    assert "model: s3://models/shapes/1/model.onnx" in out and "dataset id:" in out
    assert not _weeds(state), "the embedded S3 server must be stopped after the run"
    run_dir = next((state / "runs").iterdir())
    wf = run_dir.name
    results = json.loads((run_dir / "state.json").read_text())["results"]
    pods = {task: r["pod"] for task, r in results.items()}
    keys = _objects(state, "argo-artifacts")
    # Argo's executor layout: keyFormat {{workflow.name}}/{{pod.name}}, `archive: none` files under their
    # own name, directories as <artifact>.tgz, and the archived main.log
    for task, files in {
        "prepare": ["dataset.json", "report.json", "dataset-report.html", "main.log"],
        "train": ["best.pt", "metrics.json", "run.tgz", "evaluation-report.html", "main.log"],
        "export-deploy": ["model.onnx", "model-card.json", "model-report.html", "main.log"],
    }.items():
        for f in files:
            assert f"{wf}/{pods[task]}/{f}" in keys, (task, f, keys)
    assert all(k.startswith(f"{wf}/") for k in keys)
    assert {
        "shapes/1/model.onnx",
        "shapes/1/model-card.json",
        "shapes/1/model-report.html",
        "shapes/config.pbtxt",
    } <= set(_objects(state, "models"))
    check_run_reports(out, run_dir, tmp_path, "synthetic")
    # a second run reuses the prepared dataset and publishes version 2, int8 through the chart's parameter
    code, out = _run(
        state,
        "--annotations",
        str(tmp_path / "src/annotations.json"),
        "--images",
        str(tmp_path / "src/images"),
        "--model-name",
        "shapes",
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "-p",
        "precision=int8",
    )
    assert code == 0 and "model version: 2" in out, out
    cards = [json.loads(p.read_text()) for p in state.glob("runs/*/pods/*export-deploy*/artifacts/outputs/*card.json")]
    (card,) = [c for c in cards if c["version"] == 2]
    assert card["precision"] == "int8" and card["quantization"]["quantize_nodes"] > 0


def test_bad_annotations_fail_at_prepare_with_its_message(tmp_path: Path) -> None:
    from odpipe.coco.synthetic import make_dataset

    make_dataset(tmp_path / "src", images=8, size=64, seed=6)
    doc = json.loads((tmp_path / "src/annotations.json").read_text())
    for ann in doc["annotations"]:
        ann["category_id"] = 42
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    state = tmp_path / "state"
    code, out = _run(state, "--annotations", str(tmp_path / "bad.json"), "--images", str(tmp_path / "src/images"))
    assert code == 2, out
    assert "✗ prepare: Failed" in out and "nothing trainable remains" in out
    assert "annotation-unknown-category" in out  # prepare's own report lines, from the step log
    assert "train" not in {line.split()[1] for line in out.splitlines() if line.startswith("▶")}
    assert not _weeds(state)


def test_failed_step_then_resume(tmp_path: Path) -> None:
    from odpipe.coco.synthetic import make_dataset

    make_dataset(tmp_path / "src", images=12, size=64, seed=7)
    state = tmp_path / "state"
    code, out = _run(
        state,
        "--annotations",
        str(tmp_path / "src/annotations.json"),
        "--images",
        str(tmp_path / "src/images"),
        "--epochs",
        "1",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "-p",
        "model=yolo99z.yaml",
    )
    assert code == 2, out
    assert "✗ train: Failed" in out and "unknown model" in out and "artifacts kept so far:" in out
    assert "prepare.dataset: s3://argo-artifacts/" in out
    wf = out.split("odpipe run --resume ")[1].split()[0]
    code, out = _run(state, "--resume", wf, "-p", "model=yolo11n.yaml")
    assert code == 0, out
    assert "✓ prepare: kept from the earlier run" in out and "✓ train: Succeeded" in out
    assert "▶ prepare" not in out


def test_bccd_subset_end_to_end(tmp_path: Path) -> None:
    """Real data through the whole pipeline: bccd's val split file (87 images), 3 epochs at 160 px."""
    ann = shared_testdata("bccd", "voc2coco", "sample", "outputs", "bccd_val_cocoformat.json")
    images = shared_testdata("bccd", "BCCD_Dataset", "BCCD", "JPEGImages")
    code, out = _run(
        tmp_path / "state",
        "--annotations",
        str(ann),
        "--images",
        str(images),
        "--model-name",
        "bccd",
        "--epochs",
        "3",
        "--imgsz",
        "160",
        "--batch",
        "8",
    )
    assert code == 0, out
    assert "model: s3://models/bccd/1/model.onnx" in out
    check_run_reports(out, next((tmp_path / "state" / "runs").iterdir()), tmp_path, "bccd")


def test_sigkill_of_the_runner_leaves_nothing_behind_and_resume_works(tmp_path: Path) -> None:
    """A SIGKILLed `odpipe run` takes its S3 server and its running step with it (parent-death signal),
    leaves no weed sockets in /tmp, and `--resume` completes the run."""
    import glob
    import signal
    import time

    from odpipe.coco.synthetic import make_dataset

    make_dataset(tmp_path / "src", images=12, size=64, seed=8)
    state = tmp_path / "state"
    sockets_before = set(glob.glob("/tmp/seaweedfs-*.sock"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ODPIPE_"))}
    args = ["--annotations", str(tmp_path / "src/annotations.json"), "--images", str(tmp_path / "src/images"),
            "--epochs", "40", "--imgsz", "64", "--batch", "4"]  # fmt: skip
    log = (tmp_path / "run.log").open("w")
    runner = subprocess.Popen(
        [sys.executable, "-m", "odpipe.cli", "run", "--state-dir", str(state), *args],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while "▶ train" not in (tmp_path / "run.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(8)  # well into training
    step = [p for p in psutil.Process(runner.pid).children() if "train" in " ".join(p.cmdline())]
    weeds = _weeds(state)
    assert step and weeds, (tmp_path / "run.log").read_text()
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    _, alive = psutil.wait_procs([*step, *weeds], timeout=15)
    assert not alive, f"left running after the runner was killed: {[p.cmdline() for p in alive]}"
    assert set(glob.glob("/tmp/seaweedfs-*.sock")) <= sockets_before
    workflow = next((state / "runs").iterdir()).name
    code, out = _run(state, "--resume", workflow)
    assert code == 0, out
    assert "✓ prepare: kept from the earlier run" in out and "✓ train: Succeeded" in out
