"""Checkpoints a kill cannot tear: Ultralytics writes last.pt and best.pt in place (``write_bytes``, and
``torch.save`` when it strips the optimizer at the end), so a SIGKILL or a full disk mid-write used to
leave a truncated last.pt and the next attempt had to start over. Here every checkpoint write goes to a
temp file, is synced and renamed over the old one, and a sha256 digest beside it lets a resume tell a
checkpoint from one damaged later (torch.load does not check the bytes it reads: a flipped byte in a
tensor loads silently).

The digest and the checkpoint are two files, so a commit is ordered: the new digest is written as
``<name>.sha256.next``, the checkpoint renamed, then the digest renamed to ``<name>.sha256``. A kill at
any point leaves a checkpoint that matches one of the two digests.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from odpipe.common.atomic import replace_with_digest
from odpipe.common.storage import sha256_file

DIGEST_SUFFIX = ".sha256"
NEXT_SUFFIX = ".sha256.next"


def digest_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + DIGEST_SUFFIX)


def _next_digest_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + NEXT_SUFFIX)


def _commit(tmp: Path, checkpoint: Path, digest: str) -> None:
    replace_with_digest(tmp, checkpoint, digest, digest_path(checkpoint), _next_digest_path(checkpoint))


def _temp_beside(checkpoint: Path) -> Path:
    return checkpoint.with_name(f".{checkpoint.name}.{os.getpid()}.writing")


def write_checkpoint(checkpoint: Path, data: bytes) -> None:
    tmp = _temp_beside(checkpoint)
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _commit(tmp, checkpoint, hashlib.sha256(data).hexdigest())
    finally:
        tmp.unlink(missing_ok=True)


def checkpoint_problem(checkpoint: Path) -> str | None:
    """Why a resume must not load this checkpoint (None: it matches its recorded digest or the one being
    committed, or none was recorded, as by an older odpipe)."""
    digest = digest_path(checkpoint)
    if not digest.exists():
        return None
    got = sha256_file(checkpoint)
    candidates = [p.read_text().strip() for p in (digest, _next_digest_path(checkpoint)) if p.exists()]
    if got in candidates:
        return None
    size = checkpoint.stat().st_size
    return f"its sha256 {got[:12]}... ({size} bytes) differs from the one recorded at save ({candidates[0][:12]}...)"


class CheckpointPath(type(Path())):  # type: ignore[misc]
    """A path whose ``write_bytes`` commits atomically: what Ultralytics' trainer saves each epoch with."""

    def write_bytes(self, data: Any) -> int:
        payload = bytes(data)
        write_checkpoint(Path(self), payload)
        return len(payload)


def _atomic_strip(original: Any) -> Any:
    """Ultralytics' strip_optimizer(f, s, updates), saving to a temp file that is then committed."""

    def strip(f: str | Path = "best.pt", s: str = "", updates: dict[str, Any] | None = None) -> dict[str, Any]:
        target = Path(s or f)
        tmp = _temp_beside(target)
        try:
            result = original(f, str(tmp), updates)
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            _commit(tmp, target, sha256_file(tmp))
            return result
        finally:
            tmp.unlink(missing_ok=True)

    return strip


def use_atomic_paths(trainer: Any) -> None:
    """An on_pretrain_routine_start callback: the trainer's last.pt and best.pt become CheckpointPaths,
    and temp files an attempt killed mid-write left beside them are removed."""
    trainer.last, trainer.best = CheckpointPath(trainer.last), CheckpointPath(trainer.best)
    for path in (trainer.last, trainer.best):
        for stale in Path(path).parent.glob(f".{path.name}.*.writing"):
            stale.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_final_strip() -> Iterator[None]:
    """For the duration of a fit, the trainer's end-of-training strip_optimizer commits atomically too."""
    from ultralytics.engine import trainer as module

    original = module.strip_optimizer
    module.strip_optimizer = _atomic_strip(original)
    try:
        yield
    finally:
        module.strip_optimizer = original
