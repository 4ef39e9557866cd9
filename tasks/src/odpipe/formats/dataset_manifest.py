"""The prepared dataset's format, owned here: prepare writes through this module, train and
export-deploy read through it.

On the data volume a dataset is ``<data>/datasets/<id>/`` holding ``images/<split>``, ``labels/<split>``,
``data.yaml`` (Ultralytics), ``<split>_coco.json`` per eval split and ``dataset.json`` (the manifest,
schema ``odpipe.dataset/v1``); the manifest also travels as the prepare task's output artifact.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from odpipe.common.atomic import write_text
from odpipe.common.errors import InputError
from odpipe.common.jsonfile import read_json_object, write_json
from odpipe.formats import contract

SCHEMA = "odpipe.dataset/v1"
SPLITS = ("train", "val", "test")
DATA_YAML = "data.yaml"
REQUIRED_FIELDS = ("dataset_id", "classes", "splits", "paths")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def images_dir(split: str) -> str:
    return f"images/{split}"


def labels_dir(split: str) -> str:
    return f"labels/{split}"


def coco_file(split: str) -> str:
    return f"{split}_coco.json"


def image_files(folder: Path) -> list[Path]:
    """The images of one split folder, sorted (none if the folder is absent)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


def write_data_yaml(dest: Path, dataset_root: Path, splits: Iterable[str], names: dict[int, str]) -> Path:
    """Ultralytics' data.yaml; ``dataset_root`` is where the dataset is (or will be, once renamed into place)."""
    doc: dict[str, Any] = {"path": str(dataset_root)}
    for split in splits:
        doc[split] = images_dir(split)
    doc["names"] = names
    return write_text(dest, yaml.safe_dump(doc, sort_keys=False))


@dataclass(frozen=True)
class ManifestClass:
    name: str
    coco_id: int


def build_manifest(
    dataset_id: str,
    classes: list[ManifestClass],
    split_counts: dict[str, Any],
    root: str,
    parameters: dict[str, Any],
    source: dict[str, Any],
    tools: dict[str, str],
) -> dict[str, Any]:
    """The manifest of a dataset at ``root`` (relative to the data volume) with the splits counted."""
    splits = [s for s in SPLITS if s in split_counts]
    return {
        "schema": SCHEMA,
        "dataset_id": dataset_id,
        "classes": [{"index": i, "name": c.name, "coco_id": c.coco_id} for i, c in enumerate(classes)],
        "splits": split_counts,
        "paths": {
            "root": root,
            "data_yaml": f"{root}/{DATA_YAML}",
            **{f"{s}_images": f"{root}/{images_dir(s)}" for s in splits},
            **{f"{s}_coco": f"{root}/{coco_file(s)}" for s in splits if s != "train"},
        },
        "parameters": parameters,
        "source": source,
        "tools": tools,
    }


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    write_json(path, manifest)


def read_manifest(path: Path) -> dict[str, Any]:
    doc = read_json_object(path, "dataset manifest")
    if doc.get("schema") != SCHEMA:
        raise InputError(f"{path}: not an odpipe dataset manifest (field 'schema' should be '{SCHEMA}')")
    for key in REQUIRED_FIELDS:
        if key not in doc:
            raise InputError(f"{path}: dataset manifest lacks field {key!r}")
    return doc


def prepared_manifest(dataset_dir: Path) -> dict[str, Any] | None:
    """The manifest of a finished dataset folder; None when there is none (a dataset folder only gets its
    name once complete, so a manifest there means the dataset is whole)."""
    path = dataset_dir / contract.DATASET_MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


@dataclass
class Dataset:
    manifest_path: Path
    manifest: dict[str, Any]
    root: Path

    @property
    def dataset_id(self) -> str:
        return str(self.manifest["dataset_id"])

    @property
    def classes(self) -> list[dict[str, Any]]:
        return list(self.manifest["classes"])

    @property
    def names(self) -> dict[int, str]:
        return {int(c["index"]): str(c["name"]) for c in self.classes}

    @property
    def val_coco(self) -> Path:
        return self.root / coco_file("val")

    @property
    def val_images(self) -> Path:
        return self.root / images_dir("val")

    @property
    def train_images(self) -> Path:
        return self.root / images_dir("train")

    def write_data_yaml(self, dest: Path) -> Path:
        """A data.yaml whose `path` is where the dataset is on *this* machine's data volume."""
        splits = [s for s in SPLITS if s != "test" or (self.root / images_dir(s)).is_dir()]
        return write_data_yaml(dest, self.root, splits, self.names)


def load_dataset(manifest_path: Path, data_dir: Path) -> Dataset:
    """The dataset a manifest names, checked whole on the data volume (folder, manifest id, image counts,
    val COCO file)."""
    manifest = read_manifest(manifest_path)
    root = data_dir / manifest["paths"]["root"]
    ds_id = manifest["dataset_id"]
    if not root.is_dir():
        raise InputError(
            f"dataset {ds_id}: folder {root} not found on the data volume (was prepare run against "
            f"the same volume, {data_dir}?)"
        )
    on_disk = prepared_manifest(root)
    if on_disk is None or on_disk.get("dataset_id") != ds_id:
        raise InputError(f"dataset {ds_id}: {root} is incomplete (no dataset.json with this id)")
    for split in ("train", "val"):
        counts = manifest["splits"].get(split, {})
        want = counts.get("images", 0) + counts.get("augmented_images", 0)
        folder = root / images_dir(split)
        have = len(image_files(folder))
        if have != want or (split == "val" and want == 0):
            raise InputError(
                f"dataset {ds_id}: {folder} holds {have} images, the manifest says {want}: "
                f"incomplete or damaged dataset"
            )
    ds = Dataset(manifest_path, manifest, root)
    if not ds.val_coco.exists():
        raise InputError(f"dataset {ds_id}: {ds.val_coco} missing (needed for COCO evaluation)")
    return ds
