"""Deterministic train/val split, the user's own split, and background images up to a ratio."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path, PurePosixPath

from odpipe.common.errors import InputError
from odpipe.prepare.report import Report
from odpipe.prepare.validate import ImageRecord


def _order(key: str, seed: int) -> str:
    # A seeded hash order is stable under adding or removing other images, unlike a shuffle.
    return hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()


def read_val_list(path: Path) -> set[str]:
    """A split file: one image per line (its id, file name or file stem), '#' comments allowed."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read split file: {exc.strerror}") from None
    return {s for line in lines if (s := line.split("#", 1)[0].strip())}


def keep_backgrounds(images: list[ImageRecord], ratio: float, seed: int, report: Report) -> list[ImageRecord]:
    with_boxes = [r for r in images if r.trainable_count]
    background = sorted((r for r in images if not r.trainable_count), key=lambda r: _order(r.key, seed))
    allowed = math.floor(ratio * len(with_boxes))
    for rec in background[:allowed]:
        report.add("image-background", rec.source, id=rec.orig_id)
    for rec in background[allowed:]:
        report.add("image-background-dropped", rec.source, id=rec.orig_id)
    return with_boxes + background[:allowed]


def assign_splits(
    images: list[ImageRecord], *, val_fraction: float, seed: int, val_list: set[str] | None = None
) -> None:
    """Fill in `split` for images whose source file did not pin one."""
    free = [r for r in images if r.split is None]
    if val_list is not None:
        unmatched = set(val_list)
        for rec in free:
            names = {str(rec.orig_id), rec.relpath, PurePosixPath(rec.relpath).name, PurePosixPath(rec.relpath).stem}
            hit = names & val_list
            rec.split = "val" if hit else "train"
            unmatched -= hit
        if unmatched:
            raise InputError(
                f"split file names {len(unmatched)} image(s) not in the annotations, e.g. {sorted(unmatched)[:5]}"
            )
        return
    if not 0.0 <= val_fraction < 1.0:
        raise InputError(f"--val-fraction must be in [0, 1), got {val_fraction}")
    ordered = sorted(free, key=lambda r: _order(r.key, seed))
    n_val = round(val_fraction * len(ordered))
    if val_fraction > 0 and len(ordered) >= 2:
        n_val = max(1, min(n_val, len(ordered) - 1))
    for i, rec in enumerate(ordered):
        rec.split = "val" if i < n_val else "train"
