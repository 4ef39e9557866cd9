"""Incremental sync of images from an S3 prefix into the data volume (only new or changed objects)."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from odpipe import contract
from odpipe.errors import InputError
from odpipe.jsonfile import write_compact_json
from odpipe.storage import SYNC_THREADS, ObjectInfo, S3Uri, Storage

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
    The others download in parallel (SYNC_THREADS), each verified (size, sha256 metadata when present)
    and renamed into place; the state records every finished download, also when another one fails.
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
    todo = _changed(objects, prefix, dest, state, uri.bucket)
    done = len(objects) - len(todo)
    if progress and done:
        progress(done, len(objects))

    def fetch(obj: ObjectInfo) -> tuple[str, list[object]]:
        sha = storage.download_file(uri.bucket, obj.key, dest / obj.key[len(prefix) :], expected_size=obj.size)
        return obj.key[len(prefix) :], [obj.size, obj.etag, sha]

    try:
        with ThreadPoolExecutor(max_workers=SYNC_THREADS) as pool:
            for future in as_completed([pool.submit(fetch, o) for o in todo]):
                rel, entry = future.result()
                state[rel] = entry
                done += 1
                if progress:
                    progress(done, len(objects))
    finally:
        write_compact_json(state_path, state)
    return len(todo), len(objects) - len(todo)


def _changed(
    objects: list[ObjectInfo], prefix: str, dest: Path, state: dict[str, list[object]], bucket: str
) -> list[ObjectInfo]:
    """The objects to download: new, or changed since the state recorded them (size, ETag)."""
    todo = []
    for obj in objects:
        rel = obj.key[len(prefix) :]
        if any(part in ("", ".", "..") for part in rel.split("/")):
            raise InputError(f"{S3Uri(bucket, obj.key)}: object key escapes the prefix; refusing to sync it")
        known = state.get(rel)
        target = dest / rel
        if not (known and target.exists() and target.stat().st_size == obj.size and known[1] == obj.etag):
            todo.append(obj)
    return todo
