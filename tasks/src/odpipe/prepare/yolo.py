"""Write the Ultralytics YOLO layout: images/<split>, labels/<split>, and COCO JSON per eval split with
the original category ids (what the evaluator scores against). Folder names and data.yaml come from
`odpipe.dataset_manifest`."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from odpipe.dataset_manifest import SPLITS, images_dir, labels_dir
from odpipe.prepare import parallel
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


LabelBox = tuple[int, float, float, float, float]  # class index, x, y, w, h (COCO pixels)


def label_lines(boxes: Sequence[LabelBox], width: int, height: int) -> str:
    out = []
    for cls, x, y, w, h in boxes:
        cx, cy = (x + w / 2) / width, (y + h / 2) / height
        out.append(f"{cls} {cx:.10g} {cy:.10g} {w / width:.10g} {h / height:.10g}\n")
    return "".join(out)


# (image source, image destination, label file, link mode, width, height, trainable boxes)
PlaceJob = tuple[str, str, str, LinkMode, int, int, list[LabelBox]]


def place_and_label(jobs: Sequence[PlaceJob]) -> list[None]:
    """One chunk of the dataset's files, for a worker process: each image linked in, its label written."""
    for src, dest, label, mode, width, height, boxes in jobs:
        place_image(src, dest, mode)
        fd = os.open(label, _CREATE, 0o666)
        try:
            os.write(fd, label_lines(boxes, width, height).encode())
        finally:
            os.close(fd)
    return [None] * len(jobs)


_CREATE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC


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
) -> None:
    """Link the images in and write their labels, from this one process: on ext4, two processes
    creating files in one folder were measured 15x slower than one (20k label files: 5.2 s vs 0.35 s),
    the folder's lock passing back and forth, so this work is not spread over workers."""
    index_of = {c.coco_id: i for i, c in enumerate(categories)}
    for split in sorted({rec.split for rec in images if rec.split is not None}):
        (root / images_dir(split)).mkdir(parents=True, exist_ok=True)
        (root / labels_dir(split)).mkdir(parents=True, exist_ok=True)
    jobs = _place_jobs(root, images_root, images, index_of, mode)
    for _ in parallel.map_chunks(place_and_label, jobs, 1, progress, total=len(images)):
        pass


def _place_jobs(
    root: Path, images_root: Path, images: list[ImageRecord], index_of: dict[int, int], mode: LinkMode
) -> Iterator[list[PlaceJob]]:
    """The work of write_split_images in chunks, made as they are written (boxes of one chunk at a time)."""
    dirs = {s: (str(root / images_dir(s)), str(root / labels_dir(s))) for s in SPLITS}
    src_root = str(images_root)
    size = parallel.CHUNK
    for start in range(0, len(images), size):
        jobs: list[PlaceJob] = []
        for rec in images[start : start + size]:
            assert rec.split is not None
            name = dataset_name(rec.relpath)
            boxes = rec.store.label_rows(rec.number, index_of)
            image_dir, label_dir = dirs[rec.split]
            label = os.path.join(label_dir, label_stem(name) + ".txt")
            src, dest = os.path.join(src_root, rec.relpath), os.path.join(image_dir, name)
            jobs.append((src, dest, label, mode, rec.width, rec.height, boxes))
        yield jobs


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
        ann_id = 0
        for img_id, rec in enumerate(chosen, start=1):
            for b in rec.boxes:
                ann_id += 1
                ann = {"id": ann_id, "image_id": img_id, "category_id": b.category_id, "bbox": [b.x, b.y, b.w, b.h]}
                ann.update(area=b.w * b.h, iscrowd=int(b.iscrowd), source_id=b.orig_id)
                fh.write(("," if ann_id > 1 else "") + dumps(ann))
        fh.write('],"categories":' + dumps([{"id": c.coco_id, "name": c.name} for c in categories]) + "}")
