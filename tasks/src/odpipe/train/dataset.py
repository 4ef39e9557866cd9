"""Load the dataset manifest and check the dataset on the data volume is whole before training."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from odpipe import contract
from odpipe.errors import InputError
from odpipe.jsonfile import read_json_object

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def image_files(folder: Path) -> list[Path]:
    """The images of one split folder, sorted (none if the folder is absent)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []


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
    def val_coco(self) -> Path:
        return self.root / "val_coco.json"

    @property
    def val_images(self) -> Path:
        return self.root / "images" / "val"

    @property
    def train_images(self) -> Path:
        return self.root / "images" / "train"

    def write_data_yaml(self, dest: Path) -> Path:
        """A data.yaml whose `path` is where the dataset is on *this* machine's data volume."""
        doc = {
            "path": str(self.root),
            "train": "images/train",
            "val": "images/val",
            "names": {c["index"]: c["name"] for c in self.classes},
        }
        if (self.root / "images" / "test").is_dir():
            doc["test"] = "images/test"
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(yaml.safe_dump(doc, sort_keys=False))
        return dest


def load_manifest(path: Path) -> dict[str, Any]:
    doc = read_json_object(path, "dataset manifest")
    if doc.get("schema") != "odpipe.dataset/v1":
        raise InputError(f"{path}: not an odpipe dataset manifest (field 'schema' should be 'odpipe.dataset/v1')")
    for key in ("dataset_id", "classes", "splits", "paths"):
        if key not in doc:
            raise InputError(f"{path}: dataset manifest lacks field {key!r}")
    return doc


def load_dataset(manifest_path: Path, data_dir: Path) -> Dataset:
    manifest = load_manifest(manifest_path)
    root = data_dir / manifest["paths"]["root"]
    ds_id = manifest["dataset_id"]
    if not root.is_dir():
        raise InputError(
            f"dataset {ds_id}: folder {root} not found on the data volume (was prepare run against "
            f"the same volume, {data_dir}?)"
        )
    on_disk = root / contract.DATASET_MANIFEST
    if not on_disk.exists() or json.loads(on_disk.read_text()).get("dataset_id") != ds_id:
        raise InputError(f"dataset {ds_id}: {root} is incomplete (no dataset.json with this id)")
    for split in ("train", "val"):
        want = manifest["splits"].get(split, {}).get("images", 0)
        want += manifest["splits"].get(split, {}).get("augmented_images", 0)
        folder = root / "images" / split
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
