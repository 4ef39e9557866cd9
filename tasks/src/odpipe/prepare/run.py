"""The prepare task: fetch, validate, split, convert, hash, and publish the dataset atomically."""

from __future__ import annotations

import contextlib
import gc
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from odpipe import __version__
from odpipe.coco.load import load_instances
from odpipe.common.atomic import building_dir
from odpipe.common.console import info, progress
from odpipe.common.errors import InputError
from odpipe.common.jsonfile import write_json
from odpipe.common.storage import S3Uri, Storage, is_s3_uri
from odpipe.formats import contract
from odpipe.formats.contract import Layout
from odpipe.formats.dataset_manifest import (
    DATA_YAML,
    SPLITS,
    ManifestClass,
    build_manifest,
    coco_file,
    prepared_manifest,
    write_data_yaml,
    write_manifest,
)
from odpipe.prepare import augment as augment_mod
from odpipe.prepare.dataset_id import dataset_id
from odpipe.prepare.images import HashCache
from odpipe.prepare.label_slots import LabelSlots, label_slots
from odpipe.prepare.parallel import available_cpus
from odpipe.prepare.prefetch import PREFETCH_ABOVE_BYTES, ImagePrefetch
from odpipe.prepare.report import Report
from odpipe.prepare.split import assign_splits, keep_backgrounds, read_val_list
from odpipe.prepare.sync import local_dir_for, sync_prefix
from odpipe.prepare.validate import Category, ImageRecord, Source, Validated, validate
from odpipe.prepare.yolo import LinkMode, dataset_name, write_coco_split, write_split_images
from odpipe.reports.dataset import SplitBoxes

