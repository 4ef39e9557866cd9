"""check-inputs, the pipeline's first step: each wrong bucket, key, prefix or credential named, on a real
S3 server; and the chart runs it before any step whose input artifact Argo's executor loads."""

from __future__ import annotations

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
    # Found on the real cluster: prepare's `annotations` input artifact is loaded by argoexec, whose
    # message for a wrong bucket does not name it. Every step must come after check-inputs, which loads
    # no artifact itself, and it must check what the step templates read: the same buckets and Secret.
    wt = _pipeline()
    dag = next(t for t in wt["spec"]["templates"] if t["name"] == "pipeline")["dag"]["tasks"]
    tasks = {t["name"]: t for t in dag}
    check_tpl = next(t for t in wt["spec"]["templates"] if t["name"] == "check-inputs")
    assert "artifacts" not in check_tpl.get("inputs", {})
    assert all("check-inputs" in _upstream(tasks, name) for name in tasks if name != "check-inputs")
    passed = {p["name"]: p["value"] for p in tasks["check-inputs"]["arguments"]["parameters"]}
    assert passed == {k: f"{{{{workflow.parameters.{k}}}}}" for k in ("annotations-key", "images-prefix")}

    container = check_tpl["container"]
    args = container["args"]
    assert args[args.index("--annotations-key") + 1] == "{{inputs.parameters.annotations-key}}"
    env = {e["name"]: e.get("value") for e in container["env"]}
    refs = [e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e]
    secret, keys = {r["name"] for r in refs}.pop(), ", ".join(r["key"] for r in refs)
    assert env["ODPIPE_CREDENTIALS_FROM"] == f"Secret {secret} (keys {keys})"  # the Secret the env reads
    prepare_env = {e["name"]: e.get("value") for e in _step_container("odpipe-prepare")["env"]}
    for var in ("ODPIPE_DATASETS_BUCKET", "ODPIPE_MODELS_BUCKET", "ODPIPE_ARTIFACTS_BUCKET", "AWS_ENDPOINT_URL"):
        assert env[var] == prepare_env[var], var
    assert check_tpl["metadata"]["labels"]["odpipe.dev/egress"] == "restricted"  # MinIO's policy lets it in


def _step_container(name: str) -> dict[str, Any]:
    docs = render(WORKFLOWS, sets=("s3.endpoint=minio:9000",))
    wt = next(d for d in docs if d["kind"] == "WorkflowTemplate" and d["metadata"]["name"] == name)
    return next(t for t in wt["spec"]["templates"] if "container" in t)["container"]


def test_check_inputs_can_be_turned_off() -> None:
    wt = _pipeline("workflow.checkInputs.enabled=false", "memoize.enabled=false")  # memoize needs it
    dag = next(t for t in wt["spec"]["templates"] if t["name"] == "pipeline")["dag"]["tasks"]
    assert [t["name"] for t in dag] == ["prepare", "train", "export-deploy"] and "depends" not in dag[0]
    assert all(t["name"] != "check-inputs" for t in wt["spec"]["templates"])


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
    assert len(containers) == 4, sorted(containers)
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
