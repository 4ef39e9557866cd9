"""The ONE evaluator: pycocotools COCOeval (bbox) on a ground-truth COCO file and detections.

Used by train (PyTorch predictions) and export-deploy (onnxruntime predictions), so both report the
same numbers for the same boxes.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STAT_NAMES = (
    "AP", "AP50", "AP75", "AP_small", "AP_medium", "AP_large",
    "AR1", "AR10", "AR100", "AR_small", "AR_medium", "AR_large",
)  # fmt: skip


# The confidence a person would deploy at (the serving default): per-image recall in the evaluation
# report counts detections at or above it; mAP itself uses every detection.
REPORT_CONF = 0.25


def _load_gt(gt: Path | dict[str, Any]) -> Any:
    from pycocotools.coco import COCO

    doc = json.loads(gt.read_text()) if isinstance(gt, Path) else gt
    doc = {**doc, "images": doc["images"], "annotations": doc.get("annotations", [])}
    coco = COCO()
    coco.dataset = doc
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


@dataclass
class EvalDetail:
    """What the evaluation report draws, kept from COCOeval itself (nothing recomputed): precision at
    COCO's 101 recall thresholds per category id, at IoU 0.5 and averaged over IoU 0.5:0.95 (area all,
    100 detections; -1 where undefined), and each image's recall at IoU 0.5 counting detections
    scored at least REPORT_CONF (None for an image without ground truth)."""

    recall_thresholds: list[float]
    precision_50: dict[int, list[float]]
    precision_50_95: dict[int, list[float]]
    image_recall: dict[int, float | None]


def evaluate(gt: Path | dict[str, Any], detections: list[dict[str, Any]]) -> dict[str, Any]:
    """COCO bbox metrics: the 12 stats by name and AP (0.50:0.95) per category id.

    ``detections`` are COCO results: image_id, category_id (original COCO ids), bbox [x, y, w, h] in
    original pixels, score.
    """
    return evaluate_detailed(gt, detections)[0]


def evaluate_detailed(
    gt: Path | dict[str, Any], detections: list[dict[str, Any]]
) -> tuple[dict[str, Any], EvalDetail | None]:
    """`evaluate`'s metrics and the detail the evaluation report draws (None without detections)."""
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
        }, None
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
    metrics = {
        "stats": {n: float(v) for n, v in zip(STAT_NAMES, ev.stats, strict=True)},
        "per_class": per_class,
        "detections": len(detections),
        "images": len(coco_gt.getImgIds()),
    }
    return metrics, _detail(ev)


def _detail(ev: Any) -> EvalDetail:
    import numpy as np

    precision = ev.eval["precision"]  # [T, R, K, A, M]: IoU, recall, category, area, max detections
    p50, p50_95 = {}, {}
    for k, cid in enumerate(ev.params.catIds):
        curves = precision[:, :, k, 0, -1]
        p50[int(cid)] = [float(v) for v in curves[0]]
        masked = np.where(curves > -1, curves, np.nan)
        defined = ~np.isnan(masked).all(axis=0)
        mean = np.full(curves.shape[1], -1.0)
        mean[defined] = np.nanmean(masked[:, defined], axis=0)
        p50_95[int(cid)] = [float(v) for v in mean]
    return EvalDetail([float(r) for r in ev.params.recThrs], p50, p50_95, _image_recall(ev))


def _image_recall(ev: Any) -> dict[int, float | None]:
    """Per image: ground truth boxes matched at IoU 0.5 by a detection scored >= REPORT_CONF, over the
    image's non-ignored ground truth, from COCOeval's own matching (all areas, most detections)."""
    found: dict[int, list[int]] = {int(i): [0, 0] for i in ev.params.imgIds}
    all_areas = list(ev.params.areaRng[0])
    for e in ev.evalImgs:
        if e is None or list(e["aRng"]) != all_areas:
            continue
        scores = dict(zip(e["dtIds"], e["dtScores"], strict=True))
        counts = found[int(e["image_id"])]
        for g, ignored in enumerate(e["gtIgnore"]):
            if ignored:
                continue
            counts[1] += 1
            matched = int(e["gtMatches"][0][g])
            counts[0] += int(matched > 0 and scores.get(matched, 0.0) >= REPORT_CONF)
    return {i: (hit / total if total else None) for i, (hit, total) in found.items()}
