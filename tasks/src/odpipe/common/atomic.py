"""Atomic file writes: a temp file beside the target, renamed over it when complete.

A reader sees the old file or the whole new one, never a part; a failed write leaves no temp file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

from odpipe.common.errors import StorageError

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


def no_space(exc: BaseException, dest: Path) -> StorageError | None:
    """A named error for a write that found its volume full (None for any other failure)."""
    if not isinstance(exc, OSError) or exc.errno not in _NO_SPACE:
        return None
    at = f" (the write failed at {exc.filename})" if exc.filename and str(exc.filename) != str(dest) else ""
    return StorageError(f"{dest}: no space left on its volume ({os.strerror(exc.errno)}){at}; free space, run again")


@contextlib.contextmanager
def replacing(dest: Path, suffix: str = ".tmp") -> Iterator[Path]:
    """A temp path beside ``dest`` for the block to write; renamed onto ``dest`` when the block succeeds,
    removed when it fails. Unique per call, so concurrent writers do not share a temp file."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}{suffix}")
    try:
        yield tmp
        os.replace(tmp, dest)
    except OSError as exc:
        if (full := no_space(exc, dest)) is None:
            raise
        raise full from exc
    finally:
        tmp.unlink(missing_ok=True)


def write_text(dest: Path, text: str) -> Path:
    with replacing(dest) as tmp:
        tmp.write_text(text)
    return dest


def replace_with_digest(tmp: Path, dest: Path, digest: str, digest_file: Path, pending_file: Path) -> None:
    """Rename a complete ``tmp`` onto ``dest`` with its digest in ``digest_file``, in an order a kill cannot
    split: the new digest as ``pending_file`` first, then the rename, then the digest promoted. Whenever
    the process dies, ``dest`` matches ``digest_file`` or ``pending_file``."""
    write_text(pending_file, digest)
    os.replace(tmp, dest)
    os.replace(pending_file, digest_file)


def copy_file(src: Path, dest: Path) -> Path:
    with replacing(dest) as tmp:
        shutil.copyfile(src, tmp)
    return dest


def write_via(slot: str, dest: str, data: bytes) -> bool:
    """Write ``data`` into ``slot``, an empty file made ahead on ``dest``'s volume, and rename it to ``dest``
    (inside a building folder: no fsync, the folder is renamed when complete). False, with nothing at
    ``dest``, when the slot is gone or cannot be renamed there: write ``dest`` another way."""
    try:
        fd = os.open(slot, os.O_WRONLY)
    except OSError:
        return False
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    try:
        os.rename(slot, dest)
    except OSError:
        return False
    return True


@contextlib.contextmanager
def building_dir(final: Path, complete_marker: str) -> Iterator[Path]:
    """A temp folder beside ``final`` for the block to fill, renamed to ``final`` when the block succeeds.

    A killed run leaves only a ``.tmp-*`` folder, never something a later run would take for a finished
    one. When ``final`` appeared meanwhile with ``complete_marker`` in it, another writer finished the
    same content first (the name is a content hash): theirs is kept.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{final.name}-", dir=final.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / complete_marker).exists():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        full = no_space(exc, final)
        if full is not None:
            raise full from exc
        raise
