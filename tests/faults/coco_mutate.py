"""Structure-aware mutations of a real COCO instances document, driven by any source of integers.

The same mutators run under hypothesis (which draws the integers, so it can shrink a failing case)
and under a plain seeded `random.Random` (the regression corpus replays its seeds). A case is the
mutated file's bytes: most mutations edit the parsed document, a few edit the serialized bytes
(invalid UTF-8, truncation, deep nesting past the JSON parser's recursion limit).
"""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Callable
from typing import Any, Protocol


class Chooser(Protocol):
    def integer(self, lo: int, hi: int) -> int: ...


class SeededChooser:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)


def pick(ch: Chooser, items: list[Any] | tuple[Any, ...]) -> Any:
    return items[ch.integer(0, len(items) - 1)]


SECTIONS = ("images", "annotations", "categories")
ODD_VALUES: tuple[Any, ...] = (None, "", "7", "x", 0, -1, 1.5, True, [], {}, [1, 2], {"a": 1}, "1e999")
NON_FINITE = (math.nan, math.inf, -math.inf)
HUGE = (10**30, -(10**30), 2**63, 2**64 + 1, 1e308, -1e308, 10**400)
NAMES = (
    "../../etc/passwd",
    "..",
    "../",
    "./../x.jpg",
    "/abs/../../x.jpg",
    "",
    " ",
    "ünïcödé/ファイル.jpg",
    "\u202emirrored.jpg",
    "emoji-\U0001f600.jpg",
    "nul\u0000.jpg",
    "a" * 5000 + ".jpg",
    "dir/",
    "C:\\windows\\x.jpg",
    "\ud800lone-surrogate.jpg",
)


def _entry(doc: dict[str, Any], ch: Chooser) -> dict[str, Any] | None:
    """A random dict entry of a random section, or None where the section has none."""
    section = doc.get(pick(ch, SECTIONS))
    if not isinstance(section, list) or not section:
        return None
    item = section[ch.integer(0, len(section) - 1)]
    return item if isinstance(item, dict) else None


def _field(entry: dict[str, Any], ch: Chooser) -> str | None:
    return pick(ch, sorted(entry)) if entry else None


def wrong_type(doc: dict[str, Any], ch: Chooser) -> None:
    if ch.integer(0, 4) == 0:
        doc[pick(ch, SECTIONS)] = pick(ch, ODD_VALUES)
        return
    entry = _entry(doc, ch)
    if entry and (key := _field(entry, ch)):
        entry[key] = pick(ch, ODD_VALUES)


def missing_key(doc: dict[str, Any], ch: Chooser) -> None:
    if ch.integer(0, 5) == 0:
        doc.pop(pick(ch, SECTIONS), None)
        return
    entry = _entry(doc, ch)
    if entry and (key := _field(entry, ch)):
        del entry[key]


def _numeric_slot(doc: dict[str, Any], ch: Chooser) -> tuple[Any, Any] | None:
    """(container, key) of a number: an id, a size, an area or one bbox coordinate."""
    entry = _entry(doc, ch)
    if not entry:
        return None
    if isinstance(entry.get("bbox"), list) and entry["bbox"] and ch.integer(0, 1):
        return entry["bbox"], ch.integer(0, len(entry["bbox"]) - 1)
    keys = [k for k in ("id", "width", "height", "area", "image_id", "category_id", "iscrowd") if k in entry]
    return (entry, pick(ch, keys)) if keys else None


def non_finite(doc: dict[str, Any], ch: Chooser) -> None:
    if slot := _numeric_slot(doc, ch):
        slot[0][slot[1]] = pick(ch, NON_FINITE)


def huge_number(doc: dict[str, Any], ch: Chooser) -> None:
    if slot := _numeric_slot(doc, ch):
        slot[0][slot[1]] = pick(ch, HUGE)


def odd_file_name(doc: dict[str, Any], ch: Chooser) -> None:
    images = doc.get("images")
    if isinstance(images, list) and images and isinstance(images[0], dict):
        img = images[ch.integer(0, len(images) - 1)]
        if isinstance(img, dict):
            img["file_name"] = pick(ch, NAMES)


def odd_bbox(doc: dict[str, Any], ch: Chooser) -> None:
    anns = [a for a in doc.get("annotations") or [] if isinstance(a, dict)]
    if anns:
        shapes = ([], [1, 2, 3], [0, 0, -5, 10], [0, 0, 0, 0], [1e9, 1e9, 5, 5], ["1", "2", "3", "4"], [1, 2, 3, 4, 5])
        pick(ch, anns)["bbox"] = list(pick(ch, shapes))


