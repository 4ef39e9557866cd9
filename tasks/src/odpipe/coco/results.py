"""COCO detection results, the one format both evaluations score: the prediction settings, the val
images in a fixed order, and the conversion of a model's boxes to result dicts with the original ids.

The settings are Ultralytics' own validation settings, so odpipe's COCO mAP is comparable with its
number, and the PyTorch and ONNX models are scored alike.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

CONF = 0.001
IOU = 0.7
MAX_DET = 300


def val_images(val_coco: Path, images_dir: Path) -> tuple[list[Path], dict[str, int]]:
    """The split's image files sorted by name, and each file name's COCO image id."""
    doc = json.loads(val_coco.read_text())
    ids = {img["file_name"]: int(img["id"]) for img in doc["images"]}
    return [images_dir / name for name in sorted(ids)], ids


def coco_ids(classes: list[dict[str, Any]]) -> dict[int, int]:
    """Model class index -> original COCO category id, from the dataset manifest's classes."""
    return {int(c["index"]): int(c["coco_id"]) for c in classes}


def to_results(
    image_id: int,
    boxes_xyxy: Iterable[Iterable[float]],
    classes: Iterable[float],
    scores: Iterable[float],
    coco_id: dict[int, int],
) -> list[dict[str, Any]]:
    """One image's detections (xyxy in original pixels, class indices, scores) as COCO results (xywh)."""
    out = []
    for (x0, y0, x1, y1), cls, score in zip(boxes_xyxy, classes, scores, strict=True):
        out.append(
            {
                "image_id": image_id,
                "category_id": coco_id[int(cls)],
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "score": float(score),
            }
        )
    return out
