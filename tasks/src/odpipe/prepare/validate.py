"""Validate COCO instances against the images on disk and keep what is trainable.

The default policy drops what is bad with a warning; the run fails only when the input is not COCO
instances or nothing trainable remains (and, with --strict, on any warning).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from odpipe.coco.table import AnnotationTable
from odpipe.common.errors import InputError
from odpipe.prepare import box_rules
from odpipe.prepare.boxes import Box, BoxStore
from odpipe.prepare.images import HashCache, ImageCheck, ImageIndex, PathEscapes, inspect_many
from odpipe.prepare.parallel import map_chunks
from odpipe.prepare.prefetch import ImagePrefetch
from odpipe.prepare.report import Report


@dataclass
class ImageRecord:
    key: str
    orig_id: Any
    source: str
    relpath: str
    width: int
    height: int
    sha256: str = ""
    split: str | None = None
    number: int = 0  # its row in the BoxStore
    store: BoxStore = field(default_factory=BoxStore, repr=False)

    @property
    def boxes(self) -> list[Box]:
        return self.store.boxes_of(self.number)

    @property
    def trainable_boxes(self) -> list[Box]:
        return [b for b in self.boxes if not b.iscrowd]

    @property
    def box_count(self) -> int:
        return self.store.counts_of(self.number)[0]

    @property
    def trainable_count(self) -> int:
        boxes, crowd = self.store.counts_of(self.number)
        return boxes - crowd


@dataclass(frozen=True)
class Category:
    coco_id: int
    name: str


@dataclass
class Source:
    """One COCO file, optionally pinned to a split (one file per split)."""

    path: Path
    doc: dict[str, Any]
    split: str | None = None


@dataclass
class Validated:
    categories: list[Category]
    images: list[ImageRecord]


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


def _int_like(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        try:
            return int(value.strip())
        except ValueError:  # "--7", "²": digits to isdigit, not to int
            return None
    return None


def id_key(value: Any) -> str | None:
    """Normalise an image or annotation id: ints and their string spellings compare equal."""
    if isinstance(value, bool) or value is None:
        return None
    as_int = _int_like(value)
    if as_int is not None:
        return str(as_int)
    if isinstance(value, str) and value:
        return value
    return None


def _categories(sources: list[Source], report: Report) -> list[Category]:
    by_id: dict[int, Category] = {}
    origin: dict[int, str] = {}
    for src in sources:
        seen: set[int] = set()
        for cat in src.doc["categories"]:
            cid = _int_like(cat.get("id")) if isinstance(cat, dict) else None
            name = cat.get("name") if isinstance(cat, dict) else None
            if cid is not None and not _INT64_MIN <= cid <= _INT64_MAX:
                cid = None  # boxes are held as int64 category ids
            if cid is None or not isinstance(name, str) or not name.strip():
                report.add("category-bad-field", str(src.path), id=cat.get("id") if isinstance(cat, dict) else cat)
                continue
            if cid in seen:
                report.add("category-duplicate-id", str(src.path), id=cid)
                continue
            seen.add(cid)
            if cid in by_id:
                if by_id[cid].name != name:
                    raise InputError(
                        f"{src.path}: category id {cid} is named {name!r} here but {by_id[cid].name!r} in "
                        f"{origin[cid]}: split files must share one category list"
                    )
                continue
            by_id[cid] = Category(cid, name)
            origin[cid] = str(src.path)
    if not by_id:
        raise InputError(f"{sources[0].path}: no valid categories (each needs an integer 'id' and a 'name')")
    cats = [by_id[k] for k in sorted(by_id)]
    counts: dict[str, int] = {}
    for c in cats:
        counts[c.name] = counts.get(c.name, 0) + 1
    out = []
    for c in cats:
        if counts[c.name] > 1:
            report.add("category-duplicate-name", origin[c.coco_id], id=c.coco_id, name=c.name)
            c = Category(c.coco_id, f"{c.name}_{c.coco_id}")
        out.append(c)
    if any(c.coco_id == 0 for c in out):
        report.add("category-id-zero", origin[0], id=0)
    if [c.coco_id for c in out] != list(range(len(out))):
        report.add("category-non-contiguous", str(sources[0].path), ids=[c.coco_id for c in out][:20])
    return out


def _positive_int(value: Any) -> int | None:
    v = _int_like(value)
    return v if v is not None and v > 0 else None


def _images(sources: list[Source], index: ImageIndex, report: Report, store: BoxStore) -> dict[str, ImageRecord]:
    kept: dict[str, ImageRecord] = {}
    by_file: dict[str, str] = {}
    for src_no, src in enumerate(sources):
        file = str(src.path)
        entries: dict[str, list[dict[str, Any]]] = {}
        for img in src.doc["images"]:
            key = id_key(img.get("id")) if isinstance(img, dict) else None
            if key is None:
                report.add("image-bad-field", file, id=img.get("id") if isinstance(img, dict) else img, field="id")
                continue
            entries.setdefault(key, []).append(img)
        for key, imgs in entries.items():
            if len(imgs) > 1:
                report.add("image-duplicate-id", file, id=imgs[0]["id"], times=len(imgs))
                continue
            img = imgs[0]
            name = img.get("file_name")
            width, height = _positive_int(img.get("width")), _positive_int(img.get("height"))
            bad = (
                "file_name"
                if not isinstance(name, str) or not name
                else ("width" if width is None else "height" if height is None else None)
            )
            if bad:
                report.add("image-bad-field", file, id=img["id"], field=bad)
                continue
            assert isinstance(name, str) and width is not None and height is not None
            try:
                found = index.resolve(name)
            except PathEscapes:
                report.add("image-path-escapes", file, id=img["id"], file_name=name)
                continue
            if found.relpath is None:
                code = "image-ambiguous" if found.how == "ambiguous" else "image-missing"
                report.add(code, file, id=img["id"], file_name=name)
                continue
            if found.how == "foreign-basename":
                report.add("image-foreign-path", file, id=img["id"], file_name=name)
            elif found.how == "basename":
                report.add("image-resolved-by-basename", file, id=img["id"], file_name=name)
            if found.relpath in by_file:
                report.add(
                    "image-duplicate-file",
                    file,
                    id=img["id"],
                    file_name=name,
                    first_id=kept[by_file[found.relpath]].orig_id,
                )
                continue
            full_key = f"{src_no}:{key}"
            by_file[found.relpath] = full_key
            kept[full_key] = ImageRecord(
                full_key, img["id"], file, found.relpath, width, height, split=src.split, number=len(kept), store=store
            )
    return kept


def _check_files(
    images: dict[str, ImageRecord],
    root: Path,
    report: Report,
    cache: HashCache | None,
    full_decode: bool,
    workers: int,
    progress: Callable[[int], None] | None,
    prefetched: Callable[[int], dict[str, ImageCheck]] | None = None,
) -> None:
    todo: list[ImageRecord] = []
    checks: dict[str, ImageCheck] = {}
    for rec in images.values():
        hit = cache.get(root, rec.relpath) if cache and not full_decode else None
        if hit:
            checks[rec.key] = hit
        else:
            todo.append(rec)
    fresh = set()
    if prefetched is not None and todo:
        done = prefetched(len(todo))
        fresh = {rec.key for rec in todo if rec.relpath in done}
        checks.update((rec.key, done[rec.relpath]) for rec in todo if rec.key in fresh)
        todo = [rec for rec in todo if rec.key not in fresh]
    if progress:
        progress(len(checks))
    jobs = [(str(root), rec.relpath, full_decode) for rec in todo]
    for rec, check in zip(todo, map_chunks(inspect_many, jobs, workers, progress), strict=True):
        checks[rec.key] = check
        fresh.add(rec.key)
    if cache:
        for key in images:
            if key in fresh:
                cache.put(root, checks[key])
    for key in list(images):
        rec, check = images[key], checks[key]
        if not check.ok:
            report.add("image-unreadable", rec.source, id=rec.orig_id, file_name=rec.relpath, problem=check.problem)
            del images[key]
        elif (check.width, check.height) != (rec.width, rec.height):
            hint = " (rotated: EXIF orientation?)" if (check.height, check.width) == (rec.width, rec.height) else ""
            report.add(
                "image-size-mismatch",
                rec.source,
                id=rec.orig_id,
                file_name=rec.relpath,
                declared=f"{rec.width}x{rec.height}",
                real=f"{check.width}x{check.height}{hint}",
            )
            del images[key]
        else:
            rec.sha256 = check.sha256


def _bbox(value: Any) -> tuple[float, float, float, float] | None:
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    out = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float):
            return None
        try:
            number = float(v)
        except OverflowError:  # an integer beyond float's range
            return None
        if not math.isfinite(number):
            return None
        out.append(number)
    return out[0], out[1], out[2], out[3]


# One annotation with its fields checked: (id, id key, image key, image_id as written, category id,
# category_id as written, (x, y, w, h) or None when the bbox is bad, bbox as written, iscrowd).
Checked = tuple[Any, str, str, Any, int, Any, tuple[float, float, float, float] | None, Any, bool]


def _check_fields(ann: Any, file: str, report: Report) -> Checked | None:
    """An annotation that is not plainly regular (see AnnotationTable), normalised; None when a field is bad."""
    if not isinstance(ann, dict):
        report.add("annotation-bad-field", file, id=None, field="(not an object)")
        return None
    aid = ann.get("id")
    akey = id_key(aid)
    image_key = id_key(ann.get("image_id"))
    cid = _int_like(ann.get("category_id"))
    bad = "id" if akey is None else "image_id" if image_key is None else ("category_id" if cid is None else None)
    if bad:
        report.add("annotation-bad-field", file, id=aid, field=bad)
        return None
    assert akey is not None and image_key is not None and cid is not None
    raw_box = ann.get("bbox")
    crowd = ann.get("iscrowd") in (1, True)
    return (aid, akey, image_key, ann.get("image_id"), cid, ann.get("category_id"), _bbox(raw_box), raw_box, crowd)


# What an annotation adds to the BoxStore: (image number, id as written, category id, (x, y, w, h), iscrowd).
Kept = tuple[int, Any, int, tuple[float, float, float, float], bool]


@dataclass
class _AnnotationRules:
    file: str
    prefix: str  # "<source number>:", the start of the image keys of this file
    images: dict[str, ImageRecord]
    known: set[int]
    report: Report
    tolerance: float
    crowd_as_target: bool
    repeated: set[str]  # id keys that may occur twice (_repeated_keys)
    seen: dict[str, tuple[Any, ...]] = field(default_factory=dict)

    def place(self, ann: Checked) -> Kept | None:
        """The box one annotation gives its image, or None, reported, when it gives none."""
        aid, akey, image_key, image_raw, cid, cat_raw, box, raw_box, crowd = ann
        rec = self.images.get(self.prefix + image_key)
        if rec is None:
            self.report.add("annotation-unknown-image", self.file, id=aid, image_id=image_raw)
            return None
        if cid not in self.known:
            self.report.add("annotation-unknown-category", self.file, id=aid, category_id=cat_raw)
            return None
        if box is None:
            self.report.add("annotation-bad-bbox", self.file, id=aid, bbox=raw_box)
            return None
        if akey in self.repeated:  # an id that occurs once in the file needs no remembering
            signature = (image_key, cid, box)
            if akey in self.seen:
                self.report.add("annotation-duplicate-id", self.file, id=aid)
                if self.seen[akey] == signature:
                    return None
            self.seen[akey] = signature
        placed = _clip_to_image(box, rec, self.tolerance, self.report, self.file, aid)
        if placed is None:
            return None
        crowd = crowd and not self.crowd_as_target
        if crowd:
            self.report.add("annotation-crowd", self.file, id=aid)
        return rec.number, aid, cid, placed, crowd


def _repeated_keys(table: AnnotationTable) -> set[str]:
    """Id keys that may occur more than once in a file: plain integer ids seen twice or more, and every
    id of an irregular row (a string "7" and an integer 7 are one key). Duplicates are looked for among
    these only, so their memory follows the duplicates, not the boxes."""
    keys = {str(v) for v in table.repeated_ids()}
    for ann in table.irregular.values():
        key = id_key(ann.get("id")) if isinstance(ann, dict) else None
        if key is not None:
            keys.add(key)
    return keys


def _annotations(
    sources: list[Source],
    images: dict[str, ImageRecord],
    known: set[int],
    report: Report,
    tolerance: float,
    crowd_as_target: bool,
    store: BoxStore,
    *,
    columnar: bool = True,
) -> None:
    """Add each source's boxes to ``store`` in file order. ``columnar``: the regular rows that give no
    finding (but iscrowd) are checked and added all at once, the others one by one (``place_columnar``);
    the same boxes and findings, in the same order, as one by one throughout."""
    for src_no, src in enumerate(sources):
        file = str(src.path)
        table = src.doc["annotations"]
        rules = _AnnotationRules(
            file, f"{src_no}:", images, known, report, tolerance, crowd_as_target, _repeated_keys(table)
        )
        if columnar:
            place_columnar(table, rules, store)
            continue
        for entry in table.entries():
            kept = place_entry(entry, rules)
            if kept is not None:
                store.add(*kept)


def place_entry(entry: Any, rules: _AnnotationRules) -> Kept | None:
    """One row of an AnnotationTable (``entries``): the box it keeps, or None with its findings."""
    ann = entry if type(entry) is tuple else _check_fields(entry, rules.file, rules.report)
    return rules.place(ann) if ann is not None else None


_I64 = 1 << 63
_EXACT = 1 << 53


def _plain_key(key: str) -> int | None:
    """The int64 whose ``str`` is ``key`` (the id key of a plain integer id), or None."""
    try:
        value = int(key)
    except ValueError:
        return None
    return value if str(value) == key and -_I64 <= value < _I64 else None


def _int64s(values: Any) -> npt.NDArray[np.int64]:
    return np.array([v for v in values if v is not None and -_I64 <= v < _I64], dtype=np.int64)


@dataclass
class _ImageColumns:
    """The images of one file whose key is a plain integer id, sorted by it, with what _clip_to_image
    compares a box with: width, height, -tol_x, -tol_y, width + tol_x, height + tol_y (floats)."""

    ids: npt.NDArray[np.int64]
    number: npt.NDArray[np.int64]
    limits: npt.NDArray[np.float64]

    @classmethod
    def of(cls, rules: _AnnotationRules) -> _ImageColumns:
        start = len(rules.prefix)
        mine = [key for key in rules.images if key.startswith(rules.prefix)]
        keys, recs = [key[start:] for key in mine], list(map(rules.images.__getitem__, mine))
        sizes = [rec.width for rec in recs] + [rec.height for rec in recs]
        try:
            ids = list(map(int, keys))
            plain = list(map(str, ids)) == keys and (not ids or (min(ids) >= -_I64 and max(ids) < _I64))
        except ValueError:
            plain = False
        if not plain or type(rules.tolerance) is not float or not set(map(type, sizes)) <= {int}:
            return cls.one_by_one(keys, recs, rules.tolerance)
        size = np.array(sizes, dtype=np.float64).reshape(2, -1)
        if len(recs) and size.max() > _EXACT:
            return cls.one_by_one(keys, recs, rules.tolerance)
        # as Python multiplies a float by an int (exact as a float)
        limits = np.stack([size[0], size[1], *box_rules.tolerance_limits(size[0], size[1], rules.tolerance)], axis=1)
        return cls.sorted(ids, [rec.number for rec in recs], limits)

    @classmethod
    def one_by_one(cls, keys: list[str], recs: list[ImageRecord], tolerance: float) -> _ImageColumns:
        ids, numbers, limits = [], [], []
        for key, rec in zip(keys, recs, strict=True):
            value = _plain_key(key)
            lims = (rec.width, rec.height, *box_rules.tolerance_limits(rec.width, rec.height, tolerance))
            # a float compares with a box's numbers as the value does (ints only while exact as floats)
            exact = all(type(v) is float or (type(v) is int and -_EXACT <= v <= _EXACT) for v in lims)
            if value is not None and exact:
                ids.append(value)
                numbers.append(rec.number)
                limits.append(lims)
        return cls.sorted(ids, numbers, np.array(limits, dtype=np.float64).reshape(-1, 6))

    @classmethod
    def sorted(cls, ids: list[int], numbers: list[int], limits: npt.NDArray[np.float64]) -> _ImageColumns:
        as_ids = np.array(ids, dtype=np.int64)
        order = np.argsort(as_ids, kind="stable")
        return cls(as_ids[order], np.array(numbers, dtype=np.int64)[order], limits[order])


CHUNK_ROWS = 1 << 18  # rows checked at once: bounds the temporary arrays (~100 bytes a row)


@dataclass
class _Lookups:
    """What a plain row of one file is checked against."""

    images: _ImageColumns
    known: npt.NDArray[np.int64]  # category ids
    repeated: npt.NDArray[np.int64]  # ids that may occur twice (always placed one by one)
    regular: npt.NDArray[np.bool_]  # per row of the table

    @classmethod
    def of(cls, table: AnnotationTable, rules: _AnnotationRules) -> _Lookups:
        regular = np.ones(len(table), dtype=bool)
        regular[list(table.irregular)] = False
        repeated = _int64s(_plain_key(k) for k in rules.repeated)
        return cls(_ImageColumns.of(rules), _int64s(rules.known), repeated, regular)


PlainRows = tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64], npt.NDArray[np.float64], npt.NDArray[np.bool_]]


def _plain_rows(columns: tuple[Any, ...], look: _Lookups, rows: slice, crowd_as_target: bool) -> PlainRows:
    """For the table's ``rows``: (which are plain, their image numbers, boxes and iscrowd as stored). A
    plain row is a regular one of a known image and category, not a repeated id, whose box is not empty
    and lies in the image (nothing to clip), so that ``place`` reports nothing for it but iscrowd."""
    ids, image_ids, cats, boxes, crowd = (c[rows] for c in columns)
    images = look.images
    if not len(images.ids):
        return np.zeros(len(ids), bool), np.zeros(len(ids), np.int64), boxes, crowd
    at = np.minimum(np.searchsorted(images.ids, image_ids), len(images.ids) - 1)
    plain = look.regular[rows] & (images.ids[at] == image_ids)
    plain &= np.isin(cats, look.known) & ~np.isin(ids, look.repeated)
    width, height, *limits = images.limits[at].T
    x, y, w, h = boxes.T
    with np.errstate(all="ignore"):  # rows that are not plain may overflow; Python gives the same inf
        plain &= box_rules.has_area(w, h) & ~box_rules.outside(x, y, w, h, tuple(limits))  # type: ignore[arg-type]
        plain &= box_rules.inside(x, y, w, h, width, height)
        xywh = np.stack(box_rules.clip(x, y, w, h, width, height), axis=1)
    return plain, images.number[at], xywh, crowd & (not crowd_as_target)


def place_columnar(table: AnnotationTable, rules: _AnnotationRules, store: BoxStore) -> None:
    """Every row of ``table`` into ``store``, as ``place_entry`` row after row would: plain rows (see
    ``_plain_rows``) at once, the others one by one; the findings come in file order."""
    look = _Lookups.of(table, rules)
    columns = table.arrays()
    for start in range(0, len(table), CHUNK_ROWS):
        rows = slice(start, start + CHUNK_ROWS)
        plain, number, xywh, crowd = _plain_rows(columns, look, rows, rules.crowd_as_target)
        visit = np.flatnonzero(~plain | crowd)
        kept_rows, kept = [], []
        for row, is_plain in zip((visit + start).tolist(), plain[visit].tolist(), strict=True):
            if is_plain:  # iscrowd: its only finding
                rules.report.add("annotation-crowd", rules.file, id=table.ids[row])
                continue
            one = place_entry(table.entry(row), rules)
            if one is not None:
                kept_rows.append(row)
                kept.append(one)
        mine = np.flatnonzero(plain)
        ids, cats = columns[0][rows], columns[2][rows]
        plain_columns = (mine + start, ids[mine], number[mine], cats[mine], xywh[mine], crowd[mine])
        _store_rows(store, plain_columns, kept_rows, kept)


def _store_rows(store: BoxStore, plain: tuple[Any, ...], kept_rows: list[int], kept: list[Kept]) -> None:
    """Add the plain rows (row numbers, ids, image numbers, category ids, boxes, iscrowd: columns) and
    those kept one by one (at rows ``kept_rows``) to ``store``, in row order."""
    rows, *columns = plain
    at = np.searchsorted(rows, np.array(kept_rows, dtype=np.int64)) + np.arange(len(kept))
    theirs = np.ones(len(rows) + len(kept), dtype=bool)
    theirs[at] = False
    ids, image, category, boxes, crowd = (np.zeros((len(theirs), *c.shape[1:]), c.dtype) for c in columns)
    for merged, column in zip((ids, image, category, boxes, crowd), columns, strict=True):
        merged[theirs] = column
    other: dict[int, Any] = {}
    if kept:
        image[at] = [k[0] for k in kept]
        category[at] = [k[2] for k in kept]
        boxes[at] = [k[3] for k in kept]
        crowd[at] = [k[4] for k in kept]
        for pos, k in zip(at.tolist(), kept, strict=True):
            if type(k[1]) is int and -_I64 <= k[1] < _I64:
                ids[pos] = k[1]
            else:
                other[pos] = k[1]
    store.extend(image, category, boxes, crowd, ids, other)


def _clip_to_image(
    box: tuple[float, float, float, float], rec: ImageRecord, tolerance: float, report: Report, file: str, aid: Any
) -> tuple[float, float, float, float] | None:
    """The box (x, y, w, h) clipped to the image; None, reported, when it is empty or lies outside the
    image by more than ``tolerance`` of the image's size (the rules: box_rules)."""
    x, y, w, h = box
    if not box_rules.has_area(w, h):
        report.add("annotation-empty-bbox", file, id=aid, bbox=list(box))
        return None
    if box_rules.outside(x, y, w, h, box_rules.tolerance_limits(rec.width, rec.height, tolerance)):
        report.add("annotation-bbox-outside", file, id=aid, bbox=list(box), image=f"{rec.width}x{rec.height}")
        return None
    clipped = box_rules.clip(x, y, w, h, float(rec.width), float(rec.height))
    if box_rules.inside(x, y, w, h, rec.width, rec.height):
        return clipped
    if not box_rules.has_area(clipped[2], clipped[3]):
        report.add("annotation-empty-bbox", file, id=aid, bbox=list(box))
        return None
    report.add("annotation-bbox-clipped", file, id=aid, bbox=list(box))
    return clipped


