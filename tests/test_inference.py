"""The numpy inference pieces export-deploy scores ONNX models with: letterbox, decode, NMS, and the
conversion to COCO results."""

from __future__ import annotations

import numpy as np
import pytest
from odpipe.coco.results import coco_ids, to_results
from odpipe.export.inference import Letterbox, decode, letterbox, nms, to_tensor, unletterbox


def test_nms_keeps_the_best_of_overlapping_boxes_by_score() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9]], dtype=np.float32)
    scores = np.array([0.6, 0.9, 0.5, 0.3], dtype=np.float32)
    assert nms(boxes, scores, iou=0.5).tolist() == [1, 2]
    # a threshold above every overlap keeps everything, best first
    assert nms(boxes, scores, iou=0.95).tolist() == [1, 0, 2, 3]


def test_nms_of_nothing_and_of_one_box() -> None:
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.7).tolist() == []
    assert nms(np.array([[0, 0, 1, 1]], np.float32), np.array([0.2], np.float32), 0.7).tolist() == [0]


def _head(rows: list[tuple[float, float, float, float, list[float]]]) -> np.ndarray:
    """A raw head output (4 + nc, anchors) from (cx, cy, w, h, class scores) per anchor."""
    return np.array([[cx, cy, w, h, *scores] for cx, cy, w, h, scores in rows], dtype=np.float32).T


def test_decode_converts_centres_drops_low_scores_and_keeps_classes_apart() -> None:
    out = _head(
        [
            (20, 20, 10, 10, [0.9, 0.1]),
            (20, 20, 10, 10, [0.2, 0.8]),  # same box, other class: NMS must not merge it with the first
            (21, 20, 10, 10, [0.7, 0.0]),  # overlaps the first, same class: suppressed
            (80, 80, 4, 4, [0.0005, 0.0]),  # below the confidence threshold
        ]
    )
    boxes, scores, cls = decode(out)
    assert cls.tolist() == [0, 1]
    assert scores.tolist() == pytest.approx([0.9, 0.8])
    assert boxes.tolist() == [[15, 15, 25, 25], [15, 15, 25, 25]]


def test_decode_caps_the_detections() -> None:
    out = _head([(10 * i, 0, 4, 4, [0.5 + i / 100]) for i in range(10)])
    boxes, scores, _ = decode(out, max_det=3)
    assert len(boxes) == 3 and scores.tolist() == pytest.approx([0.59, 0.58, 0.57])


def test_letterbox_scales_keeping_aspect_and_pads_centred() -> None:
    image = np.full((50, 100, 3), 7, dtype=np.uint8)
    boxed, lb = letterbox(image, 64)
    assert boxed.shape == (64, 64, 3)
    assert lb == Letterbox(scale=0.64, pad_x=0, pad_y=16)
    assert (boxed[:16] == 114).all() and (boxed[-16:] == 114).all() and (boxed[16:48] == 7).all()
    tensor = to_tensor(boxed)
    assert tensor.shape == (1, 3, 64, 64) and tensor.dtype == np.float32 and tensor.max() <= 1.0


def test_unletterbox_maps_back_to_image_pixels_and_clips() -> None:
    lb = Letterbox(scale=0.64, pad_x=0, pad_y=16)
    boxes = np.array([[0, 16, 32, 48], [-5, 0, 70, 70]], dtype=np.float32)
    back = unletterbox(boxes, lb, (50, 100))
    np.testing.assert_allclose(back, [[0, 0, 50, 50], [0, 0, 100, 50]], rtol=1e-6)


def test_results_carry_original_category_ids_and_xywh() -> None:
    classes = [{"index": 0, "name": "a", "coco_id": 7}, {"index": 1, "name": "b", "coco_id": 3}]
    results = to_results(5, [[1.0, 2.0, 11.0, 22.0]], [1.0], [0.25], coco_ids(classes))
    assert results == [{"image_id": 5, "category_id": 3, "bbox": [1.0, 2.0, 10.0, 20.0], "score": 0.25}]
