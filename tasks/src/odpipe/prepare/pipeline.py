"""The prepare task: fetch, validate, split, convert, hash, and publish the dataset atomically."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odpipe import __version__, contract
from odpipe.coco.load import load_instances
from odpipe.console import info, progress, write_json
from odpipe.contract import Layout
from odpipe.errors import InputError
from odpipe.prepare import augment as augment_mod
from odpipe.prepare.dataset_id import dataset_id
from odpipe.prepare.images import HashCache
from odpipe.prepare.report import Report
from odpipe.prepare.split import assign_splits, keep_backgrounds, read_val_list
from odpipe.prepare.sync import local_dir_for, sync_prefix
from odpipe.prepare.validate import Category, ImageRecord, Source, validate
from odpipe.prepare.yolo import (
    SPLITS,
    LinkMode,
    coco_for_split,
    write_coco,
    write_data_yaml,
    write_split_images,
)
from odpipe.storage import S3Uri, Storage, is_s3_uri

MANIFEST_SCHEMA = "odpipe.dataset/v1"


@dataclass
class PrepareOptions:
    annotations: str
    images: str
    val_annotations: str | None = None
    test_annotations: str | None = None
    val_list: Path | None = None
    val_fraction: float = 0.2
    seed: int = 0
    background_ratio: float = 0.1
    bbox_tolerance: float = 0.02
    strict: bool = False
    link_mode: LinkMode = "hardlink"
    augment: Path | None = None
    full_decode: bool = False
    crowd_as_target: bool = False
    workers: int = 4


@dataclass
class PrepareResult:
    dataset_id: str
    dataset_dir: Path
    reused: bool
    manifest: dict[str, Any]
    report: Report


def _fetch_annotations(location: str, layout: Layout, storage: Storage | None) -> Path:
    if not is_s3_uri(location):
        return Path(location)
    assert storage is not None
    uri = S3Uri.parse(location)
    dest = layout.data / contract.DATA_RAW / ".annotations" / uri.bucket / uri.key
    storage.download_file(uri.bucket, uri.key, dest)
    return dest


def _images_root(location: str, layout: Layout, storage: Storage | None) -> Path:
    if not is_s3_uri(location):
        root = Path(location)
        if not root.is_dir():
            raise InputError(f"--images {location}: not a directory")
        return root
    assert storage is not None
    uri = S3Uri.parse(location)
    dest = local_dir_for(uri, layout.data)
    with progress(f"sync {uri}", None) as advance:
        downloaded, skipped = sync_prefix(storage, uri, dest, lambda n, total: advance(1))
    info(f"synced {uri} -> {dest}: {downloaded} downloaded, {skipped} unchanged")
    return dest


def _counts(images: list[ImageRecord], categories: list[Category]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for split in SPLITS:
        chosen = [r for r in images if r.split == split]
        if not chosen:
            continue
        per_class = {c.name: 0 for c in categories}
        name_of = {c.coco_id: c.name for c in categories}
        for rec in chosen:
            for b in rec.trainable_boxes:
                per_class[name_of[b.category_id]] += 1
        out[split] = {
            "images": len(chosen),
            "boxes": sum(len(r.trainable_boxes) for r in chosen),
            "crowd": sum(len(r.boxes) - len(r.trainable_boxes) for r in chosen),
            "background": sum(1 for r in chosen if not r.trainable_boxes),
            "per_class": per_class,
        }
    return out


def _tool_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"odpipe": __version__, "python": platform.python_version()}
    for pkg in ("pillow", "numpy", "albumentations"):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def run_prepare(opts: PrepareOptions, layout: Layout, storage: Storage | None = None) -> PrepareResult:
    needs_s3 = any(
        is_s3_uri(x) for x in (opts.annotations, opts.images, opts.val_annotations or "", opts.test_annotations or "")
    )
    if needs_s3 and storage is None:
        storage = Storage()
    report = Report(strict=opts.strict)
    layout.outputs.mkdir(parents=True, exist_ok=True)
    sources = [
        Source(
            _fetch_annotations(opts.annotations, layout, storage),
            {},
            "train" if (opts.val_annotations or opts.test_annotations) else None,
        )
    ]
    for split, loc in (("val", opts.val_annotations), ("test", opts.test_annotations)):
        if loc:
            sources.append(Source(_fetch_annotations(loc, layout, storage), {}, split))
    for src in sources:
        src.doc = load_instances(src.path)
    if opts.val_list and len(sources) > 1:
        raise InputError("--val-list and --val-annotations/--test-annotations are two ways to split: choose one")
    augment_doc = augment_mod.load_config(opts.augment) if opts.augment else None
    val_list = read_val_list(opts.val_list) if opts.val_list else None

    images_root = _images_root(opts.images, layout, storage)
    cache = HashCache(
        layout.data
        / contract.DATA_RAW
        / ".odpipe-cache"
        / (images_root.resolve().as_posix().strip("/").replace("/", "__") + ".json")
    )
    total = sum(len(s.doc["images"]) for s in sources)
    with progress("validate images", total) as advance:
        validated = validate(
            sources,
            images_root,
            report,
            tolerance=opts.bbox_tolerance,
            full_decode=opts.full_decode,
            crowd_as_target=opts.crowd_as_target,
            cache=cache,
            workers=opts.workers,
            progress=advance,
        )
    cache.save()
    images = keep_backgrounds(validated.images, opts.background_ratio, opts.seed, report)
    if not report.errors:
        assign_splits(images, val_fraction=opts.val_fraction, seed=opts.seed, val_list=val_list)
        if not any(r.split == "val" for r in images):
            report.fatal(
                "no-val-split",
                str(sources[0].path),
                "no image ended in the val split: evaluation needs one (check --val-fraction / split files)",
            )
    write_json(layout.output(contract.REPORT), report.to_dict())
    for line in report.summary_lines():
        info(line)
    if report.errors:
        raise InputError(
            f"{sources[0].path}: validation failed ({len(report.errors)} error kind(s)); "
            f"see {layout.output(contract.REPORT)}\n"
            + "\n".join(f"  {line}" for line in report.summary_lines() if line.startswith("ERROR"))
        )

    params = {
        "val_fraction": opts.val_fraction,
        "seed": opts.seed,
        "background_ratio": opts.background_ratio,
        "bbox_tolerance": opts.bbox_tolerance,
        "augment": augment_doc,
        "crowd_as_target": opts.crowd_as_target,
        "split_mode": "files" if len(sources) > 1 else ("list" if val_list else "seeded"),
    }
    categories = validated.categories
    ds_id = dataset_id(categories, images, params)
    datasets = layout.data / contract.DATA_DATASETS
    final = datasets / ds_id
    reused = (final / contract.DATASET_MANIFEST).exists()
    if reused:
        import json

        manifest = json.loads((final / contract.DATASET_MANIFEST).read_text())
        info(f"dataset {ds_id} already prepared at {final}: reused")
    else:
        manifest = _build(final, images_root, images, categories, params, opts, augment_doc, ds_id, layout, sources)
    write_json(layout.output(contract.DATASET_MANIFEST), manifest)
    layout.write_param(contract.PARAM_DATASET_ID, ds_id)
    return PrepareResult(ds_id, final, reused, manifest, report)


def _build(
    final: Path,
    images_root: Path,
    images: list[ImageRecord],
    categories: list[Category],
    params: dict[str, Any],
    opts: PrepareOptions,
    augment_doc: dict[str, Any] | None,
    ds_id: str,
    layout: Layout,
    sources: list[Source],
) -> dict[str, Any]:
    final.parent.mkdir(parents=True, exist_ok=True)
    # Built beside its final place and renamed when complete: a killed run leaves only a .tmp-* folder,
    # never something a later run would take for a finished dataset.
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{ds_id}-", dir=final.parent))
    try:
        with progress("write YOLO dataset", len(images)) as advance:
            write_split_images(tmp, images_root, images, categories, opts.link_mode, advance)
        splits = [s for s in SPLITS if any(r.split == s for r in images)]
        augmented = (
            augment_mod.augment_train(tmp, images_root, images, categories, augment_doc, opts.seed)
            if augment_doc
            else 0
        )
        write_data_yaml(tmp, categories, splits, final)
        rel = final.relative_to(layout.data).as_posix()
        coco_files = {}
        for split in splits:
            if split == "train":
                continue
            name = f"{split}_coco.json"
            write_coco(tmp / name, coco_for_split(images, categories, split))
            coco_files[split] = f"{rel}/{name}"
        counts = _counts(images, categories)
        if augmented:
            counts["train"]["augmented_images"] = augmented
        manifest = {
            "schema": MANIFEST_SCHEMA,
            "dataset_id": ds_id,
            "classes": [{"index": i, "name": c.name, "coco_id": c.coco_id} for i, c in enumerate(categories)],
            "splits": counts,
            "paths": {
                "root": rel,
                "data_yaml": f"{rel}/data.yaml",
                **{f"{s}_images": f"{rel}/images/{s}" for s in splits},
                **{f"{s}_coco": p for s, p in coco_files.items()},
            },
            "parameters": params,
            "source": {
                "annotations": [str(s.path) for s in sources],
                "images": opts.images,
                "link_mode": opts.link_mode,
            },
            "tools": _tool_versions(),
        }
        write_json(tmp / contract.DATASET_MANIFEST, manifest)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / contract.DATASET_MANIFEST).exists():
                raise
            # Another run finished the same dataset first: same content by construction, keep theirs.
            shutil.rmtree(tmp, ignore_errors=True)
        info(f"dataset {ds_id} written to {final}")
        return manifest
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
