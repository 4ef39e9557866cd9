"""Read a COCO JSON file and refuse, with a clear message, anything that is not COCO *instances*."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from odpipe.errors import InputError


def read_json(path: Path) -> Any:
    """Parse JSON, telling truncated files apart from other syntax errors."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: annotations file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read annotations file: {exc.strerror}") from None
    if not raw.strip():
        raise InputError(f"{path}: file is empty, expected COCO instances JSON")
    try:
        return json.loads(raw)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not JSON (not UTF-8 text: {exc.reason} at byte {exc.start})") from None
    except RecursionError:
        raise InputError(f"{path}: JSON nested too deeply to parse (thousands of levels of [ or {{)") from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(raw.rstrip()) - 1 or exc.msg.startswith("Unterminated string"):
            raise InputError(
                f"{path}: truncated JSON: the file ends at line {exc.lineno} column {exc.colno} "
                f"before the document is complete (an interrupted upload or copy?)"
            ) from None
        raise InputError(f"{path}: not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _first(items: Any) -> dict[str, Any] | None:
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict):
                return item
    return None


def check_instances(doc: Any, path: Path) -> dict[str, Any]:
    """Return the document when it is COCO instances; otherwise raise naming what it is instead."""
    if not isinstance(doc, dict):
        raise InputError(
            f"{path}: not COCO: the top level is a JSON {type(doc).__name__}, expected an object "
            f"with 'images', 'annotations' and 'categories'"
        )
    missing = [k for k in ("images", "annotations", "categories") if k not in doc]
    if "images" in missing:
        raise InputError(f"{path}: not COCO instances: no 'images' list (keys found: {sorted(doc)})")
    for key in ("images", "annotations", "categories"):
        if key in doc and not isinstance(doc[key], list):
            raise InputError(f"{path}: not COCO instances: '{key}' is a {type(doc[key]).__name__}, expected a list")
    ann = _first(doc.get("annotations"))
    cat = _first(doc.get("categories"))
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
    if "annotations" in missing or not doc.get("annotations"):
        raise InputError(
            f"{path}: not COCO instances: no annotations (an image-info file?); "
            f"expected a non-empty 'annotations' list with 'bbox' per annotation"
        )
    if "categories" in missing or not doc.get("categories"):
        raise InputError(f"{path}: not COCO instances: no 'categories'")
    if not any(isinstance(a, dict) and "bbox" in a for a in doc["annotations"]):
        raise InputError(f"{path}: not COCO instances: no annotation has a 'bbox' (an image-labels file?)")
    if all(isinstance(a, dict) and a.get("iscrowd") in (1, True) for a in doc["annotations"]):
        raise InputError(
            f"{path}: every annotation is iscrowd=1 (a COCO stuff/segmentation file?): nothing to train a detector on"
        )
    return doc


def load_instances(path: Path) -> dict[str, Any]:
    return check_instances(read_json(path), path)
