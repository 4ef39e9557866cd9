"""prepare: one test per class of bad input, checking the message, the report and the exit code."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import shared_testdata, write_json
from helpers import Run, odpipe


def base(shapes: Path) -> dict[str, Any]:
    return json.loads((shapes / "annotations.json").read_text())


def prepare(
    tmp_path: Path,
    shapes: Path,
    doc: dict[str, Any] | None,
    *extra: str,
    images: Path | None = None,
) -> Run:
    tmp_path.mkdir(parents=True, exist_ok=True)
    ann = write_json(tmp_path / "ann.json", doc) if doc is not None else shapes / "annotations.json"
    return odpipe(
        tmp_path / "root",
        "prepare",
        "--annotations",
        str(ann),
        "--images",
        str(images or shapes / "images"),
        *extra,
    )


# -- not COCO instances --------------------------------------------------------------------------
COCO_DIR = ("datumaro", "tests", "assets", "coco_dataset", "coco", "annotations")


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("captions_train.json", "captions"),
        ("panoptic_train.json", "panoptic"),
        ("person_keypoints_train.json", "keypoints"),
        ("image_info_train.json", "no annotations"),
        ("labels_train.json", "no annotation has a 'bbox'"),
        ("stuff_train.json", "iscrowd=1"),
    ],
)
def test_non_instances_files_fail_clearly(tmp_path: Path, shapes: Path, name: str, words: str) -> None:
    path = shared_testdata(*COCO_DIR, name)
    run = odpipe(
        tmp_path,
        "prepare",
        "--annotations",
        str(path),
        "--images",
        str(shapes / "images"),
    )
    assert run.exit_code == 2
    assert name in run.output and words in run.output
    assert not (run.outputs / "dataset.json").exists()


def test_not_json(tmp_path: Path, shapes: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("images: [1, 2]\n")
    run = odpipe(
        tmp_path,
        "prepare",
        "--annotations",
        str(bad),
        "--images",
        str(shapes / "images"),
    )
    assert run.exit_code == 2
    assert "bad.json: not JSON" in run.output and "line 1" in run.output


def test_truncated_json(tmp_path: Path, shapes: Path) -> None:
    text = (shapes / "annotations.json").read_text()
    bad = tmp_path / "cut.json"
    bad.write_text(text[: len(text) // 2])
    run = odpipe(
        tmp_path,
        "prepare",
        "--annotations",
        str(bad),
        "--images",
        str(shapes / "images"),
    )
    assert run.exit_code == 2
    assert "cut.json: truncated JSON" in run.output


def test_top_level_not_an_object(tmp_path: Path, shapes: Path) -> None:
    run = prepare(tmp_path, shapes, [1, 2])  # type: ignore[arg-type]
    assert run.exit_code == 2 and "top level is a JSON list" in run.output


# -- images ---------------------------------------------------------------------------------------
def test_missing_image_dropped_with_warning_and_strict_fails(tmp_path: Path, shapes: Path) -> None:
    doc = base(shapes)
    doc["images"][0]["file_name"] = "nope.jpg"
    run = prepare(tmp_path, shapes, doc)
    assert run.exit_code == 0, run.output
    finding = run.codes()["image-missing"]
    assert finding["level"] == "warning" and finding["first"][0]["id"] == doc["images"][0]["id"]
    assert finding["first"][0]["file_name"] == "nope.jpg"
    n_boxes = sum(1 for a in doc["annotations"] if a["image_id"] != doc["images"][0]["id"])
    m = run.manifest()
    assert sum(s["boxes"] for s in m["splits"].values()) == n_boxes
    strict = prepare(tmp_path / "s", shapes, doc, "--strict")
    assert strict.exit_code == 2
    assert "image-missing" in strict.output and "nope.jpg" in strict.output
    assert strict.report()["ok"] is False


def test_corrupt_and_truncated_images(tmp_path: Path, shapes: Path) -> None:
    images = tmp_path / "imgs"
    images.mkdir()
    for p in (shapes / "images").iterdir():
        (images / p.name).write_bytes(p.read_bytes())
    doc = base(shapes)
    first, second = doc["images"][0]["file_name"], doc["images"][1]["file_name"]
    data = (images / first).read_bytes()
    (images / first).write_bytes(data[: len(data) // 2])  # truncated JPEG: header fine, no end marker
    (images / second).write_bytes(b"this is not an image")
    run = prepare(tmp_path, shapes, doc, images=images)
    assert run.exit_code == 0, run.output
    f = run.codes()["image-unreadable"]
    assert f["count"] == 2
    problems = {x["file_name"]: x["problem"] for x in f["first"]}
    assert "truncated JPEG" in problems[first]
    assert "not a readable image" in problems[second]


def test_declared_size_differs_from_real(tmp_path: Path, shapes: Path) -> None:
    doc = base(shapes)
    doc["images"][2]["width"] = 65
    run = prepare(tmp_path, shapes, doc)
    assert run.exit_code == 0
    f = run.codes()["image-size-mismatch"]["first"][0]
    assert f["declared"] == "65x64" and f["real"] == "64x64"


def test_duplicate_image_ids_and_files(tmp_path: Path, shapes: Path) -> None:
    doc = base(shapes)
    dup = copy.deepcopy(doc["images"][3])
    dup["file_name"] = doc["images"][4]["file_name"]
    doc["images"].append(dup)  # same id as image 3, and the file of image 4
    twin = copy.deepcopy(doc["images"][5])
    twin["id"] = 999
    doc["images"].append(twin)  # another id naming the file of image 5
    run = prepare(tmp_path, shapes, doc)
    assert run.exit_code == 0
    codes = run.codes()
    assert codes["image-duplicate-id"]["first"][0]["id"] == doc["images"][3]["id"]
    assert codes["image-duplicate-file"]["first"][0]["id"] == 999
    assert codes["image-duplicate-file"]["first"][0]["first_id"] == doc["images"][5]["id"]


def test_foreign_absolute_and_subfolder_paths_resolve(tmp_path: Path, shapes: Path) -> None:
    doc = base(shapes)
    doc["images"][0]["file_name"] = "/home/someone/data/" + doc["images"][0]["file_name"]
    doc["images"][1]["file_name"] = "C:\\data\\" + doc["images"][1]["file_name"]
    doc["images"][2]["file_name"] = "train/sub/" + doc["images"][2]["file_name"]
    run = prepare(tmp_path, shapes, doc)
    assert run.exit_code == 0, run.output
    codes = run.codes()
    assert codes["image-foreign-path"]["count"] == 2
    assert codes["image-resolved-by-basename"]["count"] == 1
    assert run.report()["counts"]["images_kept"] == len(doc["images"])


def test_path_escaping_the_root_is_rejected(tmp_path: Path, shapes: Path) -> None:
    doc = base(shapes)
    doc["images"][0]["file_name"] = "../../etc/passwd"
    run = prepare(tmp_path, shapes, doc)
    assert run.exit_code == 2
    assert "image-path-escapes" in run.output and "../../etc/passwd" in run.output
    assert not (run.outputs / "dataset.json").exists()


# -- annotations ----------------------------------------------------------------------------------
def _ann(doc: dict[str, Any], **over: Any) -> dict[str, Any]:
    ann = copy.deepcopy(doc["annotations"][0])
    ann.update(over)
    return ann


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"image_id": 424242}, "annotation-unknown-image", "image_id"),
        ({"category_id": 77}, "annotation-unknown-category", "category_id"),
        ({"bbox": [1, 2, 3]}, "annotation-bad-bbox", "bbox"),
        ({"bbox": [1, 2, math.inf, 4]}, "annotation-bad-bbox", "bbox"),
        ({"bbox": [1, 2, "3", 4]}, "annotation-bad-bbox", "bbox"),
        ({"bbox": [1, 2, 0, 4]}, "annotation-empty-bbox", "bbox"),
        ({"bbox": [1, 2, 5, -4]}, "annotation-empty-bbox", "bbox"),
        ({"bbox": [50, 50, 40, 40]}, "annotation-bbox-outside", "bbox"),
        ({"image_id": None}, "annotation-bad-field", "field"),
    ],
)
def test_bad_annotations_dropped_with_warning(
    tmp_path: Path, shapes: Path, change: dict[str, Any], code: str, field: str
) -> None:
    doc = base(shapes)
    bad = _ann(doc, id=9_000_001, **change)
    doc["annotations"].append(bad)
    run = prepare(tmp_path, shapes, doc)
    assert run.exit_code == 0, run.output
    finding = run.codes()[code]
    assert finding["level"] == "warning" and finding["count"] == 1
    assert finding["first"][0]["id"] == 9_000_001 and field in finding["first"][0]
    assert finding["first"][0]["file"].endswith("ann.json")
    assert run.report()["counts"]["boxes_kept"] == len(doc["annotations"]) - 1
    strict = prepare(tmp_path / "strict", shapes, doc, "--strict")
    assert strict.exit_code == 2 and code in strict.output and "9000001" in strict.output


def test_bbox_slightly_outside_is_clipped(tmp_path: Path, shapes: Path) -> None:
    doc = base(shapes)
    img = doc["images"][0]
    doc["annotations"].append({"id": 777, "image_id": img["id"], "category_id": 1, "bbox": [-0.5, 10, 20, 20]})
    run = prepare(tmp_path, shapes, doc, "--val-fraction", "0")
    # val-fraction 0 leaves no val split: the run says so
    assert run.exit_code == 2 and "no-val-split" in run.output
    run = prepare(tmp_path / "ok", shapes, doc)
    assert run.exit_code == 0
    assert run.codes()["annotation-bbox-clipped"]["first"][0]["id"] == 777


def test_duplicate_annotation_ids(tmp_path: Path, shapes: Path) -> None:
    doc = base(shapes)
    exact = copy.deepcopy(doc["annotations"][0])
    other = _ann(doc, bbox=[0, 0, 10, 10])
    doc["annotations"] += [exact, other]
    run = prepare(tmp_path, shapes, doc)
    assert run.exit_code == 0
    assert run.codes()["annotation-duplicate-id"]["count"] == 2
    # the exact copy is dropped, the different box is kept (renumbered in the COCO output)
    assert run.report()["counts"]["boxes_kept"] == len(doc["annotations"]) - 1


def test_crowd_kept_for_evaluation_not_training(tmp_path: Path, shapes: Path) -> None:
    doc = base(shapes)
    for ann in doc["annotations"]:
        ann["iscrowd"] = 1 if ann["id"] % 4 == 0 else 0
    crowd = sum(a["iscrowd"] for a in doc["annotations"])
    run = prepare(tmp_path, shapes, doc, "--val-fraction", "0.5")
    assert run.exit_code == 0
    m = run.manifest()
    assert sum(s["crowd"] for s in m["splits"].values()) == crowd
    root = run.root / "data" / m["paths"]["root"]
    val = json.loads((root / "val_coco.json").read_text())
    assert sum(a["iscrowd"] for a in val["annotations"]) == m["splits"]["val"]["crowd"]
    labels = sum(len(p.read_text().splitlines()) for p in (root / "labels").rglob("*.txt"))
    assert labels == len(doc["annotations"]) - crowd


def test_string_int_and_huge_ids(tmp_path: Path, shapes: Path) -> None:
    doc = base(shapes)
    big = 2**31 + 12345
    old = doc["images"][0]["id"]
    doc["images"][0]["id"] = big
    doc["images"][1]["id"] = str(doc["images"][1]["id"])  # "2" in images, 2 in annotations
    for ann in doc["annotations"]:
        if ann["image_id"] == old:
            ann["image_id"] = str(big)
    run = prepare(tmp_path, shapes, doc)
    assert run.exit_code == 0, run.output
    assert "annotation-unknown-image" not in run.codes()
    assert run.report()["counts"]["boxes_kept"] == len(doc["annotations"])


# -- categories -----------------------------------------------------------------------------------
def test_category_quirks(tmp_path: Path, shapes: Path) -> None:
    doc = base(shapes)
    doc["categories"] = [
        {"id": 0, "name": "square"},
        {"id": 2, "name": "circle"},
        {"id": 9, "name": "circle"},
        {"id": 3, "name": "triangle"},
    ]
    for ann in doc["annotations"]:
        ann["category_id"] = {1: 0, 2: 2, 3: 3}[ann["category_id"]]
    run = prepare(tmp_path, shapes, doc)
    assert run.exit_code == 0, run.output
    codes = run.codes()
    assert codes["category-id-zero"]["level"] == "info"
    assert codes["category-duplicate-name"]["count"] == 2
    assert codes["category-no-boxes"]["first"][0]["id"] == 9
    assert codes["category-non-contiguous"]["level"] == "info"
    m = run.manifest()
    assert [(c["index"], c["coco_id"]) for c in m["classes"]] == [
        (0, 0),
        (1, 2),
        (2, 3),
        (3, 9),
    ]
    assert [c["name"] for c in m["classes"]] == [
        "square",
        "circle_2",
        "triangle",
        "circle_9",
    ]


def test_nothing_trainable_fails(tmp_path: Path, shapes: Path) -> None:
    doc = base(shapes)
    for ann in doc["annotations"]:
        ann["category_id"] = 99
    run = prepare(tmp_path, shapes, doc)
    assert run.exit_code == 2
    assert "nothing trainable remains" in run.output
    assert run.report()["ok"] is False and not (run.outputs / "dataset.json").exists()


def test_unreadable_image_with_ultralytics_imported(tmp_path: Path) -> None:
    """Ultralytics patches PIL's Image.open (HEIF retry) when imported; an unreadable file must still be
    reported as unreadable, not crash with the missing plugin's ImportError."""
    (tmp_path / "x.jpg").write_bytes(b"this is not an image")
    code = (
        "import sys; from pathlib import Path\n"
        "from odpipe.ultralytics_env import import_ultralytics; import_ultralytics()\n"
        "from odpipe.prepare.images import inspect_image\n"
        "c = inspect_image(Path(sys.argv[1]), 'x.jpg'); print(c.ok, c.problem)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("False not a readable image: cannot identify image file"), proc.stdout
