"""Read a COCO JSON file and refuse, with a clear message, anything that is not COCO *instances*."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from odpipe.coco.digits import may_hold_long_integer
from odpipe.coco.regular import StreamedTable, decode_regular
from odpipe.coco.stream import nested_too_deeply, read_streaming
from odpipe.coco.table import AnnotationTable
from odpipe.common.errors import InputError

try:
    import orjson
except ImportError:  # optional: the standard library parses the same documents, slower
    orjson = None  # type: ignore[assignment]

STREAM_ABOVE_BYTES = 64 << 20  # smaller files parse faster whole; larger ones would cost ~1 KB per box


def read_json(path: Path) -> Any:
    """Parse JSON, telling truncated files apart from other syntax errors."""
    return parse_json(_read_bytes(path), path)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: annotations file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read annotations file: {exc.strerror}") from None


def parse_json(raw: bytes, path: Path) -> Any:
    """``raw`` parsed (``path`` names it in errors)."""
    if not raw.strip():
        raise InputError(f"{path}: file is empty, expected COCO instances JSON")
    fast = _fast_loads(raw)
    if fast is not _UNPARSED:
        return fast
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not JSON (not UTF-8 text: {exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise nested_too_deeply(path) from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(exc.doc.rstrip()) - 1 or exc.msg.startswith("Unterminated string"):  # in characters
            raise InputError(
                f"{path}: truncated JSON: the file ends at line {exc.lineno} column {exc.colno} "
                f"before the document is complete (an interrupted upload or copy?)"
            ) from None
        raise InputError(f"{path}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


_UNPARSED = object()


def _fast_loads(raw: bytes) -> Any:
    """orjson's result where it is certainly json's; _UNPARSED otherwise. orjson turns integers beyond 64
    bits into floats, so any 19-digit integer sends the file to json, as does anything orjson refuses
    (NaN, lone surrogates, a BOM, a syntax error: json then names the problem)."""
    if not _orjson_safe(raw):
        return _UNPARSED
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _UNPARSED


def _orjson_safe(raw: bytes) -> bool:
    return orjson is not None and not may_hold_long_integer(raw)


def _regular_instances(raw: bytes) -> dict[str, Any] | None:
    """The document decoded by type (`odpipe.coco.regular`) where that gives what ``parse_json`` and
    ``AnnotationTable.from_list`` would; None otherwise."""
    regular = decode_regular(raw)
    if regular is None:
        return None
    doc = {key: _fast_loads(text) for key, text in regular.parts.items()}
    if any(value is _UNPARSED for value in doc.values()):
        return None
    return {**doc, "annotations": regular.annotations}


def _first(items: Any) -> dict[str, Any] | None:
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                return item
    return None


def check_instances(doc: Any, path: Path, annotations: AnnotationTable | None = None) -> dict[str, Any]:
    """Return the document when it is COCO instances; otherwise raise naming what it is instead.

    ``annotations`` holds the annotations when they were streamed out of ``doc`` into a table."""
    if not isinstance(doc, dict):
        raise InputError(
            f"{path}: not COCO: the top level is a JSON {type(doc).__name__}, expected an object "
            f"with 'images', 'annotations' and 'categories'"
        )
    streamed = annotations is not None and "annotations" not in doc
    missing = [
        k for k in ("images", "annotations", "categories") if k not in doc and not (streamed and k == "annotations")
    ]
    keys = sorted({*doc, "annotations"} if streamed else doc)
    if "images" in missing:
        raise InputError(f"{path}: not COCO instances: no 'images' list (keys found: {keys})")
    for key in ("images", "annotations", "categories"):
        if key in doc and not isinstance(doc[key], list):
            raise InputError(f"{path}: not COCO instances: '{key}' is a {type(doc[key]).__name__}, expected a list")
    table = annotations if streamed else AnnotationTable.from_list(doc.get("annotations") or [])
    assert table is not None
    _check_kind(table, _first(doc.get("categories")), path)
    if "annotations" in missing or not len(table):
        raise InputError(
            f"{path}: not COCO instances: no annotations (an image-info file?); "
            f"expected a non-empty 'annotations' list with 'bbox' per annotation"
        )
    if "categories" in missing or not doc.get("categories"):
        raise InputError(f"{path}: not COCO instances: no 'categories'")
    if not table.any_bbox:
        raise InputError(f"{path}: not COCO instances: no annotation has a 'bbox' (an image-labels file?)")
    if table.all_crowd:
        raise InputError(
            f"{path}: every annotation is iscrowd=1 (a COCO stuff/segmentation file?): nothing to train a detector on"
        )
    doc.pop("annotations", None)
    doc["annotations"] = table
    return doc


def _check_kind(table: AnnotationTable, cat: dict[str, Any] | None, path: Path) -> None:
    """Panoptic, captions and keypoints files are COCO too, but not instances: say which one this is."""
    ann = table.first_object
    if ann is not None and "segments_info" in ann:
        raise InputError(
            f"{path}: this is a COCO panoptic file (annotations carry 'segments_info'), not "
            f"COCO instances; convert it to instances (one bbox per segment) first"
        )
    if ann is not None and "caption" in ann:
        raise InputError(
            f"{path}: this is a COCO captions file (annotations carry 'caption'), not COCO "
            f"instances: it has no boxes to train a detector on"
        )
    if (ann is not None and "keypoints" in ann) or (cat is not None and "keypoints" in cat):
        raise InputError(
            f"{path}: this is a COCO keypoints file (annotations/categories carry 'keypoints'), "
            f"not COCO instances; odpipe trains box detectors from instances files"
        )


def load_instances(path: Path) -> dict[str, Any]:
    """The COCO instances document, its 'annotations' as an AnnotationTable. Files above
    STREAM_ABOVE_BYTES are parsed streaming, so memory follows the table, not the file."""
    try:
        size = path.stat().st_size
    except OSError:
        size = 0  # read_json names the problem
    if size <= STREAM_ABOVE_BYTES:
        raw = _read_bytes(path)
        doc = _regular_instances(raw)
        if doc is not None:
            return check_instances(doc, path, doc.pop("annotations"))
        return check_instances(parse_json(raw, path), path)
    tables: list[StreamedTable] = []

    def new_table() -> StreamedTable:
        tables.append(StreamedTable())
        return tables[-1]

    doc = read_streaming(path, {"annotations": new_table})
    return check_instances(doc, path, tables[-1] if tables else None)
