"""Child processes that die with their parent (a SIGKILLed `odpipe run` leaves no step or S3 server)."""

from __future__ import annotations

import ctypes
import shutil
import signal
import sys
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """`preexec_fn` for subprocess: the kernel sends the child SIGKILL when the parent dies (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def find_beside_interpreter(name: str) -> str | None:
    """A console script installed with this Python (the venv's bin), else one on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    return shutil.which(name)
