"""Start `odpipe serve` as a child process on a free loopback port, wait until it is ready, stop it with
SIGTERM (the demo, the tests and the benchmark use this)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from odpipe.common.errors import OdpipeError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def http_status(url: str, timeout: float = 2.0) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


class ServeProcess:
    def __init__(
        self,
        names: list[str],
        *,
        env: dict[str, str] | None = None,
        args: list[str] | None = None,
        log_path: Path | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.names = names
        self.host = host
        self.port = free_port(host)
        self.env = {**os.environ, **(env or {})}
        self.args = args or []
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> ServeProcess:
        cmd = [sys.executable, "-m", "odpipe.cli", "serve", "--host", self.host, "--port", str(self.port)]
        for name in self.names:
            cmd += ["--model-name", name]
        log = self.log_path.open("ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen([*cmd, *self.args], env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise OdpipeError(f"odpipe serve exited with {self.proc.returncode} before it was ready{self._see()}")
            if http_status(f"http://{self.url}/v2/health/ready") == 200:
                return
            time.sleep(0.2)
        raise OdpipeError(f"odpipe serve on {self.url} not ready after {timeout:.0f}s{self._see()}")

    def _see(self) -> str:
        return f"; see {self.log_path}" if self.log_path else ""

    def stop(self, timeout: float = 60.0) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return int(self.proc.returncode)

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
