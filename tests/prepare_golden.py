"""Golden digests of prepare's outputs: every file prepare writes (dataset, report.json, dataset.json,
the dataset-id parameter) on the shared fixtures, the synthetic set and a deliberately messy file, so a
rewrite of its internals can be shown to change nothing. `python tests/prepare_golden.py` prints them."""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from odpipe.common.errors import InputError
from odpipe.formats import contract
from odpipe.formats.contract import Layout
from odpipe.prepare.run import PrepareOptions
from odpipe.prepare.run import run as run_prepare

TESTDATA = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"
BCCD_JSON = TESTDATA / "bccd" / "voc2coco" / "sample" / "outputs"
BCCD_IMAGES = TESTDATA / "bccd" / "BCCD_Dataset" / "BCCD" / "JPEGImages"
ROBOFLOW = TESTDATA / "datumaro" / "tests" / "assets" / "roboflow_dataset" / "coco"


def messy(out: Path) -> tuple[Path, Path]:
    """A synthetic set with one of every annotation and image fault the validator knows, plus string ids."""
    from odpipe.coco.synthetic import make_dataset

    ann = make_dataset(out, images=30, seed=3)
    doc = json.loads(ann.read_text())
    rng = random.Random(5)
    doc["images"][3]["id"] = str(doc["images"][3]["id"])
    doc["images"][4]["width"] = 0
    doc["images"].append({"id": 999, "file_name": "absent.jpg", "width": 128, "height": 128})
    doc["images"].append(dict(doc["images"][5], id=1000))
    doc["images"].append({"id": 1001, "file_name": "/elsewhere/shape_00007.jpg", "width": 128, "height": 128})
    (out / "images" / "shape_00007.jpg").rename(out / "images" / "moved.jpg")
    doc["images"][6]["file_name"] = "moved.jpg"
    extra: list[Any] = [
        "not an object",
        {"id": 9001, "image_id": 1, "category_id": 7, "bbox": [1, 1, 5, 5]},
        {"id": 9002, "image_id": 12345, "category_id": 1, "bbox": [1, 1, 5, 5]},
        {"id": 9003, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5]},
        {"id": 9004, "image_id": 2, "category_id": 1, "bbox": [1, 1, 0, 5]},
        {"id": 9005, "image_id": 2, "category_id": 1, "bbox": [-1.0, 2, 10, 10]},
        {"id": 9006, "image_id": 2, "category_id": 1, "bbox": [100, 100, 90, 90]},
        {"id": 9007, "image_id": 2, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 1},
        {"id": 9007, "image_id": 2, "category_id": 1, "bbox": [10, 10, 20, 20], "iscrowd": 1},
        {"id": "9007", "image_id": "2", "category_id": 2.0, "bbox": [11, 10, 20, 20]},
        {"id": None, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]},
        {"id": 9008, "image_id": True, "category_id": 1, "bbox": [1, 1, 5, 5]},
        {"id": 9009, "image_id": 3, "category_id": 1, "bbox": [1, 1, float("nan"), 5]},
        {"id": 9010, "image_id": 4, "category_id": 2, "bbox": [3, 3, 9.25, 7.5]},
        {"id": 9011, "image_id": 999, "category_id": 2, "bbox": [3, 3, 9, 7]},
        {"id": "x-12", "image_id": "3", "category_id": "2", "bbox": [3.5, 3, 9, 7.125], "iscrowd": True},
    ]
    for _ in range(40):
        extra.append(
            {
                "id": 9100 + len(extra),
                "image_id": rng.randint(1, 30),
                "category_id": rng.randint(1, 3),
                "bbox": [rng.uniform(-4, 120), rng.uniform(-4, 120), rng.uniform(0.5, 30), rng.uniform(0.5, 30)],
                "iscrowd": rng.choice([0, 0, 0, 1]),
            }
        )
    doc["annotations"].extend(extra)
    doc["categories"].append({"id": 4, "name": "unused"})
    ann.write_text(json.dumps(doc))
    return ann, out / "images"


def _synthetic(out: Path) -> tuple[Path, Path]:
    from odpipe.coco.synthetic import make_dataset

    return make_dataset(out, images=60, seed=1), out / "images"


