"""Shared fixtures: a real SeaweedFS S3 server, the shared test data, synthetic COCO sets."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from odpipe.common.storage import Storage, s3_client
from odpipe.local.s3server import S3Server

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
TESTDATA = SHARED / "testdata"

# Tests must never reach the network: Ultralytics, onnxruntime and albumentations are told so here too.
os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_AUTOINSTALL", "0")
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def shared_testdata(*parts: str) -> Path:
    path = TESTDATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared test data not present: {path} (the tests read ../shared/testdata beside the repo)")
    return path


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One real SeaweedFS S3 server for the session: 127.0.0.1, auth on, free ports, own temp dir."""
    server = S3Server(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def drop_bucket(server: S3Server, bucket: str) -> None:
    """Empty and delete a bucket; SeaweedFS then frees the bucket's volumes."""
    client = s3_client(
        server.endpoint_url,
        access_key=server.credentials.access_key,
        secret_key=server.credentials.secret_key,
        max_attempts=2,
    )
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": obj["Key"]} for obj in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def s3(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[Storage]:
    """Environment pointing at the server, with fresh buckets for this test (names from the env vars).

    The buckets are deleted afterwards, so a long session does not pile up SeaweedFS volumes.
    """
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    suffix = uuid.uuid4().hex[:8]
    storage = Storage()
    names = []
    for env, base in (
        ("ODPIPE_DATASETS_BUCKET", "datasets"),
        ("ODPIPE_MODELS_BUCKET", "models"),
        ("ODPIPE_ARTIFACTS_BUCKET", "argo-artifacts"),
    ):
        name = f"{base}-{suffix}"
        monkeypatch.setenv(env, name)
        storage.ensure_bucket(name)
        names.append(name)
    yield storage
    for name in names:
        if storage.bucket_exists(name):
            drop_bucket(s3_server, name)


@pytest.fixture
def shapes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small synthetic COCO set: <dir>/annotations.json and <dir>/images/."""
    from odpipe.coco.synthetic import make_dataset

    out = tmp_path_factory.mktemp("shapes")
    make_dataset(out, images=12, size=64, seed=1)
    return out


def write_json(path: Path, doc: object) -> Path:
    path.write_text(json.dumps(doc))
    return path
