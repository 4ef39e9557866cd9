"""A detection confusion matrix: detections scored at least a threshold matched one-to-one to ground
truth boxes by IoU (class-agnostic, best score first), so a box found under the wrong class counts as
that confusion; an extra detection is a background false positive, a missed box a background miss."""

from __future__ import annotations

from typing import Any

import numpy as np


def iou_xywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (Nx4, xywh) with every box in ``b`` (Mx4)."""
    ax1, ay1 = a[:, 0:1] + a[:, 2:3], a[:, 1:2] + a[:, 3:4]
    bx1, by1 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(a[:, 0:1], b[:, 0]), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(a[:, 1:2], b[:, 1]), 0, None)
    inter = iw * ih
    union = (a[:, 2:3] * a[:, 3:4]) + (b[:, 2] * b[:, 3]) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def confusion_matrix(
    gt: dict[str, Any], detections: list[dict[str, Any]], category_ids: list[int], conf: float, iou: float = 0.5
) -> np.ndarray:
    """(K+1)x(K+1) counts: rows the true class (last: background), columns the predicted class (last:
    background), K = len(category_ids) in that order."""
    k = len(category_ids)
    index = {cid: i for i, cid in enumerate(category_ids)}
    out = np.zeros((k + 1, k + 1), dtype=np.int64)
    truth: dict[int, list[dict[str, Any]]] = {}
    for a in gt.get("annotations", []):
        if not a.get("iscrowd") and a["category_id"] in index:
            truth.setdefault(int(a["image_id"]), []).append(a)
    found: dict[int, list[dict[str, Any]]] = {}
    for d in detections:
        if d["score"] >= conf and d["category_id"] in index:
            found.setdefault(int(d["image_id"]), []).append(d)
    for image in {int(i["id"]) for i in gt.get("images", [])}:
        gts, dts = truth.get(image, []), sorted(found.get(image, []), key=lambda d: -d["score"])
        taken = np.zeros(len(gts), dtype=bool)
        ious = (
            iou_xywh(np.array([d["bbox"] for d in dts], float), np.array([g["bbox"] for g in gts], float))
            if gts and dts
            else np.zeros((len(dts), len(gts)))
        )
        for j, d in enumerate(dts):
            row = np.where(taken, -1.0, ious[j]) if gts else np.zeros(0)
            best = int(np.argmax(row)) if row.size else -1
            if best >= 0 and row[best] >= iou:
                taken[best] = True
                out[index[gts[best]["category_id"]], index[d["category_id"]]] += 1
            else:
                out[k, index[d["category_id"]]] += 1
        for g, hit in zip(gts, taken, strict=True):
            if not hit:
                out[index[g["category_id"]], k] += 1
    return out
