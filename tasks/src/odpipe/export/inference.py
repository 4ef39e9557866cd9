"""ONNX inference written here: letterbox, decode of the YOLO head, class-aware NMS (numpy only).

Uses the prediction settings of `odpipe.coco.results` (Ultralytics' own: conf 0.001, IoU 0.7, 300
detections, one class per box) so the ONNX model's COCO mAP is comparable with the PyTorch model's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from odpipe.coco.results import CONF, IOU, MAX_DET, coco_ids, to_results, val_images

MAX_CANDIDATES = 30000
_CLASS_OFFSET = 7680.0  # larger than any image side: keeps classes apart in one NMS pass


@dataclass(frozen=True)
class Letterbox:
    scale: float
    pad_x: float
    pad_y: float


def letterbox(image: np.ndarray, size: int, color: int = 114) -> tuple[np.ndarray, Letterbox]:
    """Resize keeping the aspect ratio and pad to size x size (centred), as Ultralytics does."""
    import cv2

    h, w = image.shape[:2]
    scale = min(size / h, size / w)
    new_w, new_h = round(w * scale), round(h * scale)
    if (new_w, new_h) != (w, h):
        image = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    pad_w, pad_h = (size - new_w) / 2, (size - new_h) / 2
    top, bottom = round(pad_h - 0.1), round(pad_h + 0.1)
    left, right = round(pad_w - 0.1), round(pad_w + 0.1)
    out = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(color, color, color))
    return out, Letterbox(scale, left, top)


def to_tensor(image_bgr: np.ndarray) -> np.ndarray:
    """HWC BGR uint8 -> 1x3xHxW RGB float32 in [0, 1]."""
    rgb = image_bgr[:, :, ::-1].transpose(2, 0, 1)
    return np.ascontiguousarray(rgb, dtype=np.float32)[None] / 255.0


def preprocess(path: Path, size: int) -> tuple[np.ndarray, Letterbox, tuple[int, int]]:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"{path}: cannot read image")
    boxed, lb = letterbox(image, size)
    return to_tensor(boxed), lb, image.shape[:2]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy NMS on xyxy boxes; returns kept indices by descending score."""
    order = scores.argsort()[::-1]
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        rest = order[1:]
        xx0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx1 - xx0, 0, None) * np.clip(yy1 - yy0, 0, None)
        overlap = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.int64)


def decode(
    output: np.ndarray, *, conf: float = CONF, iou: float = IOU, max_det: int = MAX_DET
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw head output (4 + nc, anchors) -> xyxy boxes, scores, class indices (input pixels)."""
    pred = output.T  # anchors x (4 + nc)
    class_scores = pred[:, 4:]
    cls = class_scores.argmax(1)
    score = class_scores[np.arange(len(cls)), cls]
    mask = score > conf
    pred, cls, score = pred[mask], cls[mask], score[mask]
    if len(score) > MAX_CANDIDATES:
        top = score.argsort()[::-1][:MAX_CANDIDATES]
        pred, cls, score = pred[top], cls[top], score[top]
    cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    keep = nms(boxes + cls[:, None] * _CLASS_OFFSET, score, iou)[:max_det]
    return boxes[keep], score[keep], cls[keep]


def unletterbox(boxes: np.ndarray, lb: Letterbox, shape: tuple[int, int]) -> np.ndarray:
    out = boxes.copy()
    out[:, [0, 2]] = (out[:, [0, 2]] - lb.pad_x) / lb.scale
    out[:, [1, 3]] = (out[:, [1, 3]] - lb.pad_y) / lb.scale
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, shape[1])
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, shape[0])
    return out


class OnnxDetector:
    def __init__(self, model: Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def raw(self, tensor: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: tensor})[0]


def predict_coco_onnx(
    detector: OnnxDetector, val_coco: Path, images_dir: Path, classes: list[dict[str, Any]], imgsz: int
) -> list[dict[str, Any]]:
    paths, ids = val_images(val_coco, images_dir)
    coco_id = coco_ids(classes)
    out: list[dict[str, Any]] = []
    for path in paths:
        tensor, lb, shape = preprocess(path, imgsz)
        boxes, scores, cls = decode(detector.raw(tensor)[0])
        out += to_results(
            ids[path.name], unletterbox(boxes, lb, shape).tolist(), cls.tolist(), scores.tolist(), coco_id
        )
    return out
