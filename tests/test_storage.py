"""The storage module and the embedded S3 server against a real SeaweedFS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from odpipe.common.errors import StorageError
from odpipe.common.storage import S3Uri, Storage, sha256_file
from odpipe.local.s3server import VOLUME_MAX, S3Server


def test_upload_download_verified_and_atomic(s3: Storage, tmp_path: Path) -> None:
    import base64
    import hashlib

    bucket = os.environ["ODPIPE_DATASETS_BUCKET"]
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    digest = s3.upload_file(src, bucket, "a/blob.bin")
    assert digest == sha256_file(src)
    head = s3.head(bucket, "a/blob.bin", checksum=True)
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(src.read_bytes()).digest()).decode()
    dest = tmp_path / "out" / "blob.bin"
    assert s3.download_file(bucket, "a/blob.bin", dest) == digest
    assert dest.read_bytes() == src.read_bytes()
    assert not list(dest.parent.glob("*.part")), "no temp file left behind"
    # an object whose content no longer matches its sha256 is refused and nothing is written
    s3.client.put_object(Bucket=bucket, Key="a/bad.bin", Body=b"x" * 10, Metadata={"sha256": "0" * 64})
    with pytest.raises(StorageError, match="does not match"):
        s3.download_file(bucket, "a/bad.bin", tmp_path / "bad.bin")
    assert not (tmp_path / "bad.bin").exists() and not list(tmp_path.glob(".bad.bin.*"))


def test_multipart_upload_composite_checksum(s3: Storage, tmp_path: Path) -> None:
    from boto3.s3.transfer import TransferConfig
    from odpipe.common.storage import _StreamHasher

    s3.transfer = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    bucket = os.environ["ODPIPE_MODELS_BUCKET"]
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 * 1024 * 1024))
    assert s3.upload_file(src, bucket, "big.bin") is None  # multipart: no whole-file hash without another pass
    checksum = s3.head(bucket, "big.bin", checksum=True)["ChecksumSHA256"]
    assert checksum.endswith("-3"), checksum
    assert s3.download_file(bucket, "big.bin", tmp_path / "back.bin") == checksum
    assert sha256_file(tmp_path / "back.bin") == sha256_file(src)
    # the composite checksum is recomputed while streaming: a wrong part layout would not match it
    data = src.read_bytes()
    hasher = _StreamHasher([5 * 1024 * 1024, 5 * 1024 * 1024, 2 * 1024 * 1024])
    for i in range(0, len(data), 777_777):
        hasher.update(data[i : i + 777_777])
    assert hasher.composite() == checksum
    other = _StreamHasher([4 * 1024 * 1024, 6 * 1024 * 1024, 2 * 1024 * 1024])
    other.update(data)
    assert other.composite() != checksum


def test_conditional_put_and_errors(s3: Storage) -> None:
    bucket = os.environ["ODPIPE_MODELS_BUCKET"]
    assert s3.put_bytes(bucket, "claim", b"1", if_none_match=True)
    assert not s3.put_bytes(bucket, "claim", b"2", if_none_match=True)
    assert s3.get_bytes(bucket, "claim") == b"1"
    with pytest.raises(StorageError, match="'nope-bucket' does not exist"):
        s3.require_bucket("nope-bucket")
    with pytest.raises(StorageError, match="no such object"):
        s3.get_bytes(bucket, "missing")


def test_wrong_credentials_and_unreachable_endpoint(
    s3_server: S3Server, s3: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = os.environ["ODPIPE_MODELS_BUCKET"]
    s3.put_bytes(bucket, "x", b"1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "wrong")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    with pytest.raises(StorageError, match=r"access denied|InvalidAccessKeyId|SignatureDoesNotMatch|403"):
        Storage(s3_server.endpoint_url, max_attempts=1).get_bytes(bucket, "x")
    with pytest.raises(StorageError, match=r"http://127\.0\.0\.1:9 unreachable"):
        Storage("http://127.0.0.1:9", max_attempts=2, connect_timeout=0.5).bucket_exists("models")


def test_s3_uri() -> None:
    assert S3Uri.parse("s3://b/k/x.json") == S3Uri("b", "k/x.json")
    with pytest.raises(StorageError):
        S3Uri.parse("http://b/k")


def test_server_refuses_a_bad_bucket_name_at_once(tmp_path: Path) -> None:
    server = S3Server(tmp_path, buckets=("ab",), ready_timeout=30)
    with pytest.raises(StorageError, match="InvalidBucketName"):
        server.start()
    assert server.process is None


def test_many_buckets_on_one_server(s3_server: S3Server) -> None:
    """Every bucket takes its own SeaweedFS volume. weed mini's default cap is free disk / volume size
    (18 on a disk with 18 GiB free), which once failed the suite with InternalError on the 19th bucket;
    the server is started with a fixed cap instead."""
    import contextlib
    import uuid

    from botocore.exceptions import ClientError
    from conftest import drop_bucket

    client = s3_server.client()
    names = [f"many-{uuid.uuid4().hex[:8]}-{i}" for i in range(VOLUME_MAX // 2)]
    try:
        for name in names:
            client.create_bucket(Bucket=name)
            client.put_object(Bucket=name, Key="x", Body=name.encode())
        assert [client.get_object(Bucket=n, Key="x")["Body"].read() for n in names] == [n.encode() for n in names]
    finally:
        for name in names:
            with contextlib.suppress(ClientError):  # created only up to the failure
                drop_bucket(s3_server, name)
