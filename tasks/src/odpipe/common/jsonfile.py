"""JSON files: read an object a task expects as input (failing with a message that names the file),
and write one atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from odpipe.common.atomic import write_text
from odpipe.common.errors import InputError


def read_json_object(path: Path, what: str) -> dict[str, Any]:
    if not path.exists():
        raise InputError(f"{path}: {what} not found")
    try:
        doc = json.loads(path.read_text())
    except ValueError as exc:
        raise InputError(f"{path}: {what} is not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise InputError(f"{path}: {what} must be a JSON object")
    return doc


def write_json(path: Path, doc: Any) -> None:
    """Indented JSON, written atomically: a reader never sees half a file."""
    write_text(path, json.dumps(doc, indent=2, default=str) + "\n")


def write_compact_json(path: Path, doc: Any) -> None:
    """JSON without whitespace (state files and caches), written atomically."""
    write_text(path, json.dumps(doc, separators=(",", ":")))
