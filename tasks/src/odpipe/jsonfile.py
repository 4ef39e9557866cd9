"""Read a JSON object that a task expects as input, failing with a message that names the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from odpipe.errors import InputError


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
