"""Detections of a PyTorch YOLO model on the val split, as COCO results with the original ids."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Ultralytics' own validation settings, so our COCO mAP is comparable with its number.
CONF = 0.001
IOU = 0.7
MAX_DET = 300


def val_images(val_coco: Path, images_dir: Path) -> tuple[list[Path], dict[str, int]]:
    doc = json.loads(val_coco.read_text())
    ids = {img["file_name"]: int(img["id"]) for img in doc["images"]}
    return [images_dir / name for name in sorted(ids)], ids


def predict_coco(
    model: Any,
    val_coco: Path,
    images_dir: Path,
    classes: list[dict[str, Any]],
    *,
    imgsz: int,
    device: str,
    batch: int = 8,
) -> list[dict[str, Any]]:
    paths, ids = val_images(val_coco, images_dir)
    coco_id = {int(c["index"]): int(c["coco_id"]) for c in classes}
    out: list[dict[str, Any]] = []
    for start in range(0, len(paths), batch):
        chunk = [str(p) for p in paths[start : start + batch]]
        for result in model.predict(
            chunk, imgsz=imgsz, conf=CONF, iou=IOU, max_det=MAX_DET, device=device, verbose=False
        ):
            image_id = ids[Path(result.path).name]
            boxes = result.boxes
            for (x0, y0, x1, y1), cls, score in zip(
                boxes.xyxy.tolist(), boxes.cls.tolist(), boxes.conf.tolist(), strict=True
            ):
                out.append(
                    {
                        "image_id": image_id,
                        "category_id": coco_id[int(cls)],
                        "bbox": [x0, y0, x1 - x0, y1 - y0],
                        "score": float(score),
                    }
                )
    return out
