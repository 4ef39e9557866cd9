"""check-inputs: each wrong bucket, key, prefix or credential named, on a real S3 server; prepare runs it
first (`--check-inputs`) and reads nothing when it fails; and the chart's pipeline loads no input artifact
before it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from odpipe.common.storage import Storage
from odpipe.common.termination import LIMIT, record
from odpipe.local.s3server import S3Server

from tests.charts import WORKFLOWS, render
from tests.helpers import odpipe

CREDS = "Secret odpipe-s3 (keys rootUser, rootPassword)"


@pytest.fixture
def termination_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "termination-log"
    path.touch()  # the kubelet creates it; record() writes only where it exists
    monkeypatch.setenv("ODPIPE_TERMINATION_LOG", str(path))
    return path


def _uploaded(s3: Storage) -> str:
    datasets = os.environ["ODPIPE_DATASETS_BUCKET"]
    s3.put_bytes(datasets, "set/annotations.json", b"{}")
    s3.put_bytes(datasets, "set/images/a.jpg", b"x")
    return datasets


def check(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return odpipe(tmp_path, "check-inputs", *args, env={"ODPIPE_CREDENTIALS_FROM": CREDS, **(env or {})})


def test_a_run_that_can_start_passes(tmp_path: Path, s3: Storage, termination_log: Path) -> None:
    datasets = _uploaded(s3)
    run = check(tmp_path, "--annotations-key", "set/annotations.json", "--images-prefix", "set/images/")
    assert run.exit_code == 0, run.output
    assert f"s3://{datasets}/set/annotations.json" in run.output and "set/images/" in run.output
    assert termination_log.read_text() == ""


def test_wrong_buckets_are_all_named_with_their_chart_values(
    tmp_path: Path, s3: Storage, termination_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _uploaded(s3)
    monkeypatch.setenv("ODPIPE_DATASETS_BUCKET", "no-such-datasets")
    monkeypatch.setenv("ODPIPE_MODELS_BUCKET", "no-such-models")
    run = check(tmp_path, "--annotations-key", "set/annotations.json")
    assert run.exit_code == 2, run.output
    for text in ("'no-such-datasets' (s3.buckets.datasets", "'no-such-models' (s3.buckets.models", "does not exist"):
        assert text in run.output and text in termination_log.read_text()
    assert os.environ["ODPIPE_ARTIFACTS_BUCKET"] not in run.output  # the one that exists is not blamed


def test_missing_annotations_and_empty_images_prefix_name_their_parameters(
    tmp_path: Path, s3: Storage, termination_log: Path
) -> None:
    datasets = _uploaded(s3)
    run = check(tmp_path, "--annotations-key", "other/annotations.json", "--images-prefix", "set/imgs")
    assert run.exit_code == 2, run.output
    log = termination_log.read_text()
    assert f"s3://{datasets}/other/annotations.json (parameter annotations-key)" in log
    assert f"no objects under s3://{datasets}/set/imgs/ (parameter images-prefix)" in log


@pytest.mark.parametrize(
    ("key_id", "code", "says"),
    [(None, "SignatureDoesNotMatch", "refused the secret key"), ("nobody", "InvalidAccessKeyId", "access key")],
)
def test_wrong_credentials_name_where_they_come_from(
    tmp_path: Path,
    s3: Storage,
    termination_log: Path,
    monkeypatch: pytest.MonkeyPatch,
    key_id: str | None,
    code: str,
    says: str,
) -> None:
    _uploaded(s3)
    secret = os.environ["AWS_SECRET_ACCESS_KEY"]
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-" + secret)
    if key_id:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key_id)
    run = check(tmp_path, "--annotations-key", "set/annotations.json")
    assert run.exit_code == 2, run.output
    log = termination_log.read_text()
    assert code in log and says in log and CREDS in log
    assert secret not in run.output + log and "bucket" not in log  # one cause, and no secret in it


def test_an_endpoint_that_does_not_answer_is_retryable(
    tmp_path: Path, s3_server: S3Server, termination_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    run = check(tmp_path, "--annotations-key", "set/annotations.json")
    assert run.exit_code == 3 and "http://127.0.0.1:9" in termination_log.read_text(), run.output


def test_termination_message_is_bounded_and_only_written_inside_a_pod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log"
    monkeypatch.setenv("ODPIPE_TERMINATION_LOG", str(path))
    record("nowhere to go")
    assert not path.exists()
    path.touch()
    record("é" * LIMIT)
    assert len(path.read_bytes()) <= LIMIT and path.read_text().endswith("...")


def _pipeline(*sets: str) -> dict[str, Any]:
    docs = render(WORKFLOWS, sets=("s3.endpoint=minio:9000", *sets))
    return next(d for d in docs if d["kind"] == "WorkflowTemplate" and d["metadata"]["name"] == "odpipe-pipeline")


def _upstream(tasks: dict[str, dict[str, Any]], name: str) -> set[str]:
    deps = {d.strip() for d in (tasks[name].get("depends") or "").split("&&") if d.strip()}
    return deps.union(*(_upstream(tasks, d) for d in deps)) if deps else set()


def test_check_inputs_runs_before_any_step_that_loads_an_artifact() -> None:
    # Found on the real cluster: an input artifact is loaded by argoexec, whose message for a wrong bucket
    # does not name it. prepare, the first task, has no input artifact: it runs check-inputs in its own
    # container, then fetches the annotations itself; every other task comes after it. check-inputs was
    # a pod of its own before, ~4 s of every run (docs/cluster.md "Where the time goes").
    wt = _pipeline()
    dag = next(t for t in wt["spec"]["templates"] if t["name"] == "pipeline")["dag"]["tasks"]
    tasks = {t["name"]: t for t in dag}
    assert [t["name"] for t in wt["spec"]["templates"]] == ["pipeline"]  # no check-inputs pod of its own
    assert "depends" not in tasks["prepare"]
    assert all("prepare" in _upstream(tasks, name) for name in tasks if name != "prepare")
    passed = {p["name"] for p in tasks["prepare"]["arguments"]["parameters"]}
    assert {"annotations-key", "images-prefix"} <= passed

    prepare = _step_template("odpipe-prepare")
    assert "artifacts" not in prepare.get("inputs", {})  # nothing for argoexec to load before the check
    container = prepare["container"]
    args = container["args"]
    assert "--check-inputs" in args
    assert args[args.index("--annotations-key") + 1] == "{{inputs.parameters.annotations-key}}"
    assert args[args.index("--images-prefix") + 1] == "{{inputs.parameters.images-prefix}}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
    secret, keys = {r["name"] for r in refs}.pop(), ", ".join(r["key"] for r in refs)
    assert env["ODPIPE_CREDENTIALS_FROM"] == f"Secret {secret} (keys {keys})"  # the Secret the env reads


def _step_template(name: str, *sets: str) -> dict[str, Any]:
    docs = render(WORKFLOWS, sets=("s3.endpoint=minio:9000", *sets))
    wt = next(d for d in docs if d["kind"] == "WorkflowTemplate" and d["metadata"]["name"] == name)
    return next(t for t in wt["spec"]["templates"] if "container" in t)


def test_check_inputs_can_be_turned_off() -> None:
    sets = ("workflow.checkInputs.enabled=false", "memoize.enabled=false")  # memoize needs it
    args = _step_template("odpipe-prepare", *sets)["container"]["args"]
    assert "--check-inputs" not in args and "--annotations-key" in args
    wt = _pipeline(*sets)
    dag = next(t for t in wt["spec"]["templates"] if t["name"] == "pipeline")["dag"]["tasks"]
    assert [t["name"] for t in dag] == ["prepare", "train", "export-deploy"] and "depends" not in dag[0]


def _prepare(tmp_path: Path, *args: str) -> Any:
    return odpipe(tmp_path, "prepare", "--check-inputs", *args, env={"ODPIPE_CREDENTIALS_FROM": CREDS})


def test_prepare_checks_its_inputs_before_it_reads_anything(
    tmp_path: Path, s3: Storage, termination_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`odpipe prepare --check-inputs`, as the pipeline runs it: a wrong key and a wrong bucket are named
    with their parameter and chart value, exit 2, and nothing was fetched or written."""
    datasets = _uploaded(s3)
    run = _prepare(tmp_path, "--annotations-key", "other/annotations.json", "--images-prefix", "set/images")
    assert run.exit_code == 2, run.output
    assert f"s3://{datasets}/other/annotations.json (parameter annotations-key)" in termination_log.read_text()
    monkeypatch.setenv("ODPIPE_MODELS_BUCKET", "no-such-models")
    run = _prepare(tmp_path, "--annotations-key", "set/annotations.json", "--images-prefix", "set/images")
    assert run.exit_code == 2, run.output
    assert "'no-such-models' (s3.buckets.models" in termination_log.read_text()
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "termination-log"]


