"""The typed decode of regular COCO files (`odpipe.coco.regular`) gives what the general parse gives: the same
document, the same annotation table, the same errors; and it only ever answers for files it can."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from odpipe.coco import load, regular, stream
from odpipe.common.errors import InputError

pytestmark = pytest.mark.skipif(regular.msgspec is None, reason="msgspec is not installed (the prepare extra has it)")

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _loaded(path: Path, typed: bool, monkeypatch: pytest.MonkeyPatch, chunk: int = 0) -> tuple[str, Any]:
    """load_instances' answer, with the typed decode on or off, in a comparable form; ``chunk``: parsed
    streaming, in windows of that many bytes (the typed decode takes whole windows of annotations)."""
    with monkeypatch.context() as m:
        if not typed:
            m.setattr(regular, "msgspec", None)
        if chunk:
            m.setattr(load, "STREAM_ABOVE_BYTES", 0)
            m.setattr(stream, "CHUNK", chunk)
            m.setattr(stream, "_BATCH_MIN", 0)
        try:
            doc = load.load_instances(path)
        except InputError as exc:
            return "error", str(exc)
    table = doc.pop("annotations")
    columns = [bytes(c) for c in (table.ids, table.image_ids, table.category_ids, table.boxes, table.crowd)]
    return "ok", (doc, columns, table.irregular, table.any_bbox, table.all_crowd)


def _same_both_ways(path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Any]:
    """The typed decode's answer, whole and streamed, is the general parse's (the streamed document also
    keeps top-level keys the whole-file typed decode would not take)."""
    general = _loaded(path, False, monkeypatch)
    assert _loaded(path, True, monkeypatch) == general
    for chunk in (200, 1 << 12):
        assert _loaded(path, True, monkeypatch, chunk) == general
    return general


def _doc(annotations: list[Any]) -> dict[str, Any]:
    return {
        "info": {"description": "x"},
        "images": [{"id": 1, "file_name": "a.jpg", "width": 10, "height": 12}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "cell", "supercategory": "x"}],
    }


SMALL_INT = st.one_of(st.integers(-5, 5), st.integers(-(10**17), 10**17))  # <= 18 digits: the typed decode's
BIG_INT = st.integers(-(2**70), 2**70)
ODD = st.one_of(st.booleans(), st.none(), st.just(1.0), st.just("3"), st.lists(st.integers(), max_size=2))
FINITE = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.floats(-1e4, 1e4), st.integers(0, 100))
NUMBER = st.one_of(FINITE, st.floats(), BIG_INT)
CROWD = st.sampled_from([0, 1, True, False, 1.0, "1", None, [1]])


@st.composite
def annotations(draw: st.DrawFn, odd: bool = True) -> dict[str, Any]:
    """An annotation, regular unless ``odd`` lets the draw make it otherwise (1 in ~10 fields)."""
    rare = (lambda: not draw(st.integers(0, 9))) if odd else (lambda: False)
    ann: dict[str, Any] = {}
    for key in ("id", "image_id", "category_id"):
        if not rare():
            ann[key] = draw(SMALL_INT)
        elif draw(st.booleans()):  # else the key is missing
            ann[key] = draw(st.one_of(BIG_INT, ODD))
    size = draw(st.sampled_from([3, 5, 0])) if rare() else 4
    if size:
        ann["bbox"] = draw(st.lists(NUMBER if rare() else FINITE, min_size=size, max_size=size))
    if draw(st.booleans()):
        ann["iscrowd"] = draw(CROWD)
    if draw(st.booleans()):
        ann["segmentation"] = [draw(st.lists(st.floats(0, 1e3), max_size=8))]
        ann["area"] = draw(st.floats(0, 1e6))
    if rare() and rare():
        ann[draw(st.sampled_from(["caption", "keypoints", "segments_info"]))] = []
    return ann


@SETTINGS
@given(anns=st.lists(annotations(), min_size=0, max_size=6))
def test_typed_decode_equals_the_general_parse(
    anns: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps(_doc(anns)))
    _same_both_ways(path, monkeypatch)


@SETTINGS
@given(anns=st.lists(annotations(odd=False), min_size=1, max_size=6))
def test_regular_files_take_the_typed_decode(
    anns: list[dict[str, Any]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps(_doc(anns)))
    assert regular.decode_regular(path.read_bytes()) is not None
    _same_both_ways(path, monkeypatch)


DIGITS = st.text("0123456789", min_size=1, max_size=9)


@st.composite
def number_texts(draw: st.DrawFn) -> str:
    """A JSON number as people and tools write it (not only as repr writes floats): up to 18 digits,
    the most the typed decode is given (a longer digit run sends the file to json)."""
    whole = draw(DIGITS).lstrip("0") or "0"
    frac = draw(st.one_of(st.just(""), DIGITS))
    exp = draw(st.one_of(st.just(""), st.integers(-330, 330).map(lambda e: f"e{e:+d}"), st.just("E5")))
    sign = draw(st.sampled_from(["", "-"]))
    return f"{sign}{whole}{'.' + frac if frac else ''}{exp}"


@SETTINGS
@given(boxes=st.lists(st.tuples(*[number_texts()] * 4), min_size=1, max_size=5))
def test_box_numbers_read_to_the_same_bits(
    boxes: list[tuple[str, ...]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    anns = ", ".join(
        f'{{"id": {i}, "image_id": 1, "category_id": 1, "bbox": [{", ".join(b)}]}}' for i, b in enumerate(boxes)
    )
    path = tmp_path / "a.json"
    path.write_text(json.dumps(_doc([])).replace('"annotations": []', f'"annotations": [{anns}]'))
    kind, got = _same_both_ways(path, monkeypatch)
    assert kind == "ok"
    expected = [float(v) for b in boxes for v in b]
    regular_rows = [r for r in range(len(boxes)) if r not in got[2]]
    values = np.frombuffer(got[1][3], dtype=np.float64).reshape(-1, 4)
    for r in regular_rows:
        assert values[r].tolist() == expected[4 * r : 4 * r + 4]


CASES = {
    "regular": '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2.5, 3, 4], "iscrowd": 0, "area": 7}',
    "bool-id": '{"id": true, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}',
    "float-id": '{"id": 1.0, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}',
    "five-numbers": '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4, 5]}',
    "overflow": '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1e400, 2, 3, 4]}',
    "nan": '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [NaN, 2, 3, 4]}',
    "long-int": '{"id": 12345678901234567890, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}',
    "big-float-box": '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1e300, 2, 3, 4]}',
    "repeated-key": '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "bbox": [5, 6, 7, 8]}',
    "not-an-object": '"junk"',
    "caption": '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "caption": "a cat"}',
    "all-crowd": '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": 1}',
    "lone-surrogate": '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "x": "\\ud800"}',
}
TYPED = {"regular", "repeated-key", "all-crowd", "big-float-box"}  # the files the typed decode answers for


def test_a_file_with_other_top_level_keys_is_parsed_the_general_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps({**_doc([json.loads(CASES["regular"])]), "extra": {"kept": [1]}}))
    assert regular.decode_regular(path.read_bytes()) is None
    kind, got = _same_both_ways(path, monkeypatch)
    assert kind == "ok" and got[0]["extra"] == {"kept": [1]}


@pytest.mark.parametrize(
    "bad", [b'"x": "\xff"', b'"\xff": 1', b'"segmentation": {"counts": "\x80abc"}', b'"x": "\xc0\xaf\xe2\x82"']
)
def test_bad_utf8_in_a_skipped_field_is_left_to_the_general_parse(
    bad: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """msgspec skips what it does not decode without checking its UTF-8; json names the byte."""
    path = tmp_path / "a.json"
    ann = b'{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], ' + bad + b"}"
    path.write_bytes(b'{"images": [], "categories": [{"id": 1, "name": "a"}], "annotations": [' + ann + b"]}")
    assert regular.decode_regular(path.read_bytes()) is None
    kind, message = _same_both_ways(path, monkeypatch)
    assert kind == "error" and "not UTF-8 text" in message


def test_deep_nesting_is_left_to_the_general_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.json"
    path.write_text('{"images": [], "annotations": [{"id": ' + "[" * 50000 + "]" * 50000 + "}]}")
    assert regular.decode_regular(path.read_bytes()) is None
    kind, message = _same_both_ways(path, monkeypatch)
    assert kind == "error" and "nested too deeply" in message


@pytest.mark.parametrize("name", sorted(CASES))
def test_named_cases(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.json"
    path.write_text(json.dumps(_doc([])).replace('"annotations": []', f'"annotations": [{CASES[name]}]'))
    _same_both_ways(path, monkeypatch)
    assert (regular.decode_regular(path.read_bytes()) is not None) == (name in TYPED)


def test_images_and_categories_keep_the_general_parse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Their values go through the same parser as before: NaN, 19-digit numbers and odd strings included."""
    ann = '{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]}'
    for images in ('[{"id": 1, "width": NaN}]', '[{"id": 12345678901234567890123}]', '[{"id": "\\u00e9\\t"}]'):
        path = tmp_path / "a.json"
        path.write_text(f'{{"images": {images}, "annotations": [{ann}], "categories": [{{"id": 1, "name": "x"}}]}}')
        kind, got = _same_both_ways(path, monkeypatch)
        assert kind == "ok" and got[0]["images"] == json.loads(images)
