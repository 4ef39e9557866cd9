"""S3 storage on boto3: the one storage code path for the cluster, `odpipe run` and the tests.

Endpoint, region and credentials come from the variables boto3 already reads (AWS_ENDPOINT_URL,
AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY); bucket names from odpipe's own
(see `contract`). Every upload carries S3's own SHA-256 checksum, computed while the bytes stream
(per part for multipart uploads) and validated by the server on receipt; every download is hashed as it
streams into a temp file, checked against that checksum (or an `sha256` metadata entry written by
others), and renamed into place, so no reader ever sees half a file.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odpipe.common.atomic import replacing
from odpipe.common.errors import StorageError
from odpipe.formats import contract

SHA256_META = "sha256"
MULTIPART_THRESHOLD = 64 * 1024 * 1024
MULTIPART_CHUNK = 16 * 1024 * 1024
_HASH_BLOCK = 1024 * 1024
S3_SCHEME = "s3://"


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
        if not is_s3_uri(uri):
            raise StorageError(f"not an S3 URI (expected s3://bucket/key): {uri!r}")
        bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
        if not bucket:
            raise StorageError(f"S3 URI without a bucket: {uri!r}")
        return cls(bucket, key)

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}"


def error_code(exc: Exception) -> str:
    """The S3 error code of a botocore ClientError ("NoSuchBucket", "403", ...); "" for anything else."""
    response: dict[str, Any] = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def is_s3_uri(value: str) -> bool:
    return value.startswith(S3_SCHEME)


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    modified: float = 0.0  # seconds since the epoch


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


SYNC_THREADS = 16  # concurrent object downloads of one sync: S3 latency, not CPU, bounds them


def s3_client(
    endpoint_url: str | None = None,
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
    region: str | None = None,
    max_attempts: int = 5,
    connect_timeout: float = 5.0,
    read_timeout: float = 60.0,
) -> Any:
    """The one way odpipe makes a boto3 S3 client. Unset arguments fall back to boto3's own variables
    (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), the region to AWS_DEFAULT_REGION or
    us-east-1. Path-style addressing, standard retries."""
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        s3={"addressing_style": "path"},
        max_pool_connections=SYNC_THREADS * 2,  # parallel syncs and multipart downloads share the pool
        # Only send/validate checksums where the operation requires them: S3-compatible servers
        # differ in what they support, and odpipe verifies its own sha256 metadata instead.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    # A session of its own: boto3's default session caches credentials for the whole process.
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None,
        region_name=region or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=config,
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
        from boto3.s3.transfer import TransferConfig

        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or "(AWS default)"
        self.client = client or s3_client(
            endpoint_url, max_attempts=max_attempts, connect_timeout=connect_timeout, read_timeout=read_timeout
        )
        self.transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK, use_threads=True
        )

    # -- errors ---------------------------------------------------------------------------------
    def _fail(self, action: str, bucket: str, key: str, exc: Exception) -> StorageError:
        from botocore.exceptions import ClientError, EndpointConnectionError

        where = str(S3Uri(bucket, key)) if key else f"bucket {bucket!r}"
        if isinstance(exc, EndpointConnectionError):
            return StorageError(f"{action} {where}: S3 endpoint {self.endpoint_url} unreachable after retries ({exc})")
        if isinstance(exc, ClientError):
            code = error_code(exc) or "?"
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
            if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
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
    def head(self, bucket: str, key: str, *, checksum: bool = False) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            if checksum:
                return self.client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
            return self.client.head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in ("404", "NoSuchKey", "NotFound"):
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
                    when = obj.get("LastModified")
                    yield ObjectInfo(
                        obj["Key"], int(obj["Size"]), str(obj.get("ETag", "")).strip('"'),
                        when.timestamp() if when else 0.0,
                    )  # fmt: skip
        except Exception as exc:
            raise self._fail("listing", bucket, prefix, exc) from exc

    def upload_file(self, path: Path, bucket: str, key: str, *, sha256: str | None = None) -> str | None:
        """Upload with S3's SHA-256 checksum and verify what landed; returns the file's sha256 (hex) when
        it is known without another pass over the file (given, or a single-part upload), else None.

        Single PUTs and completed multipart uploads are atomic in S3: readers see the old object or
        the whole new one, never a part. A failed multipart upload is aborted by the transfer manager.
        """
        size = path.stat().st_size
        extra: dict[str, Any] = {"ChecksumAlgorithm": "SHA256"}
        if sha256:
            extra["Metadata"] = {SHA256_META: sha256}
        try:
            self.client.upload_file(str(path), bucket, key, ExtraArgs=extra, Config=self.transfer)
        except Exception as exc:
            raise self._fail("uploading to", bucket, key, exc) from exc
        head = self.head(bucket, key, checksum=True)
        if head is None:
            raise StorageError(f"uploaded {S3Uri(bucket, key)} but it is not there at {self.endpoint_url}")
        remote_size = int(head["ContentLength"])
        remote_sha = head.get("Metadata", {}).get(SHA256_META)
        if remote_size != size or (sha256 and remote_sha != sha256):
            raise StorageError(
                f"{S3Uri(bucket, key)}: verification failed after upload "
                f"(size {remote_size} vs {size}, sha256 {remote_sha} vs {sha256})"
            )
        checksum = head.get("ChecksumSHA256") or ""
        if sha256:
            return sha256
        if checksum and "-" not in checksum:
            return base64.b64decode(checksum).hex()
        return None

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
            code = error_code(exc)
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

    def _part_sizes(self, bucket: str, key: str, checksum: str) -> list[int] | None:
        """Part sizes of a multipart object (to recompute its composite checksum), or None if unknown."""
        parts_total = int(checksum.rsplit("-", 1)[1])
        try:
            attrs = self.client.get_object_attributes(
                Bucket=bucket, Key=key, ObjectAttributes=["ObjectParts"], MaxParts=max(parts_total, 1)
            )
        except Exception:
            return None
        parts = attrs.get("ObjectParts", {}).get("Parts") or []
        sizes = [int(p["Size"]) for p in sorted(parts, key=lambda p: p["PartNumber"])]
        return sizes if len(sizes) == parts_total else None

    def _download_parts(self, bucket: str, key: str, fd: int, sizes: list[int]) -> list[bytes]:
        """Ranged GETs of each part in parallel, each hashed as it streams and written at its offset;
        returns the part digests (what S3's composite checksum is made of)."""
        from concurrent.futures import ThreadPoolExecutor

        offsets = [sum(sizes[:i]) for i in range(len(sizes))]
        os.ftruncate(fd, sum(sizes))

        def fetch(i: int) -> bytes:
            start, end = offsets[i], offsets[i] + sizes[i] - 1
            body = self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end}")["Body"]
            digest, pos = hashlib.sha256(), start
            for chunk in body.iter_chunks(_HASH_BLOCK * 4):
                digest.update(chunk)
                os.pwrite(fd, chunk, pos)
                pos += len(chunk)
            if pos != end + 1:
                raise StorageError(f"{S3Uri(bucket, key)}: part {i + 1} ended at byte {pos}, expected {end + 1}")
            return digest.digest()

        with ThreadPoolExecutor(max_workers=min(8, len(sizes))) as pool:
            return list(pool.map(fetch, range(len(sizes))))

    def download_file(self, bucket: str, key: str, dest: Path, *, expected_size: int | None = None) -> str:
        """Download to a temp file beside ``dest``, hashing as it streams; verify size and checksum
        (S3's SHA-256, whole-object or composite, or `sha256` metadata); rename. Returns what was verified:
        the sha256 (hex), or S3's composite checksum of a multipart object.

        One GET with the checksum mode on carries the size, checksum and metadata a HEAD would (half the
        requests: what bounds a sync of many small images); a multipart object then switches to ranged
        GETs of its parts."""
        from botocore.exceptions import FlexibleChecksumError

        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            response = self.client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        except Exception as exc:
            raise self._fail("downloading", bucket, key, exc) from exc
        checksum = response.get("ChecksumSHA256") or ""
        parts = self._part_sizes(bucket, key, checksum) if "-" in checksum else None
        want_sha = response.get("Metadata", {}).get(SHA256_META)
        # With a composite checksum the part hashes are the check; the whole-file hash is then skipped
        # unless sha256 metadata asks for it (one hash per byte either way).
        hasher = _StreamHasher(parts, whole=parts is None or bool(want_sha))
        want_size = int(response["ContentLength"]) if expected_size is None else expected_size
        body = response["Body"]
        with replacing(dest, suffix=".part") as tmp:
            fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o666)
            try:
                if parts is not None and hasher.full is None:
                    body.close()
                    try:
                        hasher.digests = self._download_parts(bucket, key, fd, parts)
                    finally:
                        os.close(fd)
                else:
                    with os.fdopen(fd, "wb") as fh:
                        for chunk in body.iter_chunks(_HASH_BLOCK * 4):
                            hasher.update(chunk)
                            fh.write(chunk)
            except FlexibleChecksumError as exc:
                # botocore checks S3's checksum itself when the GET asked for it, at the end of the stream
                raise StorageError(f"{S3Uri(bucket, key)}: downloaded copy does not match ({exc})") from exc
            except Exception as exc:
                raise self._fail("downloading", bucket, key, exc) from exc
            finally:
                body.close()
            problems = _download_problems(tmp.stat().st_size, want_size, hasher, want_sha, checksum, parts)
            if problems:
                raise StorageError(f"{S3Uri(bucket, key)}: downloaded copy does not match ({'; '.join(problems)})")
        return hasher.hexdigest() or hasher.composite()

    def delete(self, bucket: str, key: str) -> None:
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            raise self._fail("deleting", bucket, key, exc) from exc


