"""The container's termination message: what `kubectl describe pod` and Argo's node message show.

The kubelet reads /dev/termination-log (the default terminationMessagePath) when a container stops and
Argo puts it after "Error (exit code N)". Outside a pod the file is absent and nothing is written.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

ENV_PATH = "ODPIPE_TERMINATION_LOG"  # tests point it elsewhere
DEFAULT_PATH = Path("/dev/termination-log")
LIMIT = 4096  # the kubelet keeps at most 4096 bytes of it


def record(message: str) -> None:
    path = Path(os.environ.get(ENV_PATH) or DEFAULT_PATH)
    if not path.exists():
        return
    data = message.strip().encode()
    if len(data) > LIMIT:
        data = data[: LIMIT - 3].decode(errors="ignore").encode() + b"..."
    with contextlib.suppress(OSError):  # a read-only or odd mount must not hide the error itself
        path.write_bytes(data)
