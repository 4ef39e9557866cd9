"""Sweep the reports' picture folders that Argo's artifact GC leaves behind.

A report's pictures are an artifact stored file by file (archive none, so that argo-server serves each
one under its artifact policy). Argo v4.0.5's S3 delete removes only the object at an artifact's key, so
when a workflow is deleted its `<report>-files/` folders stay, though the GC reports success. A folder is
an orphan when the report beside it (`<prefix>/<report>.html`, collected by the same GC) is gone; it is
swept once its newest file is older than `min_age` seconds, so a step still uploading is never touched.
"""

from __future__ import annotations

import time
from collections import defaultdict

from odpipe.common.storage import ObjectInfo, Storage
from odpipe.formats.contract import DATASET_REPORT, EVALUATION_REPORT, MODEL_REPORT, report_files

REPORTS = (DATASET_REPORT, EVALUATION_REPORT, MODEL_REPORT)


def orphan_folders(objects: list[ObjectInfo], min_age: float, now: float) -> dict[str, list[str]]:
    """Picture folders (their prefix, ending in '/') whose report is gone and whose files are all older
    than `min_age`, with the keys in each."""
    keys = {o.key for o in objects}
    folders: dict[str, list[ObjectInfo]] = defaultdict(list)
    report_of: dict[str, str] = {}
    for obj in objects:
        for report in REPORTS:
            marker = f"/{report_files(report)}/"
            at = obj.key.find(marker)
            if at > 0:
                folder = obj.key[: at + len(marker)]
                folders[folder].append(obj)
                report_of[folder] = f"{obj.key[:at]}/{report}"
                break
    return {
        folder: sorted(o.key for o in files)
        for folder, files in folders.items()
        if report_of[folder] not in keys and now - max(o.modified for o in files) >= min_age
    }


def sweep(storage: Storage, bucket: str, min_age: float, now: float | None = None) -> dict[str, int]:
    """Delete the orphan picture folders in `bucket`; returns each swept folder with its file count."""
    found = orphan_folders(list(storage.list(bucket)), min_age, time.time() if now is None else now)
    for keys in found.values():
        for key in keys:
            storage.delete(bucket, key)
    return {folder: len(keys) for folder, keys in found.items()}
