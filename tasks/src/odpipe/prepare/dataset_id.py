"""Dataset id: a content hash of the normalised annotations, the image bytes and the parameters."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from odpipe.prepare.validate import Category, ImageRecord

ID_LENGTH = 16
FORMAT_VERSION = 1  # bump when the dataset layout on disk changes


def dataset_id(categories: list[Category], images: list[ImageRecord], params: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    head = {"format": FORMAT_VERSION, "categories": [[c.coco_id, c.name] for c in categories], "params": params}
    digest.update(json.dumps(head, sort_keys=True, separators=(",", ":")).encode())
    encode = json.JSONEncoder(separators=(",", ":")).encode  # json.dumps would build one per call
    for rec in sorted(images, key=lambda r: (r.relpath, r.key)):
        row = [rec.relpath, rec.sha256, rec.width, rec.height, rec.split, sorted(rec.store.hash_rows(rec.number))]
        digest.update(encode(row).encode())
        digest.update(b"\n")
    return digest.hexdigest()[:ID_LENGTH]
