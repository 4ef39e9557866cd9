"""Incremental sync of images from an S3 prefix into the data volume (only new or changed objects).

Listing, diff and downloads overlap: each page of the listing is compared with the state of the last
sync as it arrives, and what changed goes straight to the download threads; the state is written every
few seconds and at the end, so a killed sync keeps what it finished.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from odpipe.common.errors import InputError
from odpipe.common.jsonfile import write_compact_json
from odpipe.common.storage import SYNC_THREADS, ObjectInfo, S3Uri, Storage
from odpipe.formats import contract

STATE_FILE = ".odpipe-sync.json"
IN_FLIGHT = SYNC_THREADS * 4  # downloads queued ahead of the threads; the listing waits beyond this
STATE_EVERY_S = 10.0

Entry = list[object]


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
    ``progress(done, listed)``: objects done (downloaded or unchanged) of those listed so far.
    """
    storage.require_bucket(uri.bucket)
    prefix = uri.key.strip("/")
    prefix = f"{prefix}/" if prefix else ""
    dest.mkdir(parents=True, exist_ok=True)
    run = _Sync(storage, uri.bucket, prefix, dest, progress)
    try:
        with ThreadPoolExecutor(max_workers=SYNC_THREADS) as pool:
            try:
                for obj in _listed(storage, uri.bucket, prefix):
                    run.offer(obj, pool)
                run.drain(0)
            finally:
                run.settle()
    finally:
        run.save()
    if run.listed == 0:
        raise InputError(f"no objects under {S3Uri(uri.bucket, prefix)} at {storage.endpoint_url}")
    return run.fetched, run.listed - run.fetched


def _listed(storage: Storage, bucket: str, prefix: str) -> Iterator[ObjectInfo]:
    for obj in storage.list(bucket, prefix):
        if obj.key.endswith("/"):
            continue
        relative_key(bucket, prefix, obj.key)
        yield obj


def relative_key(bucket: str, prefix: str, key: str) -> str:
    """The key's path under the sync folder; a key that would land outside it (S3 allows '..' and empty
    parts in keys, some servers store them) is refused by name."""
    rel = key[len(prefix) :]
    if any(part in ("", ".", "..") for part in rel.split("/")):
        raise InputError(f"{S3Uri(bucket, key)}: object key escapes the prefix; refusing to sync it")
    return rel


class _Sync:
    """One sync's state, counts and downloads in flight (touched only by the calling thread)."""

    def __init__(
        self, storage: Storage, bucket: str, prefix: str, dest: Path, progress: Callable[[int, int], None] | None
    ) -> None:
        self.storage, self.bucket, self.prefix, self.dest, self.progress = storage, bucket, prefix, dest, progress
        self.state = _read_state(dest / STATE_FILE)
        self.pending: set[Future[tuple[str, Entry]]] = set()
        self.listed = self.done = self.fetched = 0
        self.saved_at = time.monotonic()

    def offer(self, obj: ObjectInfo, pool: ThreadPoolExecutor) -> None:
        self.listed += 1
        rel = obj.key[len(self.prefix) :]
        known, target = self.state.get(rel), self.dest / rel
        if known and known[1] == obj.etag and target.exists() and target.stat().st_size == obj.size:
            self.done += 1
            self._report()
            return
        self.pending.add(pool.submit(self._fetch, obj, rel))
        self.drain(IN_FLIGHT)

    def _fetch(self, obj: ObjectInfo, rel: str) -> tuple[str, Entry]:
        sha = self.storage.download_file(self.bucket, obj.key, self.dest / rel, expected_size=obj.size)
        return rel, [obj.size, obj.etag, sha]

    def drain(self, keep: int) -> None:
        """Collect finished downloads until at most ``keep`` are in flight (the first failure raises)."""
        while len(self.pending) > keep:
            finished, self.pending = wait(self.pending, return_when=FIRST_COMPLETED)
            failed = [f for f in finished if f.exception() is not None]
            for future in finished:
                if future.exception() is None:
                    self._record(future)
            if failed:
                failed[0].result()

    def _record(self, future: Future[tuple[str, Entry]]) -> None:
        rel, entry = future.result()
        self.state[rel] = entry
        self.done += 1
        self.fetched += 1
        self._report()
        if time.monotonic() - self.saved_at > STATE_EVERY_S:
            self.save()

    def settle(self) -> None:
        """After a failure: cancel what has not started, record what finished (their errors were seen)."""
        for future in self.pending:
            future.cancel()
        finished, _ = wait(self.pending)
        for future in finished:
            if not future.cancelled() and future.exception() is None:
                self._record(future)
        self.pending = set()

    def _report(self) -> None:
        if self.progress:
            self.progress(self.done, self.listed)

    def save(self) -> None:
        write_compact_json(self.dest / STATE_FILE, self.state)
        self.saved_at = time.monotonic()


def _read_state(path: Path) -> dict[str, Entry]:
    try:
        return json.loads(path.read_text()) if path.exists() else {}
    except ValueError:
        return {}
