"""Detections of a PyTorch YOLO model on the val split, as COCO results with the original ids."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from odpipe.coco.results import CONF, IOU, MAX_DET, coco_ids, to_results, val_images


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
    coco_id = coco_ids(classes)
    out: list[dict[str, Any]] = []
    for start in range(0, len(paths), batch):
        chunk = [str(p) for p in paths[start : start + batch]]
        for result in model.predict(
            chunk, imgsz=imgsz, conf=CONF, iou=IOU, max_det=MAX_DET, device=device, verbose=False
        ):
            boxes = result.boxes
            out += to_results(
                ids[Path(result.path).name], boxes.xyxy.tolist(), boxes.cls.tolist(), boxes.conf.tolist(), coco_id
            )
    return out
