"""The clients every scenario uses: kubectl, helm and argo inside the cluster's namespace with its
kubeconfig, one `helm upgrade --install --wait`, and S3 through a `kubectl port-forward` as NOTES.txt says."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from e2e.cluster.layout import KUBECONFIG
from e2e.cluster.tools import argo_bin, helm_bin, kubectl

MODEL = "bccd"  # the model name the scenarios publish and serve
HELM_WAIT = ("--wait", "--timeout", "10m")


@dataclass(frozen=True)
class Target:
    """Where a scenario's odpipe runs: its namespace, release, S3 Service and credentials Secret."""

    namespace: str
    release: str
    s3_service: str
    secret: str = "odpipe-s3"
    user_key: str = "rootUser"
    password_key: str = "rootPassword"
    s3_namespace: str = ""  # where the S3 Service runs, when not beside odpipe

    @property
    def s3_home(self) -> str:
        return self.s3_namespace or self.namespace


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


def kjson(*args: str) -> Any:
    return json.loads(k(*args, "-o", "json"))


def helm(*args: str, timeout: float = 900) -> str:
    return sh(helm_bin(), f"--kubeconfig={KUBECONFIG}", *args, timeout=timeout)


def helm_install(target: Target, chart: Path | str, *values: str) -> str:
    """`helm upgrade --install --wait`: the one way a scenario installs or changes a release."""
    return helm("upgrade", "--install", target.release, str(chart), "-n", target.namespace, "--create-namespace",
                *values, *HELM_WAIT)  # fmt: skip


def argo(*args: str, check: bool = True, timeout: float = 1800) -> str:
    return sh(argo_bin(), f"--kubeconfig={KUBECONFIG}", *args, check=check, timeout=timeout)


def secret_data(namespace: str, name: str) -> dict[str, str]:
    data = kjson("-n", namespace, "get", "secret", name)["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def s3_credentials(target: Target) -> tuple[str, str]:
    data = secret_data(target.namespace, target.secret)
    return data[target.user_key], data[target.password_key]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def port_forward(namespace: str, service: str, port: int) -> Iterator[int]:
    """kubectl port-forward, as NOTES.txt tells users (on the namespace's loopback)."""
    local = free_port()
    proc = subprocess.Popen(
        [*kubectl(), "-n", namespace, "port-forward", f"svc/{service}", f"{local}:{port}"],
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


@contextmanager
def s3(target: Target) -> Iterator[Any]:
    """A boto3 client on the target's S3 Service, through a port-forward."""
    import boto3
    from botocore.config import Config

    user, password = s3_credentials(target)
    with port_forward(target.s3_home, target.s3_service, 9000) as port:
        yield boto3.client(
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


def objects(target: Target, bucket: str, prefix: str = "") -> dict[str, int]:
    with s3(target) as client:
        return list_objects(client, bucket, prefix)
