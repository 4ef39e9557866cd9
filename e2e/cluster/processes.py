"""The cluster's daemons: started inside its network namespace (nsenter keeps the host's mount
namespace, so the kubelet's volume mounts are the ones containerd sees), logged to files, tracked by
pid files so that `down` finds them."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from .layout import NETNS_PATH, logs, run_dir


def in_netns(cmd: Sequence[str]) -> list[str]:
    return ["nsenter", f"--net={NETNS_PATH}", "--", *cmd]


def pidfile(name: str) -> Path:
    return run_dir("pids", f"{name}.pid")


def start(name: str, cmd: Sequence[str], env: dict[str, str] | None = None) -> int:
    """Start a daemon in the namespace, detached from this process; returns its pid."""
    log = logs(name)
    log.parent.mkdir(parents=True, exist_ok=True)
    pidfile(name).parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            in_netns(cmd),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env={**os.environ, **(env or {})},
        )
    pidfile(name).write_text(f"{proc.pid}\n")
    return proc.pid


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is not alive
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def running(name: str) -> int | None:
    try:
        pid = int(pidfile(name).read_text())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def stop(name: str, timeout: float = 20.0) -> None:
    pid = running(name)
    if pid is not None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and alive(pid):
                time.sleep(0.2)
            if not alive(pid):
                break
    pidfile(name).unlink(missing_ok=True)


def wait_for(what: str, check: Callable[[], bool], timeout: float, name: str | None = None) -> float:
    """Poll `check` until true; on timeout (or when the daemon `name` died) raise with its log's tail."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except (subprocess.CalledProcessError, OSError):
            pass
        if name is not None and running(name) is None:
            break
        time.sleep(0.5)
    tail = ""
    if name is not None and logs(name).exists():
        tail = "\n".join(logs(name).read_text(errors="replace").splitlines()[-30:])
    state = "exited" if name is not None and running(name) is None else f"not ready after {timeout:.0f} s"
    raise RuntimeError(f"{what}: {state}; log {logs(name) if name else ''}:\n{tail}")
