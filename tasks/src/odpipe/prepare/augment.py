"""Optional offline augmentation of the train split with albumentations (bbox-aware, seeded).

The config file (YAML) names the transforms and how many augmented copies of each train image to
write; its content is part of the dataset id:

    copies: 2
    transforms:
      - {name: HorizontalFlip, p: 0.5}
      - {name: RandomBrightnessContrast, p: 0.3}
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from odpipe.common.errors import InputError
from odpipe.formats.dataset_manifest import images_dir, labels_dir
from odpipe.prepare.validate import Category, ImageRecord
from odpipe.prepare.yolo import dataset_name


def load_config(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read augmentation config: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise InputError(f"{path}: augmentation config is not YAML: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("transforms"), list) or not doc["transforms"]:
        raise InputError(f"{path}: augmentation config needs a non-empty 'transforms' list")
    copies = doc.get("copies", 1)
    if not isinstance(copies, int) or copies < 1:
        raise InputError(f"{path}: 'copies' must be a positive integer, got {copies!r}")
    unknown = set(doc) - {"copies", "transforms", "min_visibility"}
    if unknown:
        raise InputError(f"{path}: unknown keys in augmentation config: {sorted(unknown)}")
    build(doc, seed=0, path=path)  # fail now, naming the transform, not halfway through the dataset
    return doc


def build(doc: dict[str, Any], seed: int, path: Path | None = None) -> Any:
    import albumentations as A

    transforms = []
    for i, spec in enumerate(doc["transforms"]):
        if not isinstance(spec, dict) or "name" not in spec:
            raise InputError(f"{path}: transforms[{i}] needs a 'name'")
        params = {k: v for k, v in spec.items() if k != "name"}
        cls = getattr(A, str(spec["name"]), None)
        if cls is None:
            raise InputError(f"{path}: transforms[{i}]: albumentations has no transform {spec['name']!r}")
        try:
            transforms.append(cls(**params))
        except (TypeError, ValueError) as exc:
            raise InputError(f"{path}: transforms[{i}] ({spec['name']}): {exc}") from None
    return A.Compose(
        transforms,
        bbox_params=A.BboxParams(
            format="coco", label_fields=["labels"], clip=True, min_visibility=float(doc.get("min_visibility", 0.3))
        ),
        seed=seed,
    )


def augment_train(
    root: Path, images_root: Path, images: list[ImageRecord], categories: list[Category], doc: dict[str, Any], seed: int
) -> int:
    """Write augmented copies of every train image (and its labels); returns how many were written."""
    import cv2

    index_of = {c.coco_id: i for i, c in enumerate(categories)}
    pipeline = build(doc, seed)
    written = 0
    for rec in sorted((r for r in images if r.split == "train"), key=lambda r: r.relpath):
        image = cv2.imread(str(images_root / rec.relpath), cv2.IMREAD_COLOR)
        if image is None:
            continue
        boxes = [[b.x, b.y, b.w, b.h] for b in rec.trainable_boxes]
        labels = [index_of[b.category_id] for b in rec.trainable_boxes]
        stem = PurePosixPath(dataset_name(rec.relpath)).stem
        for k in range(int(doc.get("copies", 1))):
            out = pipeline(image=image, bboxes=boxes, labels=labels)
            h, w = out["image"].shape[:2]
            name = f"{stem}__aug{k}"
            cv2.imwrite(str(root / images_dir("train") / f"{name}.jpg"), out["image"])
            lines = []
            for (x, y, bw, bh), cls in zip(out["bboxes"], out["labels"], strict=True):
                lines.append(
                    f"{int(cls)} {(x + bw / 2) / w:.10g} {(y + bh / 2) / h:.10g} {bw / w:.10g} {bh / h:.10g}\n"
                )
            (root / labels_dir("train") / f"{name}.txt").write_text("".join(lines))
            written += 1
    return written
