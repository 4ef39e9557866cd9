"""The boxes that survive validation, held columnar (flat arrays, ~60 bytes a box) and grouped by image.

Validation appends boxes in file order; `finish` groups them by image (a stable sort, so each image's
boxes keep file order) and the per-image views build `Box` objects only when asked.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt


@dataclass(slots=True)
class Box:
    orig_id: Any
    category_id: int
    x: float
    y: float
    w: float
    h: float
    iscrowd: bool


class BoxStore:
    def __init__(self) -> None:
        self.image = array("q")  # the owning image's number
        self.category = array("q")
        self.xywh = array("d")
        self.crowd = bytearray()
        self.int_ids = array("q")
        self.other_ids: dict[int, Any] = {}  # row -> an annotation id that is not a plain integer
        self._order: npt.NDArray[np.int64] = np.zeros(0, np.int64)
        self._start: npt.NDArray[np.int64] = np.zeros(1, np.int64)
        # boxes and crowd boxes per image, as lists: counts_of is asked ~7 times an image, and a numpy
        # scalar read costs more than the list's 8 bytes an entry (small ints are shared objects)
        self._boxes_per_image: list[int] = []
        self._crowd_per_image: list[int] = []

    def add(self, image: int, orig_id: Any, category_id: int, xywh: tuple[float, ...], crowd: bool) -> None:
        row = len(self.crowd)
        self.image.append(image)
        self.category.append(category_id)
        self.xywh.extend(xywh)
        self.crowd.append(crowd)
        if type(orig_id) is int and -(1 << 63) <= orig_id < (1 << 63):
            self.int_ids.append(orig_id)
        else:
            self.int_ids.append(0)
            self.other_ids[row] = orig_id

    def extend(self, image: Any, category: Any, xywh: Any, crowd: Any, int_ids: Any, other_ids: dict[int, Any]) -> None:
        """``add`` for many rows at once: numpy columns (xywh with 4 values a row), the ids that are plain
        integers in ``int_ids`` and the others in ``other_ids`` by their position among the new rows
        (0 in ``int_ids``), as ``add`` stores them."""
        row = len(self.crowd)
        self.image.frombytes(np.ascontiguousarray(image, dtype=np.int64).tobytes())
        self.category.frombytes(np.ascontiguousarray(category, dtype=np.int64).tobytes())
        self.xywh.frombytes(np.ascontiguousarray(xywh, dtype=np.float64).tobytes())
        self.crowd += np.ascontiguousarray(crowd, dtype=np.uint8).tobytes()
        self.int_ids.frombytes(np.ascontiguousarray(int_ids, dtype=np.int64).tobytes())
        self.other_ids.update((row + at, orig_id) for at, orig_id in other_ids.items())

    def finish(self, images: int) -> None:
        """Group rows by image: rows of image i are ``order[start[i]:start[i + 1]]``, in file order."""
        owner = np.frombuffer(self.image, dtype=np.int64) if len(self.image) else np.zeros(0, np.int64)
        self._order = np.argsort(owner, kind="stable")
        counts = np.bincount(owner, minlength=images) if len(owner) else np.zeros(images, np.int64)
        self._start = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        crowd = np.frombuffer(self.crowd, dtype=np.uint8) if len(self.crowd) else np.zeros(0, np.uint8)
        self._boxes_per_image = counts.tolist()
        self._crowd_per_image = np.bincount(owner, weights=crowd, minlength=images).astype(np.int64).tolist()

    def rows_of(self, image: int) -> list[int]:
        return self._order[self._start[image] : self._start[image + 1]].tolist()  # type: ignore[no-any-return]

    def boxes_of(self, image: int) -> list[Box]:
        out = []
        xywh, other, ids, cats, crowd = self.xywh, self.other_ids, self.int_ids, self.category, self.crowd
        for r in self.rows_of(image):
            b = 4 * r
            orig = other[r] if r in other else ids[r]
            out.append(Box(orig, cats[r], xywh[b], xywh[b + 1], xywh[b + 2], xywh[b + 3], crowd[r] == 1))
        return out

    def hash_rows(self, image: int) -> list[tuple[int, float, float, float, float, bool]]:
        """(category, x, y, w, h, iscrowd) of each box of an image (what the dataset id hashes)."""
        xywh, cats, crowd = self.xywh, self.category, self.crowd
        return [
            (cats[r], xywh[4 * r], xywh[4 * r + 1], xywh[4 * r + 2], xywh[4 * r + 3], crowd[r] == 1)
            for r in self.rows_of(image)
        ]

    def trainable_rows(self, images: list[int]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The non-crowd rows of the given images, image after image (each in file order), and how many
        of them each image has."""
        if not images or not len(self.crowd):
            return np.zeros(0, np.int64), np.zeros(len(images), np.int64)
        rows, counts = self._rows(images)
        owner = np.repeat(np.arange(len(images)), counts)
        keep = np.frombuffer(self.crowd, dtype=np.uint8)[rows] == 0
        return rows[keep], np.bincount(owner[keep], minlength=len(images)).astype(np.int64)

    def rows_of_images(self, images: list[int]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Every row (crowd ones too) of the given images, image after image (each in file order), and
        how many each image has."""
        if not images or not len(self.crowd):
            return np.zeros(0, np.int64), np.zeros(len(images), np.int64)
        return self._rows(images)

    def _rows(self, images: list[int]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``rows_of_images`` for a non-empty store, without a numpy slice per image."""
        first = self._start[images]
        counts = self._start[np.asarray(images, dtype=np.int64) + 1] - first
        # row k of image j sits at order[first[j] + k]: positions are first[j] repeated, plus 0..count-1
        ends = np.cumsum(counts)
        offsets = np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64) - np.repeat(ends - counts, counts)
        return self._order[np.repeat(first, counts) + offsets], counts

    def columns(
        self, rows: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
        """The category ids, (x, y, w, h) rows and iscrowd flags of the given rows, in their order."""
        xywh = np.frombuffer(self.xywh, dtype=np.float64).reshape(-1, 4)[rows]
        crowd = np.frombuffer(self.crowd, dtype=np.uint8)[rows] == 1
        return np.frombuffer(self.category, dtype=np.int64)[rows], xywh, crowd

    def counts_of(self, image: int) -> tuple[int, int]:
        """(boxes, of which iscrowd) of one image."""
        return self._boxes_per_image[image], self._crowd_per_image[image]

    def trainable_categories(self, images: list[int]) -> npt.NDArray[np.int64]:
        """The category id of every non-crowd box of the given images."""
        if not len(self.crowd) or not images:
            return np.zeros(0, np.int64)
        rows, _ = self._rows(images)
        crowd = np.frombuffer(self.crowd, dtype=np.uint8)[rows]
        return np.frombuffer(self.category, dtype=np.int64)[rows[crowd == 0]]