def cases() -> dict[str, Callable[[Path], PrepareOptions]]:
    """Each case builds its input under a folder and returns the options prepare runs with."""

    def bccd_splits(_: Path) -> PrepareOptions:
        a, v, t = (str(BCCD_JSON / f"bccd_{s}_cocoformat.json") for s in ("train", "val", "test"))
        return PrepareOptions(annotations=a, val_annotations=v, test_annotations=t, images=str(BCCD_IMAGES))

    def bccd_train(_: Path) -> PrepareOptions:
        return PrepareOptions(annotations=str(BCCD_JSON / "bccd_train_cocoformat.json"), images=str(BCCD_IMAGES))

    def roboflow(_: Path) -> PrepareOptions:
        return PrepareOptions(annotations=str(ROBOFLOW / "train" / "_annotations.coco.json"), images=str(ROBOFLOW))

    def synthetic(tmp: Path) -> PrepareOptions:
        ann, images = _synthetic(tmp / "in")
        return PrepareOptions(annotations=str(ann), images=str(images))

    def messy_default(tmp: Path) -> PrepareOptions:
        ann, images = messy(tmp / "in")
        return PrepareOptions(annotations=str(ann), images=str(images), background_ratio=0.5)

    def messy_crowd(tmp: Path) -> PrepareOptions:
        ann, images = messy(tmp / "in")
        return PrepareOptions(annotations=str(ann), images=str(images), crowd_as_target=True, bbox_tolerance=0.1)

    def messy_strict(tmp: Path) -> PrepareOptions:
        ann, images = messy(tmp / "in")
        return PrepareOptions(annotations=str(ann), images=str(images), strict=True)

    return {
        "bccd-splits": bccd_splits,
        "bccd-train": bccd_train,
        "roboflow": roboflow,
        "synthetic": synthetic,
        "messy": messy_default,
        "messy-crowd": messy_crowd,
        "messy-strict": messy_strict,
    }


def _normalise(data: bytes, tmp: Path) -> bytes:
    text = data.decode("utf-8", errors="surrogateescape")
    text = text.replace(str(tmp), "<TMP>").replace(str(TESTDATA), "<TESTDATA>")
    try:
        doc = json.loads(text)
    except ValueError:
        return text.encode("utf-8", errors="surrogateescape")
    if isinstance(doc, dict):
        doc.pop("tools", None)  # library versions: they change with the environment, not with prepare
    return json.dumps(doc, sort_keys=True).encode()


def digest_outputs(tmp: Path) -> str:
    """One hash over every file under outputs/ and data/datasets/ (paths included, the temp root removed),
    but the HTML report and its pictures: a picture of the outputs, checked by tests/test_reports.py, not
    part of them."""
    h = hashlib.sha256()
    pictures = contract.report_files(contract.DATASET_REPORT)
    for top in (tmp / "out", tmp / "data" / "datasets"):
        files = [p for p in top.rglob("*") if p.is_file() and p.suffix != ".html"]
        for path in sorted(p for p in files if pictures not in p.relative_to(top).parts):
            rel = path.relative_to(tmp).as_posix()
            data = path.read_bytes()
            if path.suffix in (".json", ".yaml"):
                data = _normalise(data, tmp)
            h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()[:16]


def run_case(name: str, tmp: Path, workers: int = 2) -> dict[str, str]:
    """prepare on one case; the dataset id (or the error message) and the digest of all outputs."""
    opts = cases()[name](tmp)
    opts.workers = workers
    layout = Layout(tmp / "in-artifacts", tmp / "out", tmp / "data")
    try:
        result = run_prepare(opts, layout)
        outcome = result.dataset_id
    except InputError as exc:
        outcome = "error: " + hashlib.sha256(_normalise(str(exc).encode(), tmp)).hexdigest()[:16]
    return {"outcome": outcome, "digest": digest_outputs(tmp)}


if __name__ == "__main__":
    import tempfile

    for case in sys.argv[1:] or list(cases()):
        with tempfile.TemporaryDirectory() as d:
            print(case, json.dumps(run_case(case, Path(d))))
