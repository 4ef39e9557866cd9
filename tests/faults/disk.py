"""A small tmpfs mounted for one test (root only), and a filler file that leaves a chosen free space."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

FILLER = ".filler"


def need_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root (mount, ip netns); run the fault tests as root")


@contextmanager
def tmpfs(where: Path, size: str) -> Iterator[Path]:
    """`mount -t tmpfs -o size=SIZE` at `where`, always unmounted afterwards."""
    need_root("a tmpfs data volume")
    if not shutil.which("mount"):
        pytest.skip("no `mount` command")
    where.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def free_bytes(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(volume: Path, leave: int) -> Path:
    """Write a filler file so that about `leave` bytes stay free (rounded to the page size)."""
    filler = volume / FILLER
    filler.unlink(missing_ok=True)
    size = max(free_bytes(volume) - leave, 0)
    block = b"\0" * (1 << 20)
    try:
        with filler.open("wb") as fh:
            while size > 0:
                fh.write(block[: min(size, len(block))])
                size -= min(size, len(block))
    except OSError:  # the last page did not fit: full enough
        pass
    return filler
