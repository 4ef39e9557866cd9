"""Incremental sync of images from an S3 prefix into the data volume (only new or changed objects)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from odpipe import contract
from odpipe.errors import InputError
from odpipe.jsonfile import write_compact_json
from odpipe.storage import S3Uri, Storage

STATE_FILE = ".odpipe-sync.json"


def local_dir_for(uri: S3Uri, data_dir: Path) -> Path:
    prefix = uri.key.strip("/")
    raw = data_dir / contract.DATA_RAW / uri.bucket
    return raw / prefix if prefix else raw


def sync_prefix(
    storage: Storage, uri: S3Uri, dest: Path, progress: Callable[[int, int], None] | None = None
) -> tuple[int, int]:
    """Mirror s3://bucket/prefix into ``dest``. Returns (downloaded, skipped).

    An object is skipped when the local file has the size and ETag recorded at its last download.
    Each download is verified (size, sha256 metadata when present) and renamed into place.
    """
    storage.require_bucket(uri.bucket)
    prefix = uri.key.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    dest.mkdir(parents=True, exist_ok=True)
    state_path = dest / STATE_FILE
    try:
        state: dict[str, list[object]] = json.loads(state_path.read_text()) if state_path.exists() else {}
    except ValueError:
        state = {}
    objects = [o for o in storage.list(uri.bucket, prefix) if not o.key.endswith("/")]
    if not objects:
        raise InputError(f"no objects under {S3Uri(uri.bucket, prefix)} at {storage.endpoint_url}")
    downloaded = skipped = 0
    try:
        for n, obj in enumerate(objects, 1):
            rel = obj.key[len(prefix) :]
            if any(part in ("", ".", "..") for part in rel.split("/")):
                raise InputError(f"{S3Uri(uri.bucket, obj.key)}: object key escapes the prefix; refusing to sync it")
            target = dest / rel
            known = state.get(rel)
            if known and target.exists() and target.stat().st_size == obj.size and known[1] == obj.etag:
                skipped += 1
            else:
                sha = storage.download_file(uri.bucket, obj.key, target, expected_size=obj.size)
                state[rel] = [obj.size, obj.etag, sha]
                downloaded += 1
            if progress:
                progress(n, len(objects))
    finally:
        write_compact_json(state_path, state)
    return downloaded, skipped
