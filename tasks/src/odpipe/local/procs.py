"""Child processes that die with their parent (a SIGKILLed `odpipe run` leaves no step or S3 server)."""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """`preexec_fn` for subprocess: the kernel sends the child `sig` when the parent dies (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def term_with_parent() -> None:
    """`preexec_fn`: SIGTERM when the parent dies, for children that clean up after themselves."""
    die_with_parent(signal.SIGTERM)
