"""Kill points: start a real `odpipe` command, SIGKILL its process group when a hook fires (a file
appears, a count is reached) or after a delay, and report whether it was still running then."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

Hook = Callable[[], bool]


def after(seconds: float) -> Hook:
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() >= deadline


def exists(path: Path) -> Hook:
    return path.exists


def glob_count(folder: Path, pattern: str, count: int) -> Hook:
    return lambda: folder.exists() and sum(1 for _ in folder.glob(pattern)) >= count


def odpipe_env(root: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    return {**os.environ, "ODPIPE_ROOT": str(root), "ODPIPE_SCRATCH": str(root / "scratch"), **(extra or {})}


def kill_when(args: list[str], env: dict[str, str], hook: Hook, timeout: float = 300) -> bool:
    """Run `odpipe ARGS`; SIGKILL it (and its children) once `hook()` is true. True when the kill
    landed while it ran; False when it had already exited."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "odpipe.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and not hook() and time.monotonic() < deadline:
            time.sleep(0.005)
    finally:
        running = proc.poll() is None
        if running:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return running


def odpipe_cli(args: list[str], env: dict[str, str], timeout: float = 600) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "odpipe.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout + proc.stderr