def duplicate(doc: dict[str, Any], ch: Chooser) -> None:
    section = doc.get(pick(ch, SECTIONS))
    if isinstance(section, list) and section:
        section.append(copy.deepcopy(section[ch.integer(0, len(section) - 1)]))


def nest(doc: dict[str, Any], ch: Chooser) -> None:
    """A value nested a few hundred levels (within the parser's limit; `deep_nesting` goes past it)."""
    entry = _entry(doc, ch)
    if entry and (key := _field(entry, ch)):
        value: Any = entry[key]
        for _ in range(ch.integer(2, 400)):
            value = [value] if ch.integer(0, 1) else {"x": value}
        entry[key] = value


def cross_reference(doc: dict[str, Any], ch: Chooser) -> None:
    """An annotation pointing at an image or category that does not exist (or at another type)."""
    anns = [a for a in doc.get("annotations") or [] if isinstance(a, dict)]
    if anns:
        ann = pick(ch, anns)
        ann[pick(ch, ("image_id", "category_id"))] = pick(ch, (-7, 999_999_999, "nope", 3.5, None))


DOC_MUTATORS: dict[str, Callable[[dict[str, Any], Chooser], None]] = {
    "wrong-type": wrong_type,
    "missing-key": missing_key,
    "nan-inf": non_finite,
    "huge-number": huge_number,
    "file-name": odd_file_name,
    "bbox": odd_bbox,
    "duplicate": duplicate,
    "nesting": nest,
    "cross-reference": cross_reference,
}


def invalid_utf8(raw: bytes, ch: Chooser) -> bytes:
    at = raw.find(b'"file_name"')
    at = at + 13 if at >= 0 else ch.integer(0, max(len(raw) - 1, 0))
    return raw[:at] + pick(ch, (b"\xff\xfe", b"\xc3\x28", b"\xed\xa0\x80", b"\x80")) + raw[at:]


def truncate(raw: bytes, ch: Chooser) -> bytes:
    return raw[: ch.integer(0, max(len(raw) - 1, 0))]


def deep_nesting(raw: bytes, ch: Chooser) -> bytes:
    depth = ch.integer(1_000, 200_000)
    return b'{"images": ' + b"[" * depth + b"]" * depth + raw[raw.find(b",") :] if b"," in raw else b"[" * depth


BYTE_MUTATORS: dict[str, Callable[[bytes, Chooser], bytes]] = {
    "invalid-utf8": invalid_utf8,
    "truncate": truncate,
    "deep-nesting": deep_nesting,
}
KINDS = sorted(DOC_MUTATORS) + sorted(BYTE_MUTATORS)


def serialize(doc: Any) -> bytes:
    """JSON as a careless exporter writes it: NaN and Infinity literals allowed, lone surrogates escaped."""
    return json.dumps(doc, allow_nan=True).encode()


def mutate(seed_doc: dict[str, Any], ch: Chooser) -> tuple[list[str], bytes]:
    """1-3 mutations of a copy of ``seed_doc``; returns their names and the file's bytes."""
    doc = copy.deepcopy(seed_doc)
    kinds = [pick(ch, KINDS) for _ in range(ch.integer(1, 3))]
    for kind in kinds:
        if kind in DOC_MUTATORS:
            DOC_MUTATORS[kind](doc, ch)
    raw = serialize(doc)
    for kind in kinds:
        if kind in BYTE_MUTATORS:
            raw = BYTE_MUTATORS[kind](raw, ch)
    return kinds, raw


def million_boxes(seed_doc: dict[str, Any], count: int = 1_000_000) -> bytes:
    """The seed document with ``count`` boxes on its first image (written without building the list twice)."""
    doc = copy.deepcopy(seed_doc)
    image = doc["images"][0]
    category = doc["categories"][0]["id"]
    w, h = float(image.get("width") or 100), float(image.get("height") or 100)
    doc.pop("annotations", None)
    doc["annotations"] = []  # last key, so its list can be streamed in below
    head = serialize(doc)[:-2]  # drop the closing "]}" of the empty annotations list
    assert head.endswith(b'"annotations": ['), head[-40:]
    rows = (
        json.dumps(
            {
                "id": i + 1,
                "image_id": image["id"],
                "category_id": category,
                "bbox": [i % (w - 2), (i // 7) % (h - 2), 1 + i % 2, 1 + i % 3],
                "area": 2,
                "iscrowd": 0,
            }
        )
        for i in range(count)
    )
    return head + ", ".join(rows).encode() + b"]}"
