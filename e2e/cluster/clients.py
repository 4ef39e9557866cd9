"""The release `make e2e` installs and the clients that reach it: kubectl, helm and argo inside the
namespace with the cluster's kubeconfig, and S3 through a `kubectl port-forward` as NOTES.txt says."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .layout import LOCAL
from .up import argo_bin, helm_bin, kubectl

NS = "mlops"  # where the release goes
RELEASE = "odpipe"
ARGO_NS = "argo"  # where Argo Workflows goes (cluster-install)
MODEL = "bccd"  # the model name the e2e publishes and serves


def sh(*cmd: str | Path, input: str | None = None, check: bool = True, timeout: float = 900) -> str:
    proc = subprocess.run(
        [str(x) for x in cmd], input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        shown = " ".join(str(x) for x in cmd[:6])
        raise RuntimeError(f"{shown} ... failed ({proc.returncode}):\n{proc.stderr[-3000:]}{proc.stdout[-2000:]}")
    return proc.stdout


def k(*args: str, check: bool = True, input: str | None = None, timeout: float = 300) -> str:
    return sh(*kubectl(), *args, check=check, input=input, timeout=timeout)


def helm(*args: str, timeout: float = 900) -> str:
    return sh(helm_bin(), f"--kubeconfig={LOCAL / 'kubeconfig'}", *args, timeout=timeout)


def argo(*args: str, check: bool = True, timeout: float = 1800) -> str:
    return sh(argo_bin(), f"--kubeconfig={LOCAL / 'kubeconfig'}", *args, check=check, timeout=timeout)


def s3_credentials() -> tuple[str, str]:
    secret = json.loads(k("-n", NS, "get", "secret", "odpipe-s3", "-o", "json"))["data"]
    return base64.b64decode(secret["rootUser"]).decode(), base64.b64decode(secret["rootPassword"]).decode()


@contextmanager
def port_forward(service: str, port: int) -> Iterator[int]:
    """kubectl port-forward, as NOTES.txt tells users (on the namespace's loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    proc = subprocess.Popen(
        [*kubectl(), "-n", NS, "port-forward", f"svc/{service}", f"{local}:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", local), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        yield local
    finally:
        proc.terminate()
        proc.wait(10)


def s3_client(port: int) -> Any:
    import boto3
    from botocore.config import Config

    user, password = s3_credentials()
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=user,
        aws_secret_access_key=password,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
    )


def list_objects(s3: Any, bucket: str, prefix: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out
