"""Dataset id: a content hash of the normalised annotations, the image bytes and the parameters."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import numpy as np
import numpy.typing as npt

from odpipe.prepare.validate import Category, ImageRecord

try:
    import orjson
except ImportError:  # optional: the same text comes from %-formatting, slower
    orjson = None  # type: ignore[assignment]

ID_LENGTH = 16
FORMAT_VERSION = 1  # bump when the dataset layout on disk changes


def dataset_id(categories: list[Category], images: list[ImageRecord], params: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    head = {"format": FORMAT_VERSION, "categories": [[c.coco_id, c.name] for c in categories], "params": params}
    digest.update(json.dumps(head, sort_keys=True, separators=(",", ":")).encode())
    encode = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps would build one per call
    ordered = sorted(images, key=lambda r: (r.relpath, r.key))
    for rec, boxes in zip(ordered, _box_texts(ordered), strict=True):
        if _PLAIN.fullmatch(rec.relpath) and rec.split is not None and _PLAIN.fullmatch(rec.sha256 + rec.split):
            head = f'["{rec.relpath}","{rec.sha256}",{rec.width!r},{rec.height!r},"{rec.split}"]'
        else:  # json's escapes
            head = encode([rec.relpath, rec.sha256, rec.width, rec.height, rec.split])
        digest.update(f"{head[:-1]},{boxes}]\n".encode())
    return digest.hexdigest()[:ID_LENGTH]


# Text json writes as it is between quotes: printable ASCII but the quote and the backslash
_PLAIN = re.compile(r"[ !#-\[\]-~]*")
# One box as compact JSON writes [category, x, y, w, h, iscrowd] (json writes floats with repr), built
# without the encoder's per-object work: the id hashes exactly the bytes it always did.
_BOX = "[%d,%r,%r,%r,%r,%s],"


def _box_texts(ordered: list[ImageRecord]) -> Iterator[str]:
    """Each image's boxes as the id hashes them, a JSON list: sorted as Python sorts the tuples (category,
    x, y, w, h, iscrowd). CHUNK images at a time (memory follows the chunk, not the set): one stable
    numpy lexsort per chunk, the text from orjson where it writes each float as repr does, else from
    one %-format per image."""
    for start in range(0, len(ordered), CHUNK):
        yield from _chunk_texts(ordered[start : start + CHUNK])


CHUNK = 4096


def _chunk_texts(chunk: list[ImageRecord]) -> list[str]:
    store = chunk[0].store
    rows, counts = store.rows_of_images([r.number for r in chunk])
    position = np.repeat(np.arange(len(chunk)), counts)  # rows come image after image, each in file order
    category, xywh, crowd = store.columns(rows)
    order = np.lexsort((crowd, xywh[:, 3], xywh[:, 2], xywh[:, 1], xywh[:, 0], category, position))
    xywh = xywh[order]
    columns = [category[order].tolist(), *(xywh[:, c].tolist() for c in range(4)), crowd[order].tolist()]
    sizes = counts.tolist()
    if orjson is not None and bool(np.all(repr_safe(xywh))):
        boxes = list(zip(*columns, strict=True))
        return [orjson.dumps(boxes[pos - n : pos]).decode() for n, pos in zip(sizes, accumulate(sizes), strict=True)]
    flat: list[Any] = [None] * (6 * len(rows))
    for c, values in enumerate(columns):
        flat[c::6] = values if c < 5 else [("false", "true")[k] for k in values]
    out, pos = [], 0
    for n in sizes:
        out.append("[" + ((_BOX * n) % tuple(flat[pos : pos + 6 * n]))[:-1] + "]")
        pos += 6 * n
    return out


def repr_safe(values: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
    """Where orjson writes the float exactly as repr (and so json) does: zero and 1e-4 <= |v| < 1e16
    (outside, repr writes 1e-05 and 1e+16 where orjson writes 1e-5 and 1e16)."""
    size = np.abs(values)
    return (size == 0) | ((size >= 1e-4) & (size < 1e16))
