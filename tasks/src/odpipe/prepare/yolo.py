"""Write the Ultralytics YOLO layout: images/<split>, labels/<split>, and COCO JSON per eval split with
the original category ids (what the evaluator scores against). Folder names and data.yaml come from
`odpipe.formats.dataset_manifest`."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from odpipe.common.atomic import write_via
from odpipe.formats.dataset_manifest import SPLITS, images_dir, labels_dir
from odpipe.prepare.label_slots import LabelSlots
from odpipe.prepare.validate import Category, ImageRecord

LinkMode = Literal["hardlink", "symlink", "copy"]


def dataset_name(relpath: str) -> str:
    """A flat, unique file name inside the dataset for an image's path under the images root."""
    return relpath.replace("/", "__")


def place_image(src: str, dest: str, mode: LinkMode) -> None:
    if mode == "symlink":
        os.symlink(Path(src).resolve(), dest)
        return
    if mode == "hardlink":
        try:
            os.link(src, dest)
            return
        except OSError:
            pass  # another filesystem, or links not allowed: copy instead
    shutil.copyfile(src, dest)


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_LINE = "%d %.10g %.10g %.10g %.10g\n"  # class index, then centre x, y and size w, h over the image's size


def label_texts(images: Sequence[ImageRecord], index_of: dict[int, int]) -> list[str]:
    """The YOLO label file of each image (its trainable boxes in file order), for many images at once:
    the arithmetic in numpy (the same IEEE operations as one box at a time) and one %-format per image."""
    if not images:
        return []
    store = images[0].store
    rows, counts = store.trainable_rows([rec.number for rec in images])
    # the store holds box category ids as int64: a category whose id does not fit has no boxes there
    keys = np.array(sorted(k for k in index_of if _INT64_MIN <= k <= _INT64_MAX), dtype=np.int64)
    classes = np.array([index_of[k] for k in keys.tolist()], dtype=np.float64)
    category, xywh, _ = store.columns(rows)
    cls = classes[np.searchsorted(keys, category)] if len(rows) else rows
    width = np.repeat(np.array([rec.width for rec in images], dtype=np.float64), counts)
    height = np.repeat(np.array([rec.height for rec in images], dtype=np.float64), counts)
    x, y, w, h = xywh[:, 0], xywh[:, 1], xywh[:, 2], xywh[:, 3]
    columns = (cls, (x + w / 2) / width, (y + h / 2) / height, w / width, h / height)
    flat = np.column_stack(columns).ravel().tolist() if len(rows) else []
    out, pos = [], 0
    for n in counts.tolist():
        out.append((_LINE * n) % tuple(flat[pos : pos + 5 * n]))
        pos += 5 * n
    return out


def _write_label(path: str, text: str, slot: str | None = None) -> None:
    """Write a label file: into ``slot`` (see label_slots) renamed to ``path`` when given and usable,
    else into a new file."""
    data = text.encode()
    if slot is not None and write_via(slot, path, data):
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def label_stem(name: str) -> str:
    """PurePosixPath(name).stem of a name without slashes, without building a path object."""
    dot = name.rfind(".")
    return name[:dot] if 0 < dot < len(name) - 1 else name


def write_split_images(
    root: Path,
    images_root: Path,
    images: list[ImageRecord],
    categories: list[Category],
    mode: LinkMode,
    progress: Callable[[int], None] | None = None,
    slots: LabelSlots | None = None,
) -> None:
    """Link the images in and write their labels. The labels come from this one process: on ext4, two
    processes creating files in one folder were measured 15x slower than one (20k label files: 5.2 s vs
    0.35 s), the folder's lock passing back and forth. ``slots``: empty files made ahead by a helper
    process, filled and renamed (creating the file is the costly part); that helper then places the
    images meanwhile (another folder: no such contention)."""
    index_of = {c.coco_id: i for i, c in enumerate(categories)}
    for split in sorted({rec.split for rec in images if rec.split is not None}):
        (root / images_dir(split)).mkdir(parents=True, exist_ok=True)
        (root / labels_dir(split)).mkdir(parents=True, exist_ok=True)
    dirs = {s: (str(root / images_dir(s)), str(root / labels_dir(s))) for s in SPLITS}
    src_root = str(images_root)
    pairs = [(f"{src_root}/{rec.relpath}", f"{dirs[rec.split][0]}/{dataset_name(rec.relpath)}") for rec in images]
    elsewhere = slots is not None and slots.place_images(pairs, mode)
    for start in range(0, len(images), CHUNK):
        chunk = images[start : start + CHUNK]
        for n, (rec, text) in enumerate(zip(chunk, label_texts(chunk, index_of), strict=True), start):
            assert rec.split is not None
            if not elsewhere:
                place_image(*pairs[n], mode)
            slot = slots.take() if slots is not None else None
            _write_label(f"{dirs[rec.split][1]}/{label_stem(dataset_name(rec.relpath))}.txt", text, slot)
        if progress:
            progress(len(chunk))
    if elsewhere:
        assert slots is not None
        slots.placed()


