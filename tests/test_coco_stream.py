"""The streaming COCO reader (used for large files) says exactly what the whole-file reader says, for good
input and for every kind of broken file, whatever the chunk size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from odpipe.coco import load, regular, stream
from odpipe.common.errors import InputError

GOOD = {
    "info": {"year": 2017},
    "images": [{"id": 1, "file_name": "a b\\u00e9.jpg", "width": 10, "height": 12}],
    "annotations": [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4.5], "iscrowd": 0},
        {"id": "2", "image_id": 1, "category_id": 1, "bbox": [1e300, 2, 3, 4], "segmentation": [[1, 2, 3]]},
        "junk",
    ],
    "categories": [{"id": 1, "name": "x"}],
}
TEXT = json.dumps(GOOD).replace("}, {", "},\n {").replace("], ", "],\n ")
BROKEN = {
    "truncated-in-list": TEXT[: TEXT.index('"bbox": [1, 2') + 12],
    "truncated-in-string": TEXT[: TEXT.index("a b") + 2],
    "truncated-after-key": '{"images": [], "annotations"',
    "truncated-at-comma": TEXT[: TEXT.index('"categories"') - 2],
    "missing-comma": TEXT.replace('"iscrowd": 0', '"iscrowd": 0 "x": 1'),
    "list-missing-comma": TEXT.replace("},\n {", "}\n {", 1),
    "trailing-comma": TEXT.replace('"junk"', '"junk",'),
    "extra-data": TEXT + "\n{}",
    "bad-literal": TEXT.replace('"iscrowd": 0', '"iscrowd": nope'),
    "empty": "  \n",
    "top-level-list": "[1, 2]",
    "no-images": '{"annotations": [], "categories": []}',
    "annotations-not-list": '{"images": [], "annotations": {"a": 1}, "categories": []}',
    "panoptic": '{"images": [], "annotations": [{"segments_info": []}], "categories": [{"id": 1}]}',
    "no-bbox": '{"images": [], "annotations": [{"id": 1}], "categories": [{"id": 1}]}',
    "all-crowd": '{"images": [], "annotations": [{"bbox": [1,1,1,1], "iscrowd": 1}], "categories": [{"id": 1}]}',
    "truncated-after-non-ascii": '{"images": [{"file_name": "\u00e9\u00e9\u00e9.jpg"}], "annotations": [',
    "deep-nesting": '{"images": [], "annotations": [{"id": ' + "[" * 20000 + "]" * 20000 + "}]}",
}


def _load(path: Path, streamed: bool, chunk: int, monkeypatch: pytest.MonkeyPatch) -> tuple[str, object]:
    monkeypatch.setattr(load, "STREAM_ABOVE_BYTES", 0 if streamed else 1 << 40)
    monkeypatch.setattr(stream, "CHUNK", chunk)
    monkeypatch.setattr(stream, "_BATCH_MIN", 0)  # batches wherever the window allows one
    try:
        doc = load.load_instances(path)
    except InputError as exc:
        return "error", str(exc)
    table = doc.pop("annotations")
    return "ok", (doc, list(table.rows()), _kind_keys(table.first_object))


def _kind_keys(first: dict[str, object] | None) -> list[str] | None:
    """What the table keeps its first object for: the keys that tell another COCO kind (a regular file's
    typed decode keeps only the regular fields of it)."""
    return None if first is None else [k for k in ("segments_info", "caption", "keypoints") if k in first]


@pytest.mark.parametrize("chunk", [1, 7, 4096])
@pytest.mark.parametrize("name", ["good", *BROKEN])
def test_streamed_equals_whole(name: str, chunk: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.json"
    path.write_text(TEXT if name == "good" else BROKEN[name])
    whole = _load(path, False, chunk, monkeypatch)
    assert whole[0] == ("ok" if name == "good" else "error")
    assert _load(path, True, chunk, monkeypatch) == whole


def test_not_utf8_named_with_its_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.json"
    path.write_bytes(TEXT[:50].encode() + b"\xff\xfe" + TEXT[50:].encode())
    whole = _load(path, False, 16, monkeypatch)
    assert whole[0] == "error" and "not UTF-8 text" in str(whole[1])
    assert _load(path, True, 16, monkeypatch) == whole


def test_regular_rows_are_stored_as_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "a.json"
    path.write_text(TEXT)
    monkeypatch.setattr(load, "STREAM_ABOVE_BYTES", 0)
    table = load.load_instances(path)["annotations"]
    assert len(table) == 3 and sorted(table.irregular) == [1, 2]  # a string id and a non-object stay as written
    assert next(iter(table.rows())) == {
        "id": 1,
        "image_id": 1,
        "category_id": 1,
        "bbox": [1.0, 2.0, 3.0, 4.5],
        "iscrowd": 0,
    }


@pytest.mark.parametrize("typed", [False, True])
def test_many_annotations_decoded_in_batches(typed: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Most elements come through a batch path: json's scanner on a window's text, or (``typed``) the
    annotation table's typed decode of it, cut at a '}' in a string or not."""
    anns = [{"id": i, "image_id": 1, "category_id": 1, "bbox": [i, 2.5, 3, 4], "note": "}, {"} for i in range(3000)]
    path = tmp_path / "a.json"
    path.write_text(json.dumps({**GOOD, "annotations": anns}))
    batched: list[int] = []  # elements taken through json's scanner a window at a time
    typed_in: list[int] = []  # and through the typed decode
    real_batch, real_text = stream._batch, regular.StreamedTable.extend_text

    def counting(reader: stream.StreamReader) -> list[object] | None:
        items = real_batch(reader)
        batched.append(len(items) if items is not None else 0)
        return items

    def counting_text(table: regular.StreamedTable, text: str) -> bool:
        before = len(table)
        taken = real_text(table, text)
        typed_in.append(len(table) - before)
        return taken

    monkeypatch.setattr(stream, "_batch", counting)
    monkeypatch.setattr(regular.StreamedTable, "extend_text", counting_text)
    if not typed:
        monkeypatch.setattr(regular, "msgspec", None)
    whole = _load(path, False, 5000, monkeypatch)
    batched.clear()
    assert _load(path, True, 5000, monkeypatch) == whole
    assert sum(typed_in if typed else batched) > 2000


def test_a_window_may_end_inside_any_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A window that ends at "1e+" of "1e+16" (json's scanner fails there at the 'e', two characters before
    the end) is read on, not reported as a syntax error: every cut of the file reads as the whole file."""
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": 1.5e3, "height": 12}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1.0638802010236358e16, 2e-05, -3.5e-300, 4]},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "area": 1e-05},
        ],
        "categories": [{"id": 1, "name": "x"}],
    }
    path = tmp_path / "a.json"
    path.write_text(json.dumps(doc))
    whole = _load(path, False, 4096, monkeypatch)
    assert whole[0] == "ok"
    for chunk in range(1, len(path.read_text()) + 2):
        assert _load(path, True, chunk, monkeypatch) == whole, chunk
