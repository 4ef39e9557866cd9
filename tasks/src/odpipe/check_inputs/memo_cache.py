"""Argo's memoization cache of the train step (a ConfigMap the workflow controller writes), kept true to
what S3 still holds.

Argo hands a cache hit's outputs on without looking at them. Once the workflow that trained is deleted,
artifactGC removes its weights, but the entry still names them, and the next identical run would fail
while loading them. check-inputs runs this first: every entry that names an artifact S3 no longer holds
is dropped, so that run trains again and the controller writes a fresh entry.
"""

from __future__ import annotations

import json
from typing import Any

from odpipe.check_inputs.kube_api import ApiError, KubeApi
from odpipe.common.storage import S3Uri, Storage

MAX_TRIES = 5  # the controller writes the same ConfigMap: a conflicting update is read and tried again


def entry_artifacts(entry: dict[str, Any], bucket: str) -> list[S3Uri]:
    """The S3 locations an entry's outputs name (a key-only artifact is in the artifact repository's bucket)."""
    found = []
    for artifact in (entry.get("outputs") or {}).get("artifacts") or []:
        s3 = artifact.get("s3") or {}
        if s3.get("key"):
            found.append(S3Uri(s3.get("bucket") or bucket, s3["key"]))
    return found


def present(storage: Storage, uri: S3Uri) -> bool:
    """An object, or a folder stored file by file (an unarchived artifact's key is its prefix)."""
    if storage.exists(uri.bucket, uri.key):
        return True
    return next(iter(storage.list(uri.bucket, uri.key.rstrip("/") + "/")), None) is not None


def collected(data: dict[str, str], storage: Storage, bucket: str) -> dict[str, list[str]]:
    """Each entry (by key) that names an artifact S3 no longer holds, or none at all (a train result
    without its weights is no result), with what is missing; an entry that is not Argo's JSON is left alone."""
    stale = {}
    for key, raw in data.items():
        try:
            entry = json.loads(raw)
        except ValueError:
            continue
        named = entry_artifacts(entry, bucket)
        missing = [str(uri) for uri in named if not present(storage, uri)] if named else ["no artifact at all"]
        if missing:
            stale[key] = missing
    return stale


def prune(api: KubeApi, configmap: str, storage: Storage, bucket: str) -> dict[str, list[str]]:
    """Drop every entry of the cache (`namespace/name`, or a name in the pod's namespace) whose artifacts
    were collected; returns what was dropped. A cache that does not exist yet (no run has finished) is empty."""
    namespace, _, name = configmap.rpartition("/")
    path = api.configmap_path(name, namespace or None)
    for _ in range(MAX_TRIES):
        try:
            cache = api.request("GET", path)
        except ApiError as exc:
            if exc.status == 404:
                return {}
            raise
        data = dict(cache.get("data") or {})
        stale = collected(data, storage, bucket)
        if not stale:
            return {}
        cache["data"] = {k: v for k, v in data.items() if k not in stale}
        try:
            api.request("PUT", path, cache)  # carries the resourceVersion read: a concurrent write conflicts
        except ApiError as exc:
            if exc.status == 409:
                continue
            raise
        return stale
    raise ApiError(409, f"ConfigMap {configmap}: still changing after {MAX_TRIES} tries")
