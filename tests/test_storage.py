"""The storage module and the embedded S3 server against a real SeaweedFS."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from odpipe.errors import StorageError
from odpipe.local.s3server import S3Server
from odpipe.storage import S3Uri, Storage, sha256_file


def test_upload_download_verified_and_atomic(s3: Storage, tmp_path: Path) -> None:
    bucket = os.environ["ODPIPE_DATASETS_BUCKET"]
    src = tmp_path / "blob.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    digest = s3.upload_file(src, bucket, "a/blob.bin")
    assert digest == sha256_file(src)
    assert s3.head(bucket, "a/blob.bin")["Metadata"]["sha256"] == digest
    dest = tmp_path / "out" / "blob.bin"
    assert s3.download_file(bucket, "a/blob.bin", dest) == digest
    assert dest.read_bytes() == src.read_bytes()
    assert not list(dest.parent.glob("*.part")), "no temp file left behind"
    # a corrupted object (its sha256 metadata no longer matches) is refused and nothing is written
    s3.client.put_object(Bucket=bucket, Key="a/bad.bin", Body=b"x" * 10, Metadata={"sha256": "0" * 64})
    with pytest.raises(StorageError, match="does not match"):
        s3.download_file(bucket, "a/bad.bin", tmp_path / "bad.bin")
    assert not (tmp_path / "bad.bin").exists() and not list(tmp_path.glob(".bad.bin.*"))


def test_multipart_upload_above_the_threshold(s3: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from boto3.s3.transfer import TransferConfig

    s3.transfer = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    bucket = os.environ["ODPIPE_MODELS_BUCKET"]
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(12 * 1024 * 1024))
    s3.upload_file(src, bucket, "big.bin")
    assert "-" in s3.head(bucket, "big.bin")["ETag"], "a multipart upload has a composite ETag"
    assert s3.download_file(bucket, "big.bin", tmp_path / "back.bin") == sha256_file(src)


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
