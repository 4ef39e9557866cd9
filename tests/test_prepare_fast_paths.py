"""prepare's fast paths against the slow ones they stand in for, on real files: the JPEG header reader
against PIL, image checks made ahead by prefetch workers, label text for many images at once, and the dataset
id's hand-formatted rows."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import random
import re
from pathlib import Path

import numpy as np
import orjson
import pytest
from conftest import shared_testdata
from hypothesis import given, settings
from hypothesis import strategies as st
from odpipe.prepare import dataset_id as dataset_id_mod
from odpipe.prepare import images as images_mod
from odpipe.prepare import yolo
from odpipe.prepare.boxes import BoxStore
from odpipe.prepare.dataset_id import dataset_id, repr_safe
from odpipe.prepare.images import ImageCheck, inspect_image
from odpipe.prepare.jpeg_header import jpeg_size
from odpipe.prepare.prefetch import ImagePrefetch
from odpipe.prepare.run import report_splits
from odpipe.prepare.validate import Category, ImageRecord
from odpipe.prepare.yolo import dataset_name, label_texts, write_coco_split
from odpipe.reports.dataset import SplitBoxes, images_per_class, plot_data, size_class, size_counts
from PIL import Image


def _same(check: ImageCheck) -> ImageCheck:
    """The check with PIL's object address taken out of its message ("... <_io.BytesIO object at 0x..>")."""
    return dataclasses.replace(check, problem=re.sub(r" at 0x[0-9a-f]+", "", check.problem))