CHUNK = 4096  # images whose labels are formatted at once (their text is held until written)


def write_coco_split(path: Path, images: list[ImageRecord], categories: list[Category], split: str) -> None:
    """COCO instances for one split: integer image ids 1..n (the original id kept beside), every box
    including iscrowd ones (COCOeval ignores those), original category ids and names. Written piece by
    piece (the same bytes as one compact json.dumps of the document, without holding it)."""
    chosen = sorted((r for r in images if r.split == split), key=lambda r: r.relpath)
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    with path.open("w") as fh:  # inside the dataset's building folder: complete before it is renamed
        fh.write('{"info":' + dumps({"description": f"odpipe {split} split"}) + ',"images":[')
        for img_id, rec in enumerate(chosen, start=1):
            image = {"id": img_id, "file_name": dataset_name(rec.relpath), "width": rec.width, "height": rec.height}
            image["source_id"] = rec.orig_id
            fh.write(("," if img_id > 1 else "") + dumps(image))
        fh.write('],"annotations":[')
        first = True
        for piece in _annotations_json(chosen):
            fh.write(piece[1:] if first else piece)
            first = False
        fh.write('],"categories":' + dumps([{"id": c.coco_id, "name": c.name} for c in categories]) + "}")


# One annotation as compact json.dumps writes it (ints and floats as repr, source_id already JSON), after a comma
_ANN = ',{"id":%d,"image_id":%d,"category_id":%d,"bbox":[%r,%r,%r,%r],"area":%r,"iscrowd":%d,"source_id":%s}'


def _annotations_json(chosen: list[ImageRecord]) -> Iterator[str]:
    """The annotations of ``chosen`` (image ids 1..n in this order), CHUNK images at a time, each piece
    starting with a comma: ids count from 1 in image order, each image's boxes in file order."""
    dumps = json.JSONEncoder(separators=(",", ":")).encode
    ann_id = 0
    for start in range(0, len(chosen), CHUNK):
        part = chosen[start : start + CHUNK]
        store = part[0].store
        rows, counts = store.rows_of_images([rec.number for rec in part])
        if not len(rows):
            continue
        category, xywh, crowd = store.columns(rows)
        with np.errstate(over="ignore"):  # a huge w * h is inf, as in Python
            area = xywh[:, 2] * xywh[:, 3]
        source = [str(v) for v in np.frombuffer(store.int_ids, dtype=np.int64)[rows].tolist()]
        if store.other_ids:
            for k in np.flatnonzero(np.isin(rows, np.fromiter(store.other_ids, dtype=np.int64))).tolist():
                source[k] = dumps(store.other_ids[int(rows[k])])
        columns: list[list[Any]] = [
            np.arange(ann_id + 1, ann_id + len(rows) + 1).tolist(),
            np.repeat(np.arange(start + 1, start + len(part) + 1), counts).tolist(),
            category.tolist(),
            *(xywh[:, c].tolist() for c in range(4)),
            area.tolist(),
            crowd.tolist(),
            source,
        ]
        flat: list[Any] = [None] * (len(columns) * len(rows))
        for c, values in enumerate(columns):
            flat[c :: len(columns)] = values
        text = (_ANN * len(rows)) % tuple(flat)
        if not np.isfinite(area).all():  # w * h overflowed: json writes Infinity where %r writes inf
            text = text.replace(',"area":inf,', ',"area":Infinity,')
        yield text
        ann_id += len(rows)