def test_prepare_fetches_the_annotations_key_itself_once_the_check_passes(
    tmp_path: Path, s3: Storage, shapes: Path
) -> None:
    """The pipeline's prepare: check-inputs passes, then the annotations come from the datasets bucket
    at --annotations-key (no Argo input artifact), the images from --images-prefix; the same dataset id
    as from the local files."""
    datasets = os.environ["ODPIPE_DATASETS_BUCKET"]
    annotations, images = shapes / "annotations.json", shapes / "images"
    s3.put_bytes(datasets, "set/annotations.json", annotations.read_bytes())
    for image in images.iterdir():
        s3.put_bytes(datasets, f"set/images/{image.name}", image.read_bytes())
    run = _prepare(tmp_path / "s3", "--annotations-key", "set/annotations.json", "--images-prefix", "set/images")
    assert run.exit_code == 0, run.output
    assert f"s3://{datasets}/set/annotations.json" in run.output  # check-inputs' ok line
    local = odpipe(tmp_path / "local", "prepare", "--annotations", str(annotations), "--images", str(images))
    assert local.exit_code == 0, local.output
    ids = [json.loads((root / "artifacts/outputs/dataset.json").read_text())["dataset_id"]
           for root in (tmp_path / "s3", tmp_path / "local")]  # fmt: skip
    assert ids[0] == ids[1], ids


