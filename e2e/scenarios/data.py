"""The data every scenario trains on: the bccd set from ../shared/testdata, uploaded as NOTES.txt says,
and the training parameters (small enough for several runs on 2 CPUs, large enough for the gate)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from e2e.cluster.layout import REPO

from .kube import MODEL

TESTDATA = REPO.parent / "shared" / "testdata" / "bccd"
BCCD_JSON = TESTDATA / "voc2coco" / "sample" / "outputs" / "bccd_train_cocoformat.json"
BCCD_IMAGES = TESTDATA / "BCCD_Dataset" / "BCCD" / "JPEGImages"
TRAIN_PARAMS = {"epochs": "2", "imgsz": "320", "batch": "8"}
PREFIX = "bccd"


def present() -> bool:
    return BCCD_JSON.exists()


def image_names() -> list[str]:
    doc = json.loads(BCCD_JSON.read_text())
    return sorted({Path(img["file_name"]).name for img in doc["images"]})


def upload(s3: Any, bucket: str = "datasets") -> int:
    names = image_names()
    s3.upload_file(str(BCCD_JSON), bucket, f"{PREFIX}/annotations.json")
    for name in names:
        s3.upload_file(str(BCCD_IMAGES / name), bucket, f"{PREFIX}/images/{name}")
    return len(names)


def params(**overrides: str) -> dict[str, str]:
    base = {"annotations-key": f"{PREFIX}/annotations.json", "images-prefix": f"{PREFIX}/images", "model-name": MODEL}
    return {**base, **TRAIN_PARAMS, **overrides}


def sample_image() -> Path:
    return BCCD_IMAGES / image_names()[0]