def validate(
    sources: list[Source],
    images_root: Path,
    report: Report,
    *,
    tolerance: float = 0.02,
    full_decode: bool = False,
    crowd_as_target: bool = False,
    cache: HashCache | None = None,
    workers: int = 4,
    progress: Callable[[int], None] | None = None,
    prefetch: ImagePrefetch | None = None,
) -> Validated:
    """``prefetch``: checks of the image files begun before the annotations were parsed (not with
    ``full_decode``)."""
    if not images_root.is_dir():
        raise InputError(f"images root {images_root} is not a directory")
    categories = _categories(sources, report)
    index = ImageIndex(images_root)
    store = BoxStore()
    images = _images(sources, index, report, store)

    def prefetched(wanted: int) -> dict[str, ImageCheck]:
        assert prefetch is not None  # finish when most files under the root are wanted
        return prefetch.results(finish=2 * wanted >= len(index.by_rel))

    use = prefetched if prefetch and not full_decode else None
    _check_files(images, images_root, report, cache, full_decode, workers, progress, use)
    _annotations(sources, images, {c.coco_id for c in categories}, report, tolerance, crowd_as_target, store)
    store.finish(max((r.number + 1 for r in images.values()), default=0))
    crowd = sum(store.crowd)
    used = set(store.trainable_categories([r.number for r in images.values()]).tolist())
    for c in categories:
        if c.coco_id not in used:
            report.add("category-no-boxes", str(sources[0].path), id=c.coco_id, name=c.name)
    report.counts.update(
        {
            "images_declared": sum(len(s.doc["images"]) for s in sources),
            "annotations_declared": sum(len(s.doc["annotations"]) for s in sources),
            "images_kept": len(images),
            "boxes_kept": len(store.crowd) - crowd,
            "crowd_kept": crowd,
            "categories": len(categories),
        }
    )
    if not used:
        report.fatal(
            "nothing-trainable",
            str(sources[0].path),
            "nothing trainable remains: no image with a valid box survived validation",
        )
    return Validated(categories, list(images.values()))
