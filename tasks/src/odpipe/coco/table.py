"""COCO annotations held columnar: about 57 bytes per box instead of a Python dict (~1 KB) per box.

A *regular* annotation (an object whose id, image_id and category_id are plain integers and whose bbox is
four finite numbers) is stored as numbers in flat arrays; anything else is kept as the original object,
so that validation sees exactly what the file said and reports it the same way. Rows keep file order.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator
from itertools import chain
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

_I64 = 1 << 63


def _plain_int(value: Any) -> bool:
    return type(value) is int and -_I64 <= value < _I64


def _plain_box(value: Any) -> bool:
    if type(value) is not list or len(value) != 4:
        return False
    for v in value:
        if type(v) is float:
            if not math.isfinite(v):
                return False
        elif not (type(v) is int and -_I64 <= v < _I64):
            return False
    return True


_NO_BOX = [0.0, 0.0, 0.0, 0.0]
_BIG = float(_I64)
Mask = npt.NDArray[np.bool_] | None  # which rows are plain; None when all of them are


def _field(objects: list[dict[str, Any]], key: str) -> list[Any]:
    """``[a.get(key) for a in objects]``, faster while every object has the key."""
    try:
        return list(map(itemgetter(key), objects))
    except KeyError:
        return [a.get(key) for a in objects]


def _int_column(values: list[Any]) -> tuple[npt.NDArray[np.int64] | None, Mask]:
    """The values as int64 when all are plain integers (see ``_plain_int``), else which of them are."""
    if set(map(type, values)) <= {int}:
        try:
            return np.fromiter(values, np.int64, len(values)), None
        except OverflowError:
            pass
    return None, np.fromiter(map(_plain_int, values), bool, len(values))


def _box_column(boxes: list[Any]) -> tuple[npt.NDArray[np.float64] | None, Mask]:
    """The boxes as float64 (4 a row) and which of them are plain (see ``_plain_box``). Checked column
    by column first (lists of four ints and floats); rows with a value that is not finite or not below
    2**63 in size (perhaps an int beyond int64) are then checked one by one."""
    if set(map(type, boxes)) != {list} or set(map(len, boxes)) != {4}:
        return None, np.fromiter(map(_plain_box, boxes), bool, len(boxes))
    flat = list(chain.from_iterable(boxes))
    if not set(map(type, flat)) <= {int, float}:
        return None, np.fromiter(map(_plain_box, boxes), bool, len(boxes))
    try:
        values = np.fromiter(flat, np.float64, len(flat))
    except OverflowError:  # an int beyond float
        return None, np.fromiter(map(_plain_box, boxes), bool, len(boxes))
    with np.errstate(invalid="ignore"):
        suspect = ~(np.abs(values) < _BIG).reshape(-1, 4).all(axis=1)  # NaN and inf too
    if not suspect.any():
        return values, None
    rows = np.flatnonzero(suspect)
    plain = ~suspect
    plain[rows] = [_plain_box(boxes[r]) for r in rows.tolist()]
    return values, plain


def _irregular_rows(masks: list[Mask], rows: int) -> list[int]:
    regular = np.ones(rows, dtype=bool)
    for mask in masks:
        if mask is not None:
            regular &= mask
    return np.flatnonzero(~regular).tolist()  # type: ignore[no-any-return]


class AnnotationTable:
    """Every annotation of one COCO file, in file order, plus what the instances check needs to know."""

    def __init__(self) -> None:
        self.ids = array("q")
        self.image_ids = array("q")
        self.category_ids = array("q")
        self.boxes = array("d")  # x, y, w, h per row
        self.crowd = bytearray()
        self.irregular: dict[int, Any] = {}  # row -> the annotation exactly as the file had it
        self.first_object: dict[str, Any] | None = None  # for the kind check (load._check_kind)
        self.any_bbox = False
        self.all_crowd = True

    def __len__(self) -> int:
        return len(self.crowd)

    def add(self, ann: Any) -> None:
        crowd = False
        if type(ann) is dict:
            if self.first_object is None:
                self.first_object = ann
            self.any_bbox = self.any_bbox or "bbox" in ann
            crowd = ann.get("iscrowd") in (1, True)
            box = ann.get("bbox")
            aid, image_id, cid = ann.get("id"), ann.get("image_id"), ann.get("category_id")
            if _plain_int(aid) and _plain_int(image_id) and _plain_int(cid) and _plain_box(box):
                self.ids.append(aid)
                self.image_ids.append(image_id)
                self.category_ids.append(cid)
                self.boxes.extend(box)
                self.crowd.append(crowd)
                self.all_crowd = self.all_crowd and crowd
                return
        self.all_crowd = self.all_crowd and crowd
        self.irregular[len(self.crowd)] = ann
        self.ids.append(0)
        self.image_ids.append(0)
        self.category_ids.append(0)
        self.boxes.extend((0.0, 0.0, 0.0, 0.0))
        self.crowd.append(crowd)

    def repeated_ids(self) -> set[int]:
        """The plain integer ids that occur more than once among the regular rows."""
        ids = np.frombuffer(self.ids, dtype=np.int64) if len(self.ids) else np.zeros(0, np.int64)
        regular = np.ones(len(ids), dtype=bool)
        regular[list(self.irregular)] = False
        values, counts = np.unique(ids[regular], return_counts=True)
        return set(values[counts > 1].tolist())

    @classmethod
    def from_list(cls, items: list[Any]) -> AnnotationTable:
        table = cls()
        table.extend(items)
        return table

    def extend(self, items: list[Any]) -> None:
        """``add`` for each item, column by column: the same rows, flags and irregular objects."""
        if not items:
            return
        dicts = set(map(type, items)) == {dict}
        if self.first_object is None:
            self.first_object = items[0] if dicts else next((a for a in items if type(a) is dict), None)
        objects = items if dicts else [a if type(a) is dict else {} for a in items]
        self.any_bbox = self.any_bbox or any("bbox" in a for a in objects)
        crowd = [a.get("iscrowd") in (1, True) for a in objects]
        self.all_crowd = self.all_crowd and all(crowd)
        lists = [_field(objects, k) for k in ("id", "image_id", "category_id")]
        boxes = _field(objects, "bbox")
        columns = [_int_column(values) for values in lists]
        box_values, box_mask = _box_column(boxes)
        odd = _irregular_rows([mask for _, mask in columns] + [box_mask], len(items))
        base = len(self.crowd)
        for row in odd:  # kept as written; their numbers are zeros
            self.irregular[base + row] = items[row]
            for values in lists:
                values[row] = 0
            boxes[row] = _NO_BOX
        for target, values, (array_, _) in zip(
            (self.ids, self.image_ids, self.category_ids), lists, columns, strict=True
        ):
            target.frombytes((array_ if array_ is not None and not odd else np.array(values, np.int64)).tobytes())
        if box_values is None or odd:
            box_values = np.fromiter(chain.from_iterable(boxes), np.float64, 4 * len(boxes))
        self.boxes.frombytes(box_values.tobytes())
        self.crowd += bytearray(crowd)

    def _columns(self) -> tuple[Any, Any, Any, Any, Any, dict[int, Any]]:
        return self.ids, self.image_ids, self.category_ids, self.boxes, self.crowd, self.irregular

    def entries(self) -> Iterator[Any]:
        """Each annotation in file order: a regular one as the tuple (id, id key, image key, image_id,
        category_id, category_id, (x, y, w, h), bbox, iscrowd) with its fields already checked, any other
        as the file's own object (validation normalises and checks those itself)."""
        for row in range(len(self.crowd)):
            yield self.entry(row)

    def entry(self, row: int) -> Any:
        """Row ``row`` as ``entries`` gives it."""
        if row in self.irregular:
            return self.irregular[row]
        b, boxes = 4 * row, self.boxes
        aid, image_id, cid = self.ids[row], self.image_ids[row], self.category_ids[row]
        box = (boxes[b], boxes[b + 1], boxes[b + 2], boxes[b + 3])
        return (aid, str(aid), str(image_id), image_id, cid, cid, box, None, self.crowd[row] == 1)

    def arrays(self) -> tuple[Any, Any, Any, Any, Any]:
        """Views of the columns: ids, image_ids, category_ids (int64), boxes (float64, rows x 4) and
        iscrowd (bool); an irregular row holds zeros (and its iscrowd)."""
        if not len(self.crowd):
            return (
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros(0, np.int64),
                np.zeros((0, 4)),
                np.zeros(0, bool),
            )
        ints = [np.frombuffer(a, dtype=np.int64) for a in (self.ids, self.image_ids, self.category_ids)]
        boxes = np.frombuffer(self.boxes, dtype=np.float64).reshape(-1, 4)
        return ints[0], ints[1], ints[2], boxes, np.frombuffer(self.crowd, dtype=np.uint8).astype(bool)

    def rows(self) -> Iterator[Any]:
        """Each annotation in file order, as an object equivalent (for validation) to the file's own:
        regular rows come back with exactly the fields validation reads."""
        ids, images, cats, boxes, crowd, irregular = self._columns()
        for row in range(len(crowd)):
            if row in irregular:
                yield irregular[row]
                continue
            b = 4 * row
            yield {
                "id": ids[row],
                "image_id": images[row],
                "category_id": cats[row],
                "bbox": [boxes[b], boxes[b + 1], boxes[b + 2], boxes[b + 3]],
                "iscrowd": crowd[row],
            }
