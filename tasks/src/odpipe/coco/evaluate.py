"""The ONE evaluator: pycocotools COCOeval (bbox) on a ground-truth COCO file and detections.

Used by train (PyTorch predictions) and export-deploy (onnxruntime predictions), so both report the
same numbers for the same boxes.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

STAT_NAMES = (
    "AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
    "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large",
)  # fmt: skip


def _load_gt(gt: Path | dict[str, Any]) -> Any:
    from pycocotools.coco import COCO

    doc = json.loads(gt.read_text()) if isinstance(gt, Path) else gt
    doc = {**doc, "images": doc["images"], "annotations": doc.get("annotations", [])}
    coco = COCO()
    coco.dataset = doc
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def evaluate(gt: Path | dict[str, Any], detections: list[dict[str, Any]]) -> dict[str, Any]:
    """COCO bbox metrics: the 12 stats by name and AP (0.50:0.95) per category id.

    ``detections`` are COCO results: image_id, category_id (original COCO ids), bbox [x, y, w, h] in
    original pixels, score.
    """
    import numpy as np
    from pycocotools.cocoeval import COCOeval

    coco_gt = _load_gt(gt)
    categories = {c["id"]: c["name"] for c in coco_gt.dataset.get("categories", [])}
    if not detections:
        stats = [0.0] * len(STAT_NAMES)
        return {
            "stats": dict(zip(STAT_NAMES, stats, strict=True)),
            "per_class": {str(cid): {"name": n, "AP": 0.0} for cid, n in categories.items()},
            "detections": 0,
            "images": len(coco_gt.getImgIds()),
        }
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes([dict(d) for d in detections])
        ev = COCOeval(coco_gt, coco_dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    per_class: dict[str, dict[str, Any]] = {}
    precision = ev.eval["precision"]  # [T, R, K, A, M]
    for k, cid in enumerate(ev.params.catIds):
        p = precision[:, :, k, 0, -1]
        valid = p[p > -1]
        per_class[str(cid)] = {
            "name": categories.get(cid, str(cid)),
            "AP": float(np.mean(valid)) if valid.size else -1.0,
        }
    return {
        "stats": {n: float(v) for n, v in zip(STAT_NAMES, ev.stats, strict=True)},
        "per_class": per_class,
        "detections": len(detections),
        "images": len(coco_gt.getImgIds()),
    }