def _pil(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.size if img.format == "JPEG" else None
    except Exception:
        return None


def _jpeg(size: tuple[int, int] = (40, 30), **save: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(buf, "JPEG", **save)
    return buf.getvalue()


def _variants(data: bytes, rng: random.Random) -> list[bytes]:
    """The file, cut short at several places, and with single bytes of its header changed."""
    out = [data, data[: len(data) // 2], data[:-2], data + b"\x00\x00"]
    out += [data[: rng.randint(0, min(len(data), 700))] for _ in range(4)]
    for _ in range(8):
        b = bytearray(data)
        b[rng.randint(0, min(len(b), 600) - 1)] = rng.randint(0, 255)
        out.append(bytes(b))
    return out


def test_jpeg_size_agrees_with_pil_on_the_shared_fixtures() -> None:
    files = sorted(shared_testdata("bccd").rglob("*.jpg"))[:120]
    rng = random.Random(16)
    answered = 0
    for path in files:
        for data in _variants(path.read_bytes(), rng):
            size = jpeg_size(data)
            if size is not None:
                answered += 1
                assert size == _pil(data), path  # when it answers, PIL opens the file the same way
    assert answered > len(files)  # and it answers for the plain files


@pytest.mark.parametrize(
    "data",
    [
        _jpeg(progressive=True),
        _jpeg(exif=Image.Exif().tobytes()),  # EXIF: left to PIL
        _jpeg(icc_profile=b"\x00" * 200),  # ICC (APP2): left to PIL
        _jpeg(comment=b"odpipe"),
        _jpeg((1, 1)),
        _jpeg().replace(b"\xff\xdb", b"\xff\xff\xdb", 1),  # padding before a marker: left to PIL
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",  # a JFIF header cut short
        b"\xff\xd8\xff\xd9",
        b"",
        b"GIF89a",
    ],
)
def test_jpeg_size_answers_only_as_pil_would(data: bytes) -> None:
    size = jpeg_size(data)
    assert size is None or size == _pil(data)


def _pil_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images_mod, "jpeg_size", lambda _data: None)


def test_image_checks_are_the_same_with_and_without_the_header_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Good, truncated and corrupt files give the very same findings (size, problem text, hash)."""
    rng = random.Random(2)
    sources = [_jpeg(), _jpeg((64, 48), progressive=True)]
    sources += [p.read_bytes() for p in sorted(shared_testdata("bccd").rglob("*.jpg"))[:3]]
    names = []
    for n, src in enumerate(sources):
        for m, data in enumerate(_variants(src, rng)):
            (tmp_path / f"{n}_{m}.jpg").write_bytes(data)
            names.append(f"{n}_{m}.jpg")
    fast = [_same(inspect_image(tmp_path, name)) for name in names]
    _pil_only(monkeypatch)
    slow = [_same(inspect_image(tmp_path, name)) for name in names]
    assert fast == slow
    assert {c.problem.split(" (")[0] for c in fast if not c.ok} >= {"truncated JPEG"}


def test_prefetched_checks_are_the_checks(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / ".hidden").write_bytes(_jpeg())
    names = [f"sub/{n}.jpg" if n % 3 else f"{n}.jpg" for n in range(40)]
    for n, name in enumerate(names):
        (tmp_path / name).write_bytes(_jpeg((20 + n, 10)) if n % 7 else b"not an image")
    prefetch = ImagePrefetch(tmp_path, 2)
    done = prefetch.results(finish=True)
    assert {k: _same(v) for k, v in done.items()} == {name: _same(inspect_image(tmp_path, name)) for name in names}
    stopped = ImagePrefetch(tmp_path, 2)
    partial = stopped.results(finish=False)  # whatever was done by now, each one right
    assert all(_same(check) == _same(inspect_image(tmp_path, name)) for name, check in partial.items())
    ImagePrefetch(tmp_path, 1).close()


def _reference_label(boxes: list[tuple[int, float, float, float, float]], width: int, height: int) -> str:
    """The label file as prepare wrote it box by box before label_texts."""
    out = []
    for cls, x, y, w, h in boxes:
        cx, cy = (x + w / 2) / width, (y + h / 2) / height
        out.append(f"{cls} {cx:.10g} {cy:.10g} {w / width:.10g} {h / height:.10g}\n")
    return "".join(out)


def _random_store(rng: random.Random, cats: list[int]) -> tuple[list[ImageRecord], dict[int, list[tuple]]]:
    store, recs, boxes = BoxStore(), [], {}
    for n in range(300):
        recs.append(ImageRecord(str(n), n, "f", f"{n}.jpg", rng.randint(1, 4000), rng.randint(1, 4000), store=store))
        recs[-1].number = n
    for row in range(3000):
        rec = recs[rng.randrange(len(recs))]
        x = rng.choice([0.0, -0.0, rng.uniform(0, rec.width), float(rng.randint(0, rec.width)), 1e-300])
        w = rng.choice([rng.uniform(1e-9, rec.width), 0.1 + 0.2, 1e22, 1.0])
        y, h = rng.uniform(0, rec.height), rng.uniform(0.5, rec.height)
        cat, crowd = rng.choice(cats), rng.random() < 0.1
        store.add(rec.number, row, cat, (x, y, w, h), crowd)
        boxes.setdefault(rec.number, []).append((cat, x, y, w, h, crowd))
    store.finish(len(recs))
    return recs, boxes


def test_label_texts_match_the_per_box_formula() -> None:
    rng = random.Random(5)
    cats = [1, 7, 90, 10**12]
    index_of = {c: i for i, c in enumerate(cats)}
    recs, boxes = _random_store(rng, cats)
    chosen = rng.sample(recs, 250)
    for rec, text in zip(chosen, label_texts(chosen, index_of), strict=True):
        trainable = [(index_of[c], x, y, w, h) for c, x, y, w, h, crowd in boxes.get(rec.number, []) if not crowd]
        assert text == _reference_label(trainable, rec.width, rec.height)
    assert label_texts([], index_of) == []
    # a declared category whose id is beyond int64 (no box can hold it) does not break the lookup
    # (found by the COCO fuzzer: OverflowError)
    wide = {**index_of, 2**70: len(cats), -(2**80): len(cats) + 1}
    assert label_texts(chosen, wide) == label_texts(chosen, index_of)


def test_dataset_id_hashes_the_json_rows_it_always_hashed() -> None:
    rng = random.Random(9)
    recs, _ = _random_store(rng, [3, 4])
    for rec in recs:
        rec.sha256, rec.split = f"{rec.number:064x}", rng.choice(["train", "val"])
    cats = [Category(3, "a"), Category(4, "b")]
    params = {"seed": 0}
    for chosen in (recs, recs[::3][::-1], recs[:1], []):  # a subset: the other images' boxes are not hashed
        assert dataset_id(cats, chosen, params) == _reference_id(cats, chosen, params)


def _reference_id(cats: list[Category], chosen: list[ImageRecord], params: dict[str, int]) -> str:
    """The id as prepare computed it with json.dumps and Python's sort, one image at a time."""
    digest = hashlib.sha256()
    head = {"format": 1, "categories": [[c.coco_id, c.name] for c in cats], "params": params}
    digest.update(json.dumps(head, sort_keys=True, separators=(",", ":")).encode())
    for rec in sorted(chosen, key=lambda r: (r.relpath, r.key)):
        rows = sorted([list(row) for row in rec.store.hash_rows(rec.number)])
        row = [rec.relpath, rec.sha256, rec.width, rec.height, rec.split, rows]
        digest.update(json.dumps(row, separators=(",", ":")).encode() + b"\n")
    return digest.hexdigest()[:16]


def test_dataset_id_keeps_file_order_where_boxes_tie() -> None:
    """0.0 and -0.0 compare equal: Python's sort keeps them in file order, and so must the id's."""
    store = BoxStore()
    rec = ImageRecord("0", 0, "f", "a.jpg", 10, 10, sha256="0" * 64, split="train", store=store)
    for row, x in enumerate([0.0, -0.0, 0.0, -0.0, 1.0, -0.0]):
        store.add(0, row, 3, (x, 1.0, 2.0, 2.0), row == 5)
    store.finish(1)
    cats = [Category(3, "a")]
    assert dataset_id(cats, [rec], {}) == _reference_id(cats, [rec], {})
    rec.store = BoxStore()
    for row, x in enumerate([-0.0, 0.0, 0.0, -0.0, 1.0, -0.0]):  # the same boxes, ties in another order
        rec.store.add(0, row, 3, (x, 1.0, 2.0, 2.0), row == 5)
    rec.store.finish(1)
    assert dataset_id(cats, [rec], {}) == _reference_id(cats, [rec], {})


def _reference_coco(chosen: list[ImageRecord], categories: list[Category], split: str) -> dict[str, object]:
    """The split's COCO document as prepare built it one Box at a time before the columnar writer."""
    anns, ann_id = [], 0
    for img_id, rec in enumerate(chosen, start=1):
        for b in rec.boxes:
            ann_id += 1
            ann = {"id": ann_id, "image_id": img_id, "category_id": b.category_id, "bbox": [b.x, b.y, b.w, b.h]}
            ann.update(area=b.w * b.h, iscrowd=int(b.iscrowd), source_id=b.orig_id)
            anns.append(ann)
    images = [
        {"id": i, "file_name": dataset_name(r.relpath), "width": r.width, "height": r.height, "source_id": r.orig_id}
        for i, r in enumerate(chosen, start=1)
    ]
    cats = [{"id": c.coco_id, "name": c.name} for c in categories]
    return {"info": {"description": f"odpipe {split} split"}, "images": images, "annotations": anns, "categories": cats}


def test_coco_split_file_is_what_json_dumps_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(yolo, "CHUNK", 7)  # many pieces
    rng = random.Random(11)
    store, recs = BoxStore(), []
    odd_ids = ['a"b\\c', "é", 7.5, None, [1], "", 10**30]
    for n in range(60):
        recs.append(ImageRecord(str(n), n, "f", f"d/{n}.jpg", 100, 80, split=rng.choice(["val", "train"]), store=store))
        recs[-1].number = n
    for row in range(700):
        rec = recs[rng.randrange(len(recs))]
        orig = rng.choice(odd_ids) if row % 9 == 0 else rng.randint(-(2**63), 2**63 - 1)
        w, h = rng.choice([(rng.uniform(0, 50), rng.uniform(0, 50)), (1e300, 1e300), (0.1 + 0.2, 3.0)])
        store.add(rec.number, orig, rng.choice([1, 5, 2**40]), (rng.uniform(0, 9), -0.0, w, h), rng.random() < 0.2)
    store.finish(len(recs))
    cats = [Category(1, "a"), Category(5, "b"), Category(2**40, "c")]
    write_coco_split(tmp_path / "val.json", recs, cats, "val")
    chosen = sorted((r for r in recs if r.split == "val"), key=lambda r: r.relpath)
    want = json.dumps(_reference_coco(chosen, cats, "val"), separators=(",", ":"))
    assert (tmp_path / "val.json").read_text() == want
    write_coco_split(tmp_path / "test.json", recs, cats, "test")  # no image in it
    assert (tmp_path / "test.json").read_text() == json.dumps(_reference_coco([], cats, "test"), separators=(",", ":"))


@pytest.mark.parametrize("with_orjson", [True, False])
def test_dataset_id_the_same_from_orjson_and_from_format(with_orjson: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not with_orjson:
        monkeypatch.setattr(dataset_id_mod, "orjson", None)
    monkeypatch.setattr(dataset_id_mod, "CHUNK", 7)  # images a chunk: memory follows the chunk
    rng = random.Random(13)
    store, recs = BoxStore(), []
    for n in range(200):
        odd = ["", 'q"uote', "back\\slash", "ünï", "tab\t", "del\x7f"][n % 6] if n % 3 == 0 else ""  # json escapes
        recs.append(ImageRecord(str(n), n, "f", f"{n % 50}/{odd}{n}.jpg", 640, 480, "ab" * 32, "val", store=store))
        recs[-1].number = n
    for row in range(2000):  # values orjson writes as repr does (the range repr_safe allows), ties included
        x = rng.choice([0.0, -0.0, 1e-4, rng.uniform(0, 640), float(rng.randint(0, 640)), 9999999999999998.0])
        box = (x, rng.choice([0.5, 7.25]), 0.1 + 0.2, 3.0)
        store.add(rng.randrange(200), row, rng.choice([1, 2]), box, row % 7 == 0)
    store.finish(200)
    cats = [Category(1, "a"), Category(2, "b")]
    assert dataset_id(cats, recs, {}) == _reference_id(cats, recs, {})


@settings(max_examples=2000, deadline=None)
@given(
    st.floats(allow_nan=False, allow_infinity=False) | st.floats(1e-4, 1e16) | st.integers(-(10**15), 10**15).map(float)
)
def test_orjson_writes_repr_where_repr_safe_says_so(value: float) -> None:
    if bool(repr_safe(np.array([value]))[0]):
        assert orjson.dumps(value).decode() == repr(value)


def test_report_splits_hold_every_box_as_before() -> None:
    rng = random.Random(17)
    recs, _ = _random_store(rng, [3, 4])
    for rec in recs:
        rec.split = rng.choice(["train", "val", "test"])
    cats = [Category(3, "a"), Category(4, "b")]
    docs, stride = report_splits(recs, cats)
    assert stride == 1
    for split, doc in docs.items():
        chosen = sorted((r for r in recs if r.split == split), key=lambda r: r.relpath)
        want = [  # as report_splits built them from hash_rows, one image at a time
            {"image_id": i, "category_id": c, "bbox": [x, y, w, h], "iscrowd": k}
            for i, rec in enumerate(chosen, start=1)
            for c, x, y, w, h, k in rec.store.hash_rows(rec.number)
        ]
        boxes = doc["boxes"]
        columns = (boxes.image.tolist(), boxes.category.tolist(), boxes.xywh.tolist(), boxes.crowd.tolist())
        got = [{"image_id": i, "category_id": c, "bbox": b, "iscrowd": k} for i, c, b, k in zip(*columns, strict=True)]
        assert got == want
        assert _same_boxes(SplitBoxes.of({"annotations": want}), boxes)  # a COCO document gives the same
        assert [i["file_name"] for i in doc["images"]] == [dataset_name(r.relpath) for r in chosen]


def _same_boxes(a: SplitBoxes, b: SplitBoxes) -> bool:
    pairs = ((a.image, b.image), (a.category, b.category), (a.xywh, b.xywh), (a.crowd, b.crowd))
    return all(np.array_equal(x, y) for x, y in pairs)


def test_report_statistics_as_counted_one_box_at_a_time() -> None:
    rng = random.Random(21)
    anns = [
        {
            "image_id": rng.randint(1, 40),
            "category_id": rng.choice([1, 2, 9, 77]),
            "bbox": [1.0, 2.0, rng.choice([rng.uniform(0, 200), 32.0, 96.0, 0.0]), rng.choice([32.0, 0.5, 0.0])],
            "iscrowd": rng.random() < 0.2,
        }
        for _ in range(3000)
    ]
    boxes = SplitBoxes.of({"annotations": anns})
    plain = [a for a in anns if not a["iscrowd"]]
    pairs = {(a["category_id"], a["image_id"]) for a in plain}
    assert images_per_class(boxes, [1, 2, 9, 5]) == {c: sum(1 for p in pairs if p[0] == c) for c in (1, 2, 9, 5)}
    want = {"small": 0, "medium": 0, "large": 0}
    for a in plain:
        want[size_class(a["bbox"][2] * a["bbox"][3])] += 1
    assert size_counts(boxes) == want
    manifest = {"classes": [{"name": "a"}], "splits": {"val": {"per_class": {"a": 3}}}}
    _, _, areas, ratios = plot_data(manifest, {"val": {"annotations": anns}})
    assert areas["val"].tolist() == [a["bbox"][2] * a["bbox"][3] for a in plain]
    assert ratios["val"].tolist() == [a["bbox"][2] / a["bbox"][3] for a in plain if a["bbox"][3] > 0]
