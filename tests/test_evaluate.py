"""The evaluator against COCOeval reference numbers written elsewhere."""

from __future__ import annotations

import json

import pytest
from conftest import shared_testdata
from odpipe.coco.evaluate import STAT_NAMES, evaluate

EXPECTED_BBOX = [
    0.5045806987249628,
    0.6969727247299577,
    0.5729816669904824,
    0.5856257209410443,
    0.5193996948036719,
    0.5013978986347466,
    0.38681277964578054,
    0.5936795762842003,
    0.595352982877607,
    0.6398109626113442,
    0.5664205978994309,
    0.5642905982905982,
]


def test_cocoapi_fake_detections_give_the_published_numbers() -> None:
    gt = shared_testdata("faster_coco_eval", "tests", "dataset", "cocoapi", "instances_val2014_100.json")
    dt = shared_testdata("cocoapi", "results", "instances_val2014_fakebbox100_results.json")
    result = evaluate(gt, json.loads(dt.read_text()))
    assert result["stats"]["AP"] == pytest.approx(0.5045806987249628, abs=1e-12)
    assert [result["stats"][n] for n in STAT_NAMES] == pytest.approx(EXPECTED_BBOX, abs=1e-12)
    assert len(result["per_class"]) == len(json.loads(gt.read_text())["categories"])
    aps = [c["AP"] for c in result["per_class"].values() if c["AP"] >= 0]
    assert sum(aps) / len(aps) == pytest.approx(result["stats"]["AP"], abs=1e-9)


def test_no_detections_gives_zero() -> None:
    gt = {
        "images": [{"id": 1, "width": 10, "height": 10, "file_name": "a.jpg"}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4], "area": 16, "iscrowd": 0}],
        "categories": [{"id": 3, "name": "x"}],
    }
    assert evaluate(gt, [])["stats"]["AP"] == 0.0
    perfect = evaluate(gt, [{"image_id": 1, "category_id": 3, "bbox": [1, 1, 4, 4], "score": 0.9}])
    assert perfect["stats"]["AP"] == pytest.approx(1.0)
