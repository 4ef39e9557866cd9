"""S3 storage on boto3: the one storage code path for the cluster, `odpipe run` and the tests.

Endpoint, region and credentials come from the variables boto3 already reads (AWS_ENDPOINT_URL,
AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); bucket names from odpipe's own
(see `contract`). Every upload carries a sha256 in its metadata and is verified after it lands;
every download goes to a temp file that is checked and renamed, so no reader ever sees half a file.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odpipe import contract
from odpipe.errors import StorageError

SHA256_META = "sha256"
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
_HASH_BLOCK = 1024 * 1024


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Uri:
        if not uri.startswith("s3://"):
            raise StorageError(f"not an S3 URI (expected s3://bucket/key): {uri!r}")
        bucket, _, key = uri[len("s3://") :].partition("/")
        if not bucket:
            raise StorageError(f"S3 URI without a bucket: {uri!r}")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def is_s3_uri(value: str) -> bool:
    return value.startswith("s3://")


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str


@dataclass(frozen=True)
class Buckets:
    datasets: str
    models: str
    artifacts: str

    @classmethod
    def from_env(cls) -> Buckets:
        return cls(
            datasets=os.environ.get(contract.ENV_DATASETS_BUCKET, contract.DEFAULT_DATASETS_BUCKET),
            models=os.environ.get(contract.ENV_MODELS_BUCKET, contract.DEFAULT_MODELS_BUCKET),
            artifacts=os.environ.get(contract.ENV_ARTIFACTS_BUCKET, contract.DEFAULT_ARTIFACTS_BUCKET),
        )


class Storage:
    """A thin, verified layer over one boto3 S3 client."""

    def __init__(
        self,
        endpoint_url: str | None = None,
        *,
        max_attempts: int = 5,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        client: Any | None = None,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or "(AWS default)"
        config = Config(
            retries={"mode": "standard", "max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            s3={"addressing_style": "path"},
            # Only send/validate checksums where the operation requires them: S3-compatible servers
            # differ in what they support, and odpipe verifies its own sha256 metadata instead.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        # A session of its own: boto3's default session caches credentials for the whole process.
        self.client = client or boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
            region_name=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
            config=config,
        )
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK, use_threads=True
        )

    # -- errors ---------------------------------------------------------------------------------
    def _fail(self, action: str, bucket: str, key: str, exc: Exception) -> StorageError:
        from botocore.exceptions import ClientError, EndpointConnectionError

        where = f"s3://{bucket}/{key}" if key else f"bucket {bucket!r}"
        if isinstance(exc, EndpointConnectionError):
            return StorageError(f"{action} {where}: S3 endpoint {self.endpoint_url} unreachable after retries ({exc})")
        if isinstance(exc, ClientError):
            code = exc.response.get("Error", {}).get("Code", "?")
            if code in ("NoSuchBucket",):
                return StorageError(f"{action} {where}: bucket {bucket!r} does not exist at {self.endpoint_url}")
            if code in ("NoSuchKey", "404", "NotFound"):
                return StorageError(f"{action} {where}: no such object at {self.endpoint_url}")
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"):
                return StorageError(
                    f"{action} {where}: access denied at {self.endpoint_url} ({code}); check the credentials"
                )
            return StorageError(f"{action} {where} at {self.endpoint_url}: {code}: {exc}")
        return StorageError(f"{action} {where} at {self.endpoint_url}: {exc}")

    # -- buckets --------------------------------------------------------------------------------
    def bucket_exists(self, bucket: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=bucket)
            return True
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise self._fail("checking", bucket, "", exc) from exc
        except Exception as exc:
            raise self._fail("checking", bucket, "", exc) from exc

    def require_bucket(self, bucket: str) -> None:
        if not self.bucket_exists(bucket):
            raise StorageError(f"bucket {bucket!r} does not exist at S3 endpoint {self.endpoint_url}")

    def ensure_bucket(self, bucket: str) -> None:
        if not self.bucket_exists(bucket):
            try:
                self.client.create_bucket(Bucket=bucket)
            except Exception as exc:
                raise self._fail("creating", bucket, "", exc) from exc

    # -- objects --------------------------------------------------------------------------------
    def head(self, bucket: str, key: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise self._fail("reading", bucket, key, exc) from exc
        except Exception as exc:
            raise self._fail("reading", bucket, key, exc) from exc

    def exists(self, bucket: str, key: str) -> bool:
        return self.head(bucket, key) is not None

    def list(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    yield ObjectInfo(obj["Key"], int(obj["Size"]), str(obj.get("ETag", "")).strip('"'))
        except Exception as exc:
            raise self._fail("listing", bucket, prefix, exc) from exc

    def upload_file(self, path: Path, bucket: str, key: str, *, sha256: str | None = None) -> str:
        """Upload and verify (size and sha256 metadata); returns the sha256.

        Single PUTs and completed multipart uploads are atomic in S3: readers see the old object or
        the whole new one, never a part. A failed multipart upload is aborted by the transfer manager.
        """
        digest = sha256 or sha256_file(path)
        size = path.stat().st_size
        try:
            self.client.upload_file(
                str(path), bucket, key, ExtraArgs={"Metadata": {SHA256_META: digest}}, Config=self.transfer
            )
        except Exception as exc:
            raise self._fail("uploading to", bucket, key, exc) from exc
        self._verify_remote(bucket, key, size, digest)
        return digest

    def _verify_remote(self, bucket: str, key: str, size: int, digest: str) -> None:
        head = self.head(bucket, key)
        if head is None:
            raise StorageError(f"uploaded s3://{bucket}/{key} but it is not there at {self.endpoint_url}")
        remote_size = int(head["ContentLength"])
        remote_sha = head.get("Metadata", {}).get(SHA256_META)
        if remote_size != size or (remote_sha and remote_sha != digest):
            raise StorageError(
                f"s3://{bucket}/{key}: verification failed after upload "
                f"(size {remote_size} vs {size}, sha256 {remote_sha} vs {digest})"
            )

    def put_bytes(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        if_none_match: bool = False,
    ) -> bool:
        """PUT a small object. With ``if_none_match`` the write only happens when the key is absent;
        returns False when another writer got there first."""
        from botocore.exceptions import ClientError

        digest = hashlib.sha256(data).hexdigest()
        kwargs: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "Body": data,
            "ContentType": content_type,
            "Metadata": {SHA256_META: digest},
        }
        if if_none_match:
            kwargs["IfNoneMatch"] = "*"
        try:
            self.client.put_object(**kwargs)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if if_none_match and code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return False
            raise self._fail("writing", bucket, key, exc) from exc
        except Exception as exc:
            raise self._fail("writing", bucket, key, exc) from exc
        return True

    def get_bytes(self, bucket: str, key: str) -> bytes:
        try:
            return self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise self._fail("reading", bucket, key, exc) from exc

    def download_file(self, bucket: str, key: str, dest: Path, *, expected_size: int | None = None) -> str:
        """Download to a temp file beside ``dest``, verify size and sha256 metadata, rename. Returns sha256."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        head = self.head(bucket, key)
        if head is None:
            raise StorageError(f"s3://{bucket}/{key}: no such object at {self.endpoint_url}")
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
        tmp = Path(tmp_name)
        try:
            # One streamed GET, hashed as it is written: a single pass over the bytes, no re-read.
            digest_obj = hashlib.sha256()
            try:
                body = self.client.get_object(Bucket=bucket, Key=key)["Body"]
                with os.fdopen(fd, "wb") as fh:
                    for chunk in body.iter_chunks(_HASH_BLOCK * 4):
                        digest_obj.update(chunk)
                        fh.write(chunk)
            except Exception as exc:
                raise self._fail("downloading", bucket, key, exc) from exc
            size = tmp.stat().st_size
            want_size = int(head["ContentLength"]) if expected_size is None else expected_size
            digest = digest_obj.hexdigest()
            want_sha = head.get("Metadata", {}).get(SHA256_META)
            if size != want_size or (want_sha and want_sha != digest):
                raise StorageError(
                    f"s3://{bucket}/{key}: downloaded copy does not match (size {size} vs {want_size}, "
                    f"sha256 {digest} vs {want_sha})"
                )
            os.replace(tmp, dest)
            return digest
        finally:
            tmp.unlink(missing_ok=True)

    def delete(self, bucket: str, key: str) -> None:
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise self._fail("deleting", bucket, key, exc) from exc