def _download_problems(
    size: int,
    want_size: int,
    hasher: _StreamHasher,
    want_sha: str | None,
    checksum: str,
    parts: list[int] | None,
) -> list[str]:
    """What a downloaded copy gets wrong against the object's size, sha256 metadata and S3 checksum."""
    digest = hasher.hexdigest()
    problems = []
    if size != want_size:
        problems.append(f"size {size} vs {want_size}")
    if want_sha and want_sha != digest:
        problems.append(f"sha256 {digest} vs metadata {want_sha}")
    if checksum and "-" not in checksum and base64.b64decode(checksum).hex() != digest:
        problems.append(f"sha256 {digest} vs S3 checksum {checksum}")
    if checksum and "-" in checksum and parts is not None and hasher.composite() != checksum:
        problems.append(f"composite SHA-256 {hasher.composite()} vs S3 checksum {checksum}")
    return problems


class _StreamHasher:
    """The whole-object sha256 and, given the part sizes, S3's composite checksum, in one pass."""

    def __init__(self, part_sizes: list[int] | None, whole: bool = True) -> None:
        self.full = hashlib.sha256() if whole else None
        self.sizes = list(part_sizes or [])
        self.part = hashlib.sha256()
        self.left = self.sizes[0] if self.sizes else 0
        self.digests: list[bytes] = []

    def update(self, chunk: bytes) -> None:
        if self.full is not None:
            self.full.update(chunk)
        while chunk and self.sizes:
            take = chunk[: self.left]
            self.part.update(take)
            self.left -= len(take)
            chunk = chunk[len(take) :]
            if self.left == 0:
                self.digests.append(self.part.digest())
                self.sizes.pop(0)
                self.part = hashlib.sha256()
                self.left = self.sizes[0] if self.sizes else 0

    def hexdigest(self) -> str:
        return self.full.hexdigest() if self.full is not None else ""

    def composite(self) -> str:
        combined = hashlib.sha256(b"".join(self.digests)).digest()
        return f"{base64.b64encode(combined).decode()}-{len(self.digests)}"