def test_every_task_container_puts_its_failure_in_the_node_message() -> None:
    # Argo appends the container's termination message to "Error (exit code N)": odpipe writes its error
    # there (termination.record), and a crash without one falls back to the last log lines
    docs = render(WORKFLOWS, sets=("s3.endpoint=minio:9000",))
    containers = {
        f"{d['metadata']['name']}/{t['name']}": t["container"]
        for d in docs
        if d["kind"] == "WorkflowTemplate"
        for t in d["spec"]["templates"]
        if "container" in t
    }
    assert len(containers) == 3, sorted(containers)
    for name, container in containers.items():
        assert container.get("terminationMessagePolicy") == "FallbackToLogsOnError", name
        assert "terminationMessagePath" not in container, name  # the kubelet's default, which record() writes


def test_picture_folders_whose_report_was_collected_are_swept(tmp_path: Path, s3: Storage) -> None:
    """Argo's S3 delete removes only an artifact's key: a deleted workflow's `<report>-files/` folders stay
    (seen on the cluster). check-inputs deletes a folder whose report is gone once its newest file is old
    enough, and never a folder whose report is there (a live workflow's, or one still uploading)."""
    datasets = _uploaded(s3)
    artifacts = os.environ["ODPIPE_ARTIFACTS_BUCKET"]
    orphans = ["gone/gone-prepare-1/dataset-report-files/a.jpg", "gone/gone-prepare-1/dataset-report-files/b.svg",
               "gone/gone-train-2/evaluation-report-files/pr.png"]  # fmt: skip
    live = ["live/live-prepare-1/dataset-report.html", "live/live-prepare-1/dataset-report-files/a.jpg"]
    for key in (*orphans, *live, "gone/gone-train-2/run.tgz"):
        s3.put_bytes(artifacts, key, b"x")
    young = check(tmp_path, "--annotations-key", "set/annotations.json", "--sweep-report-pictures-after", "3600")
    assert young.exit_code == 0 and "0 files in 0 folders" in young.output, young.output
    run = check(tmp_path, "--annotations-key", "set/annotations.json", "--sweep-report-pictures-after", "0")
    assert run.exit_code == 0 and "3 files in 2 folders" in run.output, run.output
    left = sorted(o.key for o in s3.list(artifacts))
    assert left == sorted([*live, "gone/gone-train-2/run.tgz"])  # only picture folders are ever swept
    assert [o.key for o in s3.list(datasets)] == ["set/annotations.json", "set/images/a.jpg"]