if TYPE_CHECKING:
    from odpipe.check_inputs.run import CheckOptions
    from odpipe.reports.html import Rendered


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
    workers: int = 0  # processes for image checks and label writing; 0: the container's CPU limit
    checks: CheckOptions | None = None  # check-inputs first, before anything is read


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
        shown = [0]

        def step(done: int, listed: int) -> None:
            advance(done - shown[0], total=listed)
            shown[0] = done

        downloaded, skipped = sync_prefix(storage, uri, dest, step)
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
        cats, freq = np.unique(chosen[0].store.trainable_categories([r.number for r in chosen]), return_counts=True)
        for cid, n in zip(cats.tolist(), freq.tolist(), strict=True):
            per_class[name_of[cid]] += n
        trainable = [r.trainable_count for r in chosen]
        out[split] = {
            "images": len(chosen),
            "boxes": sum(trainable),
            "crowd": sum(r.box_count for r in chosen) - sum(trainable),
            "background": sum(1 for n in trainable if not n),
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


def prepare_params(
    opts: PrepareOptions, augment_doc: dict[str, Any] | None, sources: int, val_list: bool
) -> dict[str, Any]:
    """The parameters that shape the dataset (and so enter its id)."""
    return {
        "val_fraction": opts.val_fraction,
        "seed": opts.seed,
        "background_ratio": opts.background_ratio,
        "bbox_tolerance": opts.bbox_tolerance,
        "augment": augment_doc,
        "crowd_as_target": opts.crowd_as_target,
        "split_mode": "files" if sources > 1 else ("list" if val_list else "seeded"),
    }


def can_reuse(on_disk: dict[str, Any] | None, ds_id: str) -> bool:
    """A dataset folder is reused when it holds a finished dataset of this id (the folder only gets
    its name once complete, and the id is a content hash: same id, same content)."""
    return on_disk is not None and on_disk.get("dataset_id") == ds_id


def run(opts: PrepareOptions, layout: Layout, storage: Storage | None = None) -> PrepareResult:
    """Validate COCO annotations and images, split them, and write a YOLO dataset named by its content hash.

    Reads: the annotations (input annotations.json, a path or an S3 object) and the images (a folder
    or an S3 prefix, synced incrementally into <data>/raw); an earlier dataset with the same id. With
    opts.checks, check-inputs runs first and its problems raise InputsRefused before anything is read.
    Writes: <data>/datasets/<id>/ (built beside, renamed when complete; reused when it exists); outputs
    report.json, dataset.json and the dataset-id parameter. Validation errors raise InputError after
    report.json is written.
    """
    with _without_cyclic_gc():
        return _prepare(opts, layout, storage)


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the run: the parsed annotations are ~10^6 objects
    without cycles that each full collection walked again (0.75-0.88 s of a 20k-image prepare, measured
    with gc.callbacks); reference counting still frees everything as it goes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _prepare(opts: PrepareOptions, layout: Layout, storage: Storage | None) -> PrepareResult:
    if opts.checks:
        from odpipe.check_inputs.run import require

        require(opts.checks)
    if storage is None and _needs_s3(opts):
        storage = Storage()
    report = Report(strict=opts.strict)
    layout.outputs.mkdir(parents=True, exist_ok=True)
    with label_slots(layout.data / contract.DATA_DATASETS, Path(opts.images), _first_local_run(opts, layout)) as slots:
        with _prefetch(opts, layout) as prefetch:
            sources = _load_sources(opts, layout, storage)
            augment_doc = augment_mod.load_config(opts.augment) if opts.augment else None
            val_list = read_val_list(opts.val_list) if opts.val_list else None
            images_root = _images_root(opts.images, layout, storage)
            validated = _validate(opts, sources, images_root, layout, report, prefetch)
        return _publish(opts, layout, report, sources, validated, images_root, (augment_doc, val_list), slots)


def _publish(
    opts: PrepareOptions,
    layout: Layout,
    report: Report,
    sources: list[Source],
    validated: Validated,
    images_root: Path,
    inputs: tuple[dict[str, Any] | None, Any],
    slots: LabelSlots | None,
) -> PrepareResult:
    """Split, name and (unless it exists) build the dataset; the outputs. ``inputs``: the augmentation
    config and the val list; ``slots``: empty files made ahead for the labels."""
    augment_doc, val_list = inputs
    for src in sources:  # the kept boxes are in the BoxStore now: free the raw annotation table
        src.doc.pop("annotations", None)
    images = _select_and_split(opts, validated.images, val_list, sources, report)
    _write_report(layout, report, sources)
    params = prepare_params(opts, augment_doc, len(sources), val_list is not None)
    ds_id = dataset_id(validated.categories, images, params)
    final = layout.data / contract.DATA_DATASETS / ds_id
    manifest = prepared_manifest(final)
    reused = can_reuse(manifest, ds_id)
    if manifest is not None and reused:
        info(f"dataset {ds_id} already prepared at {final}: reused")
    elif manifest is not None:
        raise InputError(f"{final}: holds a dataset.json of another dataset; remove the folder and prepare again")
    else:
        source = {"annotations": [str(s.path) for s in sources], "images": opts.images, "link_mode": opts.link_mode}
        plan = BuildPlan(
            ds_id, final, layout.data, images_root, images, validated.categories, params, augment_doc, source
        )
        manifest = _build(plan, opts, slots)
    write_manifest(layout.output(contract.DATASET_MANIFEST), manifest)
    _write_dataset_report(layout, manifest, report, images, validated.categories, final)
    layout.write_param(contract.PARAM_DATASET_ID, ds_id)
    return PrepareResult(ds_id, final, reused, manifest, report)


def _write_dataset_report(
    layout: Layout,
    manifest: dict[str, Any],
    report: Report,
    images: list[ImageRecord],
    categories: list[Category],
    dataset_dir: Path,
) -> None:
    """dataset-report.html (never fails the step; a failure is a note in it and a warning here)."""
    from odpipe.reports.dataset import TITLE, dataset_report
    from odpipe.reports.write import write_report

    def make() -> Rendered:
        splits, stride = report_splits(images, categories)
        sampled = f"every {stride}th image of each split" if stride > 1 else None
        return dataset_report(manifest, report.to_dict(), splits, dataset_dir, sampled=sampled)

    write_report(layout.output(contract.DATASET_REPORT), TITLE, make)


REPORT_BOX_BUDGET = 1_000_000  # boxes held for the report's per-split statistics (~50 bytes each)


def report_splits(images: list[ImageRecord], categories: list[Category]) -> tuple[dict[str, dict[str, Any]], int]:
    """Per-split images (file names as in the dataset), categories and boxes (SplitBoxes) for the dataset
    report, and the image stride: above the box budget only every stride-th image is taken, so memory
    stays bounded at any scale; the per-split counts in the report come from the manifest, never from
    this sample."""
    total = sum(r.box_count for r in images)
    stride = max(1, -(-total // REPORT_BOX_BUDGET))
    docs: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        chosen = sorted((r for r in images if r.split == split), key=lambda r: r.relpath)[::stride]
        if not chosen:
            continue
        images_doc = [
            {"id": img_id, "file_name": dataset_name(rec.relpath), "width": rec.width, "height": rec.height}
            for img_id, rec in enumerate(chosen, start=1)
        ]
        categories_doc = [{"id": c.coco_id, "name": c.name} for c in categories]
        docs[split] = {"images": images_doc, "boxes": _report_boxes(chosen), "categories": categories_doc}
    return docs, stride


def _report_boxes(chosen: list[ImageRecord]) -> SplitBoxes:
    """The boxes of ``chosen`` (image ids 1..n in this order), each image's in file order."""
    store = chosen[0].store
    rows, counts = store.rows_of_images([rec.number for rec in chosen])
    category, xywh, crowd = store.columns(rows)
    return SplitBoxes(np.repeat(np.arange(1, len(chosen) + 1), counts), category, xywh, crowd)


def _needs_s3(opts: PrepareOptions) -> bool:
    locations = (opts.annotations, opts.images, opts.val_annotations or "", opts.test_annotations or "")
    return any(is_s3_uri(x) for x in locations)


def _load_sources(opts: PrepareOptions, layout: Layout, storage: Storage | None) -> list[Source]:
    """The annotation files, fetched and parsed: one unsplit source, or train plus val/test files."""
    split_files = bool(opts.val_annotations or opts.test_annotations)
    sources = [Source(_fetch_annotations(opts.annotations, layout, storage), {}, "train" if split_files else None)]
    for split, loc in (("val", opts.val_annotations), ("test", opts.test_annotations)):
        if loc:
            sources.append(Source(_fetch_annotations(loc, layout, storage), {}, split))
    for src in sources:
        src.doc = load_instances(src.path)
    if opts.val_list and len(sources) > 1:
        raise InputError("--val-list and --val-annotations/--test-annotations are two ways to split: choose one")
    return sources


def _cache_path(images_root: Path, layout: Layout) -> Path:
    cache_name = images_root.resolve().as_posix().strip("/").replace("/", "__") + ".json"
    return layout.data / contract.DATA_RAW / ".odpipe-cache" / cache_name


def _first_local_run(opts: PrepareOptions, layout: Layout) -> bool:
    """Whether work begins before the annotations are parsed (image checks, label slots): a first run
    (no hash cache yet) over a local folder, with a large annotation file and more than one core."""
    if opts.workers == 1 or (not opts.workers and available_cpus() <= 1):
        return False
    if is_s3_uri(opts.images) or is_s3_uri(opts.annotations):
        return False
    try:
        large = Path(opts.annotations).stat().st_size > PREFETCH_ABOVE_BYTES and Path(opts.images).is_dir()
    except OSError:
        return False  # loading the annotations names the problem
    return large and not _cache_path(Path(opts.images), layout).exists()


@contextlib.contextmanager
def _prefetch(opts: PrepareOptions, layout: Layout) -> Iterator[ImagePrefetch | None]:
    """Image checks running while a large annotation file is parsed, on a first run over local files."""
    if opts.full_decode or not _first_local_run(opts, layout):
        yield None
        return
    workers = opts.workers or available_cpus()
    prefetch = ImagePrefetch(Path(opts.images), workers - 1)  # a core left for the parse (measured faster)
    try:
        yield prefetch
    finally:
        prefetch.close()


def _validate(
    opts: PrepareOptions,
    sources: list[Source],
    images_root: Path,
    layout: Layout,
    report: Report,
    prefetch: ImagePrefetch | None = None,
) -> Validated:
    cache = HashCache(_cache_path(images_root, layout))
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
            workers=opts.workers or available_cpus(),
            progress=advance,
            prefetch=prefetch,
        )
    cache.save()
    return validated


def _select_and_split(
    opts: PrepareOptions,
    validated: list[ImageRecord],
    val_list: Any,
    sources: list[Source],
    report: Report,
) -> list[ImageRecord]:
    """The images kept (backgrounds thinned), each assigned a split; a missing val split is fatal."""
    images = keep_backgrounds(validated, opts.background_ratio, opts.seed, report)
    if not report.errors:
        assign_splits(images, val_fraction=opts.val_fraction, seed=opts.seed, val_list=val_list)
        if not any(r.split == "val" for r in images):
            report.fatal(
                "no-val-split",
                str(sources[0].path),
                "no image ended in the val split: evaluation needs one (check --val-fraction / split files)",
            )
    return images


def _write_report(layout: Layout, report: Report, sources: list[Source]) -> None:
    """report.json and its summary; raises InputError when validation found errors."""
    write_json(layout.output(contract.REPORT), report.to_dict())
    for line in report.summary_lines():
        info(line)
    if report.errors:
        raise InputError(
            f"{sources[0].path}: validation failed ({len(report.errors)} error kind(s)); "
            f"see {layout.output(contract.REPORT)}\n"
            + "\n".join(f"  {line}" for line in report.summary_lines() if line.startswith("ERROR"))
        )


@dataclass(frozen=True)
class BuildPlan:
    """What a new dataset is made of and where it goes."""

    dataset_id: str
    final: Path  # <data>/datasets/<id>
    data: Path  # the data volume (manifest paths are relative to it)
    images_root: Path
    images: list[ImageRecord]
    categories: list[Category]
    params: dict[str, Any]
    augment: dict[str, Any] | None
    source: dict[str, Any]

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if any(r.split == s for r in self.images)]


def _build(plan: BuildPlan, opts: PrepareOptions, slots: LabelSlots | None = None) -> dict[str, Any]:
    with building_dir(plan.final, contract.DATASET_MANIFEST) as tmp:
        manifest = _write_dataset(tmp, plan, opts, slots)
    info(f"dataset {plan.dataset_id} written to {plan.final}")
    return manifest


def _write_dataset(tmp: Path, plan: BuildPlan, opts: PrepareOptions, slots: LabelSlots | None) -> dict[str, Any]:
    """Images, labels, augmented copies, data.yaml, COCO files per eval split and the manifest, into ``tmp``.
    The COCO files first: the label files last give the slot maker more time."""
    for split in plan.splits:
        if split != "train":
            write_coco_split(tmp / coco_file(split), plan.images, plan.categories, split)
    with progress("write YOLO dataset", len(plan.images)) as advance:
        write_split_images(tmp, plan.images_root, plan.images, plan.categories, opts.link_mode, advance, slots)
    augmented = (
        augment_mod.augment_train(tmp, plan.images_root, plan.images, plan.categories, plan.augment, opts.seed)
        if plan.augment
        else 0
    )
    write_data_yaml(tmp / DATA_YAML, plan.final, plan.splits, {i: c.name for i, c in enumerate(plan.categories)})
    counts = _counts(plan.images, plan.categories)
    if augmented:
        counts["train"]["augmented_images"] = augmented
    manifest = build_manifest(
        plan.dataset_id,
        [ManifestClass(c.name, c.coco_id) for c in plan.categories],
        counts,
        plan.final.relative_to(plan.data).as_posix(),
        plan.params,
        plan.source,
        _tool_versions(),
    )
    write_manifest(tmp / contract.DATASET_MANIFEST, manifest)
    return manifest
