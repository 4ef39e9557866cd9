"""prepare's columnar paths against the row-by-row code they stand in for, on generated annotations:
AnnotationTable.from_list/extend against add, and validation's placing of plain rows all at once against
place_entry row after row (the same BoxStore, bit for bit, and the same report)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odpipe.coco.table import AnnotationTable
from odpipe.prepare import validate
from odpipe.prepare.boxes import BoxStore
from odpipe.prepare.report import Report
from odpipe.prepare.validate import ImageRecord, Source, _annotations

SETTINGS = settings(
    max_examples=400,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# (no int beyond float's range: validation's _bbox fails on one, OverflowError, row by row as at once)
ODD_NUMBERS = [2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 2**53 + 1, 2**70, 2**1023, True, False, "1", None]
EDGES = [0, 0.0, -0.0, 1e-300, -1e-300, 0.1 + 0.2, 0.5, 1, 3, 7, 9.99, 10, 10.0, 11, 479.9, 480, 640, 1e308]
COORD = st.one_of(
    st.sampled_from(EDGES),
    st.floats(-20, 700, allow_nan=False),
    st.integers(-5, 700),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(ODD_NUMBERS),
)
BOX = st.one_of(
    st.lists(COORD, min_size=4, max_size=4),
    st.lists(st.sampled_from(EDGES), min_size=3, max_size=5),
    st.tuples(COORD, COORD, COORD, COORD),
    st.sampled_from([None, "1,2,3,4", {"x": 1}]),
)
ANN_ID = st.one_of(st.integers(0, 12), st.sampled_from(["3", "x", "", 3.0, 2.5, "-0", " 4 ", *ODD_NUMBERS]))
IMAGE_ID = st.one_of(st.sampled_from([0, 1, 2, -3, 5]), st.sampled_from(["1", 1.0, 99, "abc", " 2", *ODD_NUMBERS]))
CATEGORY_ID = st.one_of(st.sampled_from([1, 2, 3]), st.sampled_from([9, "2", 2.0, 2**70, -(2**70), True, None]))
CROWD = st.sampled_from([0, 1, 0, 1.0, True, False, None, "1", 2, [1]])
ANNOTATION = st.fixed_dictionaries(
    {"id": ANN_ID, "image_id": IMAGE_ID, "category_id": CATEGORY_ID, "bbox": BOX},
    optional={"iscrowd": CROWD, "area": st.just(1.0)},
)
# mostly regular rows, so that runs of plain rows sit between the odd ones
REGULAR = st.fixed_dictionaries(
    {
        "id": st.integers(0, 40),
        "image_id": st.sampled_from([0, 1, 2, -3]),
        "category_id": st.sampled_from([1, 2, 3]),
        "bbox": st.lists(st.one_of(st.sampled_from(EDGES[:14]), st.floats(0, 12)), min_size=4, max_size=4),
        "iscrowd": st.sampled_from([0, 0, 0, 1]),
    }
)
ROW = st.one_of(REGULAR, ANNOTATION, st.sampled_from(["junk", None, 5, [1, 2]]))
IMAGES = {"0": (10, 8), "1": (640, 480), "2": (1, 1), "-3": (7, 5), "5": (12, 2**40)}


def _by_add(items: list[Any]) -> AnnotationTable:
    table = AnnotationTable()
    for item in items:
        table.add(item)
    return table


def _same_tables(a: AnnotationTable, b: AnnotationTable) -> None:
    for name in ("ids", "image_ids", "category_ids", "boxes", "crowd"):
        assert bytes(getattr(a, name)) == bytes(getattr(b, name)), name
    assert list(a.irregular) == list(b.irregular)
    assert all(a.irregular[row] is b.irregular[row] for row in a.irregular)
    assert a.first_object is b.first_object
    assert (a.any_bbox, a.all_crowd) == (b.any_bbox, b.all_crowd)


@SETTINGS
@given(st.lists(ROW, max_size=60), st.lists(st.integers(0, 60), max_size=4))
def test_from_list_and_extend_build_the_table_add_builds(items: list[Any], cuts: list[int]) -> None:
    slow = _by_add(items)
    _same_tables(AnnotationTable.from_list(items), slow)
    streamed, start = AnnotationTable(), 0  # the streaming reader hands batches and single rows
    for cut in [*sorted(cuts), len(items)]:
        streamed.extend(items[start:cut])
        if cut < len(items) and cut >= start:
            streamed.add(items[cut])
            cut += 1
        start = max(start, cut)
    _same_tables(streamed, slow)


def test_from_list_keeps_the_numbers_add_keeps() -> None:
    items = [
        {"id": 2**63 - 1, "image_id": -(2**63), "category_id": 1, "bbox": [2**63 - 1, -(2**63), 2**53 + 1, -0.0]},
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1e308, -1e308, 5e-324, 1]},
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [2**63, 0, 1, 1]},  # beyond int64: kept as written
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [math.nan, 0, 1, 1]},
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10**400, 0, 1, 1]},
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [True, 0, 1, 1], "iscrowd": 1.0},
    ]
    table = AnnotationTable.from_list(items)
    _same_tables(table, _by_add(items))
    assert sorted(table.irregular) == [2, 3, 4, 5] and table.crowd == bytearray([0, 0, 0, 0, 0, 1])


def _images(sources: int, store: BoxStore, extra: bool) -> dict[str, ImageRecord]:
    shapes = {**IMAGES, "abc": (10, 10)} if extra else IMAGES
    images: dict[str, ImageRecord] = {}
    for src in range(sources):
        for key, (w, h) in shapes.items():
            full = f"{src}:{key}"
            images[full] = ImageRecord(full, key, f"f{src}", f"{full}.jpg", w, h, number=len(images), store=store)
    return images


def _validated(
    tables: list[AnnotationTable], columnar: bool, options: tuple[Any, ...], chunk: int = validate.CHUNK_ROWS
) -> tuple[Any, ...]:
    tolerance, crowd_as_target, extra = options
    store, report = BoxStore(), Report()
    sources = [Source(Path(f"f{n}.json"), {"annotations": t}) for n, t in enumerate(tables)]
    known = {1, 2, 3, -(2**70)}
    images = _images(len(tables), store, extra)
    default, validate.CHUNK_ROWS = validate.CHUNK_ROWS, chunk
    try:
        _annotations(sources, images, known, report, tolerance, crowd_as_target, store, columnar=columnar)
    finally:
        validate.CHUNK_ROWS = default
    columns = (store.image, store.category, store.xywh, store.crowd, store.int_ids)
    return (*(bytes(c) for c in columns), store.other_ids, report.to_dict())


@SETTINGS
@given(
    st.lists(st.lists(ROW, max_size=60), min_size=1, max_size=2),
    st.sampled_from([0.02, 0.0, 0, 0.5, -0.01, 1]),
    st.booleans(),
    st.booleans(),
    st.sampled_from([1 << 18, 1, 7]),
)
def test_plain_rows_at_once_give_what_row_by_row_gives(
    files: list[list[Any]], tolerance: float, crowd_as_target: bool, extra: bool, chunk: int
) -> None:
    tables = [AnnotationTable.from_list(items) for items in files]
    options = (tolerance, crowd_as_target, extra)
    columnar = _validated(tables, True, options, chunk)
    assert columnar == _validated(tables, False, options)


def test_a_clipped_box_is_stored_as_clip_to_image_computes_it() -> None:
    """-0.0 is stored as 0.0 (max(0.0, -0.0)), and w as (x + w) - x, which is not always w."""
    items = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [-0.0, 0.1, 0.1 + 0.2, 7.0]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [300.1, 0.7, 0.2, 0.1], "iscrowd": 1},
        {"id": 3, "image_id": 1, "category_id": 2, "bbox": [639.0, -1.0, 2.0, 3.0]},  # clipped: one by one
    ]
    table = AnnotationTable.from_list(items)
    fast = _validated([table], True, (0.02, False, False))
    assert fast == _validated([table], False, (0.02, False, False))
    xywh = memoryview(fast[2]).cast("d").tolist()
    assert math.copysign(1, xywh[0]) == 1 and xywh[6] == (300.1 + 0.2) - 300.1 != 0.2
    assert [f["code"] for f in fast[-1]["findings"]] == ["annotation-bbox-clipped", "annotation-crowd"]
