"""S3 server killed (SIGKILL of `weed mini`) at every request of a transfer: prepare's image sync,
export-deploy's model upload and card write, and `odpipe run`'s artifact moves (which carry train's
inputs). Each attempt ends in exit 3 naming the bucket or object; nothing half-written looks finished;
after a restart on the same state the retry completes with byte-identical objects, and nothing that
was stored before the fault is lost.

The kill point is the N-th HTTP request any boto3 client sends (a botocore hook, faults.s3): the server
dies before that request goes out, as after a crash mid-transfer. `make faults` tries every N; the
cheap form a spread of three.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from faults.record import Tally, full
from faults.s3 import KillableS3, RequestCounter, counting, lost_bytes, server_at
from odpipe.cli import app
from odpipe.common.errors import StorageError
from odpipe.common.storage import Storage
from odpipe.export.repository import ModelRepository
from odpipe.local.staging import ArtifactStore, collect_outputs, fetch_inputs
from typer.testing import CliRunner

pytestmark = [pytest.mark.faults, pytest.mark.slow]
BUCKET = "faults-data"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KillableS3]:
    srv = server_at(tmp_path_factory.mktemp("killable") / "s3", (BUCKET,))
    srv.start()
    srv.put_probe(BUCKET)
    try:
        yield srv
    finally:
        srv.stop()


def kill_points(total: int) -> list[int]:
    """Every request in `make faults`; first, middle and last in the cheap form."""
    return list(range(1, total + 1)) if full() else sorted({1, (total + 1) // 2, total})


def alive(server: KillableS3) -> None:
    if server.process is None:
        server.restart()


def _prepare(server: KillableS3, root: Path, prefix: str) -> tuple[int, str]:
    env = {**server.env(), "ODPIPE_ROOT": str(root), "COLUMNS": "200"}
    args = ["prepare", "--annotations", f"s3://{BUCKET}/{prefix}/annotations.json"]
    args += ["--images", f"s3://{BUCKET}/{prefix}/images/", "--workers", "1"]
    result = CliRunner().invoke(app, args, env=env, catch_exceptions=False)
    return result.exit_code, result.output


def _finished_datasets(root: Path) -> list[str]:
    folder = root / "data" / "datasets"
    return [p.name for p in folder.iterdir() if not p.name.startswith(".")] if folder.exists() else []


def test_s3_killed_during_prepare_image_sync(server: KillableS3, shapes: Path, tmp_path: Path) -> None:
    client = server.raw_client()
    client.upload_file(str(shapes / "annotations.json"), BUCKET, "shapes/annotations.json")
    for image in sorted((shapes / "images").iterdir()):
        client.upload_file(str(image), BUCKET, f"shapes/images/{image.name}")
    before = server.snapshot(BUCKET)
    with counting(RequestCounter(server)) as ref:
        code, out = _prepare(server, tmp_path / "reference", "shapes")
    assert code == 0, out
    want_id = (tmp_path / "reference/artifacts/outputs/params/dataset-id").read_text()
    tally = Tally("S3 killed: prepare image sync", f"{ref.sent} requests, killed before each")
    for n in kill_points(ref.sent):
        root = tmp_path / f"kill-{n}"
        with counting(RequestCounter(server, kill_at=n)):
            code, out = _prepare(server, root, "shapes")
        named = code == 3 and f"{BUCKET}" in out and "error:" in out
        clean = not _finished_datasets(root) and not (root / "artifacts/outputs/dataset.json").exists()
        server.restart()
        code2, _ = _prepare(server, root, "shapes")
        same = code2 == 0 and (root / "artifacts/outputs/params/dataset-id").read_text() == want_id
        lost = lost_bytes(before, server.snapshot(BUCKET))
        tally.case(named and clean and same, f"kill at {n}: exit {code} {out[-300:]!r}; retry {code2}", lost)
    tally.close()


def _publish(storage: Storage, model: Path, uid: str) -> Any:
    repo = ModelRepository(storage, BUCKET)
    card = {"sha256": hashlib.sha256(model.read_bytes()).hexdigest(), "metrics": {"map50_95": 0.5}}
    owner = {"workflow_name": "faults", "workflow_uid": uid, "host": "test"}
    return repo.publish("m", model, card, 'name: "m"\n', owner, sha256=card["sha256"])


def _half_written(repo: ModelRepository) -> list[int]:
    """Versions holding a model without its card or a card without its model."""
    return [v for v, files in repo.versions("m").items() if ("model.onnx" in files) != ("model-card.json" in files)]


def test_s3_killed_during_model_upload_and_card_write(server: KillableS3, tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(hashlib.sha256(b"seed").digest() * 100_000)  # 3.2 MB
    alive(server)
    with counting(RequestCounter(server)) as ref:
        _publish(Storage(server.endpoint_url, client=server.raw_client()), model, "reference")
    tally = Tally("S3 killed: export-deploy model upload + card", f"{ref.sent} requests, killed before each")
    for n in kill_points(ref.sent):
        storage = Storage(server.endpoint_url, client=server.raw_client())
        repo = ModelRepository(storage, BUCKET)
        deployed_before, before = repo.deployed("m"), server.snapshot(BUCKET)
        error: StorageError | None = None
        with counting(RequestCounter(server, kill_at=n)):
            try:
                _publish(Storage(server.endpoint_url, client=server.raw_client()), model, f"wf-{n}")
            except StorageError as exc:
                error = exc
        server.restart()
        published = _publish(storage, model, f"wf-{n}")  # the retried step: same workflow
        new = sorted(set(repo.deployed("m")) - set(deployed_before))
        stored = server.snapshot(BUCKET)
        ok = (
            error is not None
            and error.exit_code == 3
            and "s3://" in str(error)
            and not _half_written(repo)
            and new == [published.version]
            and stored[f"m/{published.version}/model.onnx"] == model.read_bytes()
        )
        tally.case(ok, f"kill at {n}: {error}; new versions {new}", lost_bytes(before, stored))
    tally.close()


TEMPLATE: dict[str, Any] = {
    "inputs": {"artifacts": [{"name": "manifest", "path": "/in/dataset.json"}, {"name": "run", "path": "/in/run"}]},
    "outputs": {
        "artifacts": [
            {"name": "manifest", "path": "/out/dataset.json", "archive": {"none": {}}},
            {"name": "run", "path": "/out/run"},
        ]
    },
}


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _move(store: ArtifactStore, src: Path, dest: Path, prefix: str) -> None:
    """A step's outputs up to the artifact bucket, then down as the next step's inputs."""
    _, keys = collect_outputs(store, "step-a", src, TEMPLATE, prefix)
    sources = {name: f"artifact:{key}" for name, key in keys.items()}
    fetch_inputs(store, "step-b", dest, TEMPLATE, {}, sources)


def test_s3_killed_during_run_artifact_moves(server: KillableS3, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "out/run/weights").mkdir(parents=True)
    (src / "out/dataset.json").write_text(json.dumps({"dataset_id": "x" * 64}))
    (src / "out/run/weights/best.pt").write_bytes(hashlib.sha256(b"w").digest() * 50_000)
    (src / "out/run/results.csv").write_text("epoch,map\n1,0.5\n")
    alive(server)
    with counting(RequestCounter(server)) as ref:
        store = ArtifactStore(Storage(server.endpoint_url, client=server.raw_client()), BUCKET)
        _move(store, src, tmp_path / "reference", "wf/ref")
    want = _tree(tmp_path / "reference/in")
    tally = Tally("S3 killed: odpipe run artifact moves", f"{ref.sent} requests, killed before each")
    for n in kill_points(ref.sent):
        before, dest = server.snapshot(BUCKET), tmp_path / f"kill-{n}"
        error: StorageError | None = None
        with counting(RequestCounter(server, kill_at=n)):
            try:
                _move(
                    ArtifactStore(Storage(server.endpoint_url, client=server.raw_client()), BUCKET),
                    src,
                    dest,
                    f"wf/{n}",
                )
            except StorageError as exc:
                error = exc
        placed = _tree(dest / "in") if (dest / "in").exists() else {}
        complete_or_absent = all(want.get(name) == data for name, data in placed.items())  # no partial file
        server.restart()
        _move(store, src, dest, f"wf/{n}")
        ok = error is not None and error.exit_code == 3 and "s3://" in str(error) and complete_or_absent
        tally.case(
            ok and _tree(dest / "in") == want, f"kill at {n}: {error}", lost_bytes(before, server.snapshot(BUCKET))
        )
    tally.close()


def test_a_restarted_server_is_ready_only_once_objects_read_back(tmp_path: Path) -> None:
    """After a SIGKILL, weed answers bucket calls before object reads work; S3Server.start() waits for a
    read, so `odpipe run --resume` right after a crash reads its artifacts on the first try."""
    srv = server_at(tmp_path / "s3", (BUCKET,))
    srv.start()
    try:
        srv.put_probe(BUCKET)
        for _ in range(3):
            srv.kill()
            srv.start()  # the product's own readiness, not the test helper's restart()
            once = boto3.client(
                "s3", endpoint_url=srv.endpoint_url, region_name="us-east-1",
                aws_access_key_id=srv.credentials.access_key, aws_secret_access_key=srv.credentials.secret_key,
                config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}),
            )  # fmt: skip
            assert once.get_object(Bucket=BUCKET, Key=".probe")["Body"].read() == b"probe"
    finally:
        srv.stop()
