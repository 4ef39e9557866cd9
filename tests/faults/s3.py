"""A SeaweedFS S3 server the tests can SIGKILL and restart on the same state folder and ports, and a
hook that kills it at the N-th HTTP request a boto3 client sends (every transfer, every kill point)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from odpipe.local.s3server import S3Server


class KillableS3(S3Server):
    """`weed mini` on a fixed state folder; kill() is a SIGKILL of its whole process group."""

    def kill(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    probe: tuple[str, str] | None = None  # an object written before any fault

    def restart(self) -> float:
        """Start again on the same state and ports; returns the seconds until it served reads.

        After a SIGKILL, `weed mini` answers bucket calls a few seconds before object reads work
        (InternalError until its volumes are back; 1-4 s measured here), so readiness here is a read
        of the probe object."""
        began = time.monotonic()
        self.start()
        if self.probe is not None:
            client = self.raw_client()
            while True:
                try:
                    client.get_object(Bucket=self.probe[0], Key=self.probe[1])["Body"].read()
                    break
                except Exception:
                    if time.monotonic() - began > 60:
                        raise
                    time.sleep(0.2)
        return time.monotonic() - began

    def put_probe(self, bucket: str) -> None:
        self.raw_client().put_object(Bucket=bucket, Key=".probe", Body=b"probe")
        self.probe = (bucket, ".probe")

    def raw_client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.credentials.access_key,
            aws_secret_access_key=self.credentials.secret_key,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard", "max_attempts": 5}),
        )

    def snapshot(self, bucket: str) -> dict[str, bytes]:
        """Every object of a bucket, key -> bytes."""
        client = self.raw_client()
        out = {}
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                out[obj["Key"]] = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        return out


class RequestCounter:
    """Counts the HTTP requests of every boto3 client made while installed; at request `kill_at` it
    SIGKILLs the server before the request goes out (so it meets a dead endpoint, as after a crash)."""

    def __init__(self, server: KillableS3, kill_at: int | None = None) -> None:
        self.server, self.kill_at, self.sent = server, kill_at, 0
        self.operations: list[str] = []

    def before_send(self, request: Any, **_: Any) -> None:
        self.sent += 1
        self.operations.append(f"{request.method} {request.url.split('?')[0].rsplit('/', 2)[-2:]}")
        if self.sent == self.kill_at:
            self.server.kill()


@contextmanager
def counting(counter: RequestCounter) -> Iterator[RequestCounter]:
    """Install the counter on every boto3 client created inside the block (odpipe's own included)."""
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-send.s3", counter.before_send)
        return client

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    try:
        yield counter
    finally:
        botocore.session.Session.create_client = original  # type: ignore[method-assign]


def lost_bytes(before: dict[str, bytes], after: dict[str, bytes]) -> int:
    """Bytes of objects that existed before a fault and are gone or changed after it."""
    return sum(len(data) for key, data in before.items() if after.get(key) != data)


def server_at(state: Path, buckets: tuple[str, ...] = ()) -> KillableS3:
    return KillableS3(state, buckets=buckets, ready_timeout=90.0)
