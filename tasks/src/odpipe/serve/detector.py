"""One model version on onnxruntime: letterbox, run, decode and NMS with export-deploy's own functions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from odpipe.export.inference import decode, letterbox, to_tensor, unletterbox

# Serving defaults: what an application wants to see, not the mAP evaluation's 0.001 / 0.7.
CONFIDENCE = 0.25
IOU = 0.45
MAX_DETECTIONS = 100
STRIDE = 32


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray  # K x 4 xyxy float32, original pixels
    scores: np.ndarray  # K float32
    category_ids: np.ndarray  # K int64, the dataset's COCO ids


@dataclass(frozen=True)
class Thresholds:
    confidence: float = CONFIDENCE
    iou: float = IOU
    max_detections: int = MAX_DETECTIONS


class Detector:
    """An onnxruntime session and what the model card says about it (image size, classes)."""

    def __init__(self, model: Path, card: dict[str, Any], threads: int | None = None) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        model_input = self.session.get_inputs()[0]
        self.input_name: str = model_input.name
        self.input_shape: list[int | str | None] = list(model_input.shape)
        self.imgsz = int(card.get("export", {}).get("imgsz") or self._static_side() or 640)
        classes = sorted(card.get("classes", []), key=lambda c: int(c["index"]))
        self.coco_ids = np.asarray([int(c["coco_id"]) for c in classes], dtype=np.int64)
        self.class_names = [str(c.get("name", c["coco_id"])) for c in classes]

    def _static_side(self) -> int | None:
        side = self.input_shape[-1]
        return side if isinstance(side, int) else None

    @property
    def static_batch(self) -> int | None:
        batch = self.input_shape[0]
        return batch if isinstance(batch, int) else None

    def run(self, tensor: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: tensor})[0]

    def _to_coco(self, cls: np.ndarray) -> np.ndarray:
        return self.coco_ids[cls] if len(self.coco_ids) else cls.astype(np.int64)

    def detect_images(self, images: list[np.ndarray], thresholds: Thresholds) -> list[Detections]:
        """BGR images of any size -> detections in each image's pixels."""
        boxed = [letterbox(image, self.imgsz) for image in images]
        batch = np.concatenate([to_tensor(b) for b, _ in boxed])
        raw = self._run_batch(batch)
        out = []
        for i, (image, (_, lb)) in enumerate(zip(images, boxed, strict=True)):
            boxes, scores, cls = decode(
                raw[i], conf=thresholds.confidence, iou=thresholds.iou, max_det=thresholds.max_detections
            )
            boxes = unletterbox(boxes, lb, image.shape[:2])
            out.append(Detections(boxes.astype(np.float32), scores.astype(np.float32), self._to_coco(cls)))
        return out

    @property
    def output_names(self) -> list[str]:
        """The graph's own outputs (Ultralytics: `output0`, N x (4 + classes) x anchors)."""
        return [o.name for o in self.session.get_outputs()]

    def detect_tensor(self, tensor: np.ndarray, thresholds: Thresholds) -> list[Detections]:
        """The exported input (N x 3 x H x W, RGB in [0, 1]) -> detections in the tensor's pixels."""
        return self.decode_raw(self.raw(tensor), thresholds)

    def raw(self, tensor: np.ndarray) -> np.ndarray:
        """The model's raw prediction for the exported input, as Triton would answer it."""
        return self._run_batch(tensor)

    def decode_raw(self, raw: np.ndarray, thresholds: Thresholds) -> list[Detections]:
        out = []
        for i in range(len(raw)):
            boxes, scores, cls = decode(
                raw[i], conf=thresholds.confidence, iou=thresholds.iou, max_det=thresholds.max_detections
            )
            out.append(Detections(boxes.astype(np.float32), scores.astype(np.float32), self._to_coco(cls)))
        return out

    def _run_batch(self, batch: np.ndarray) -> np.ndarray:
        # A model exported with a fixed batch of 1 takes the items one at a time.
        if self.static_batch == 1 and len(batch) > 1:
            return np.concatenate([self.run(batch[i : i + 1]) for i in range(len(batch))])
        return self.run(batch)

    def warm_up(self) -> None:
        """One inference before the version takes traffic, so the first request pays no set-up cost."""
        self.run(np.zeros((1, 3, self.imgsz, self.imgsz), dtype=np.float32))
