"""prepare on real material (bccd, datumaro), from disk and from S3, idempotence and crash safety."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import shared_testdata
from helpers import odpipe
from odpipe.common.storage import Storage

BCCD_OUT = ("bccd", "voc2coco", "sample", "outputs")
BCCD_IMAGES = ("bccd", "BCCD_Dataset", "BCCD", "JPEGImages")


def test_bccd_three_split_files(tmp_path: Path) -> None:
    files = [str(shared_testdata(*BCCD_OUT, f"bccd_{s}_cocoformat.json")) for s in ("train", "val", "test")]
    images = shared_testdata(*BCCD_IMAGES)
    run = odpipe(
        tmp_path,
        "prepare",
        "--annotations",
        files[0],
        "--val-annotations",
        files[1],
        "--test-annotations",
        files[2],
        "--images",
        str(images),
    )
    assert run.exit_code == 0, run.output
    m = run.manifest()
    assert {s: (c["images"], c["boxes"]) for s, c in m["splits"].items()} == {
        "train": (205, 2805),
        "val": (87, 1138),
        "test": (72, 945),
    }
    assert [(c["name"], c["coco_id"]) for c in m["classes"]] == [
        ("RBC", 1),
        ("WBC", 2),
        ("Platelets", 3),
    ]
    assert run.report()["warnings"] == 0
    root = tmp_path / "data" / m["paths"]["root"]
    val = json.loads((root / "val_coco.json").read_text())
    assert len(val["images"]) == 87 and len(val["annotations"]) == 1138
    assert {a["category_id"] for a in val["annotations"]} == {1, 2, 3}
    assert len(list((root / "labels" / "train").glob("*.txt"))) == 205
    assert (tmp_path / "artifacts/outputs/params/dataset-id").read_text() == m["dataset_id"]


@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_bccd_each_split_file_alone(tmp_path: Path, split: str) -> None:
    expected = {"train": (205, 2805), "val": (87, 1138), "test": (72, 945)}[split]
    ann = shared_testdata(*BCCD_OUT, f"bccd_{split}_cocoformat.json")
    run = odpipe(
        tmp_path,
        "prepare",
        "--annotations",
        str(ann),
        "--images",
        str(shared_testdata(*BCCD_IMAGES)),
    )
    assert run.exit_code == 0, run.output
    splits = run.manifest()["splits"]
    assert sum(c["images"] for c in splits.values()) == expected[0]
    assert sum(c["boxes"] for c in splits.values()) == expected[1]


def _read_labels(path: Path) -> list[list[float]]:
    # datumaro's fixture files have no trailing newline; one box per file here
    return [[float(v) for v in line.split()] for line in path.read_text().splitlines() if line.strip()]


def test_roboflow_coco_gives_roboflow_yolo_labels(tmp_path: Path) -> None:
    base = shared_testdata("datumaro", "tests", "assets", "roboflow_dataset")
    # Roboflow's export trains on iscrowd boxes too (its val label has one); odpipe's default keeps them for
    # evaluation only, as COCO and Ultralytics' convert_coco do, and --crowd-as-target reproduces Roboflow.
    run = odpipe(
        tmp_path,
        "prepare",
        "--annotations",
        str(base / "coco/train/_annotations.coco.json"),
        "--val-annotations",
        str(base / "coco/val/_annotations.coco.json"),
        "--images",
        str(base / "coco"),
        "--crowd-as-target",
    )
    assert run.exit_code == 0, run.output
    root = tmp_path / "data" / run.manifest()["paths"]["root"]
    pairs = 0
    for split, theirs in (("train", "train"), ("val", "val")):
        for expected in sorted((base / "yolo" / theirs / "labels").glob("*.txt")):
            ours = root / "labels" / split / f"{theirs}__{expected.name}"
            got, want = _read_labels(ours), _read_labels(expected)
            assert len(got) == len(want)
            for g, w in zip(got, want, strict=True):
                assert g[0] == w[0]
                assert all(abs(a - b) <= 1e-6 for a, b in zip(g[1:], w[1:], strict=True)), (ours, g, w)
            pairs += 1
    assert pairs == 3
    default = odpipe(
        tmp_path / "default",
        "prepare",
        "--annotations",
        str(base / "coco/train/_annotations.coco.json"),
        "--val-annotations",
        str(base / "coco/val/_annotations.coco.json"),
        "--images",
        str(base / "coco"),
    )
    assert default.exit_code == 0
    assert default.manifest()["splits"]["val"] | {"per_class": None} == {
        "images": 1,
        "boxes": 1,
        "crowd": 1,
        "background": 0,
        "per_class": None,
    }


def test_same_dataset_from_disk_and_from_s3_gets_same_id(tmp_path: Path, shapes: Path, s3: Storage) -> None:
    bucket = os.environ["ODPIPE_DATASETS_BUCKET"]
    for p in (shapes / "images").iterdir():
        s3.upload_file(p, bucket, f"shapes/images/{p.name}")
    s3.upload_file(shapes / "annotations.json", bucket, "shapes/annotations.json")
    disk = odpipe(
        tmp_path / "disk",
        "prepare",
        "--annotations",
        str(shapes / "annotations.json"),
        "--images",
        str(shapes / "images"),
    )
    remote = odpipe(
        tmp_path / "s3",
        "prepare",
        "--annotations",
        f"s3://{bucket}/shapes/annotations.json",
        "--images",
        f"s3://{bucket}/shapes/images",
    )
    assert disk.exit_code == 0 and remote.exit_code == 0, remote.output
    assert disk.manifest()["dataset_id"] == remote.manifest()["dataset_id"]
    assert "12 downloaded, 0 unchanged" in remote.output
    # incremental: a second sync downloads only what changed
    changed = min((shapes / "images").iterdir())
    s3.upload_file(changed, bucket, "shapes/images/extra.jpg")
    again = odpipe(
        tmp_path / "s3",
        "prepare",
        "--annotations",
        f"s3://{bucket}/shapes/annotations.json",
        "--images",
        f"s3://{bucket}/shapes/images",
    )
    assert again.exit_code == 0 and "1 downloaded, 12 unchanged" in again.output
    assert "already prepared" in again.output


def test_missing_bucket_and_unreachable_s3_name_endpoint_and_bucket(
    tmp_path: Path, shapes: Path, s3: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = odpipe(
        tmp_path,
        "prepare",
        "--annotations",
        str(shapes / "annotations.json"),
        "--images",
        "s3://no-such-bucket-here/x",
    )
    assert run.exit_code == 3 and "no-such-bucket-here" in run.output and "does not exist" in run.output
    run = odpipe(
        tmp_path,
        "prepare",
        "--annotations",
        str(shapes / "annotations.json"),
        "--images",
        "s3://b/x",
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"},
    )
    assert run.exit_code == 3 and "127.0.0.1:9" in run.output and "unreachable" in run.output


def test_same_input_reused_and_parameters_change_the_id(tmp_path: Path, shapes: Path) -> None:
    args = [
        "prepare",
        "--annotations",
        str(shapes / "annotations.json"),
        "--images",
        str(shapes / "images"),
    ]
    first = odpipe(tmp_path, *args)
    first_manifest = first.manifest()  # read now: every run writes the same outputs folder
    second = odpipe(tmp_path, *args)
    assert first.exit_code == second.exit_code == 0
    assert "already prepared" in second.output
    assert second.manifest() == first_manifest
    other = odpipe(tmp_path, *args, "--seed", "7")
    assert other.manifest()["dataset_id"] != first_manifest["dataset_id"]
    assert len([p for p in (tmp_path / "data/datasets").iterdir() if not p.name.startswith(".")]) == 2


def test_killed_run_leaves_nothing_taken_for_finished(tmp_path: Path) -> None:
    from odpipe.coco.synthetic import make_dataset

    src = tmp_path / "src"
    make_dataset(src, images=1500, size=64, seed=3)
    env = {**os.environ, "ODPIPE_ROOT": str(tmp_path / "root")}
    args = [
        sys.executable,
        "-m",
        "odpipe.cli",
        "prepare",
        "--annotations",
        str(src / "annotations.json"),
        "--images",
        str(src / "images"),
        "--link-mode",
        "copy",
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    datasets = tmp_path / "root/data/datasets"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(datasets.glob(".tmp-*/images")):
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not [p for p in datasets.iterdir() if not p.name.startswith(".tmp-")], "a half dataset looks finished"
    done = subprocess.run(args, check=False, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "root/artifacts/outputs/dataset.json").read_text())
    final = datasets / manifest["dataset_id"]
    assert len(list((final / "labels").rglob("*.txt"))) == 1500


def test_val_list_and_augmentation(tmp_path: Path, shapes: Path) -> None:
    val_list = tmp_path / "val.txt"
    val_list.write_text("# two images by stem, one by id\nshape_00001\nshape_00002.jpg\n3\n")
    aug = tmp_path / "aug.yaml"
    aug.write_text("copies: 2\ntransforms:\n  - {name: HorizontalFlip, p: 1.0}\n")
    run = odpipe(
        tmp_path / "r",
        "prepare",
        "--annotations",
        str(shapes / "annotations.json"),
        "--images",
        str(shapes / "images"),
        "--val-list",
        str(val_list),
        "--augment",
        str(aug),
    )
    assert run.exit_code == 0, run.output
    m = run.manifest()
    assert m["splits"]["val"]["images"] == 3
    assert m["splits"]["train"]["augmented_images"] == 2 * 9
    root = tmp_path / "r/data" / m["paths"]["root"]
    orig = (root / "labels/train/shape_00004.txt").read_text().split()
    flipped = (root / "labels/train/shape_00004__aug0.txt").read_text().split()
    assert orig[0] == flipped[0] and abs(float(flipped[1]) - (1 - float(orig[1]))) < 1e-3
    bad = tmp_path / "bad.yaml"
    bad.write_text("transforms:\n  - {name: NoSuchTransform}\n")
    run = odpipe(
        tmp_path / "b",
        "prepare",
        "--annotations",
        str(shapes / "annotations.json"),
        "--images",
        str(shapes / "images"),
        "--augment",
        str(bad),
    )
    assert run.exit_code == 2 and "NoSuchTransform" in run.output and "bad.yaml" in run.output


def test_background_images_kept_up_to_the_ratio(tmp_path: Path, shapes: Path) -> None:
    from PIL import Image

    doc = json.loads((shapes / "annotations.json").read_text())
    images = tmp_path / "imgs"
    shutil.copytree(shapes / "images", images)
    for i in range(6):  # six images without boxes
        Image.new("RGB", (64, 64), (200, 200, 200)).save(images / f"empty_{i}.jpg")
        doc["images"].append({"id": 1000 + i, "file_name": f"empty_{i}.jpg", "width": 64, "height": 64})
    ann = tmp_path / "ann.json"
    ann.write_text(json.dumps(doc))
    run = odpipe(
        tmp_path / "r", "prepare", "--annotations", str(ann), "--images", str(images), "--background-ratio", "0.25"
    )
    assert run.exit_code == 0, run.output
    with_boxes = len({a["image_id"] for a in doc["annotations"]})
    kept = sum(s["background"] for s in run.manifest()["splits"].values())
    assert kept == int(0.25 * with_boxes)
    assert run.codes()["image-background-dropped"]["count"] == 6 - kept


def test_images_path_may_not_leave_the_data_volume(tmp_path: Path, shapes: Path) -> None:
    run = odpipe(tmp_path, "prepare", "--annotations", str(shapes / "annotations.json"), "--images-path", "../../etc")
    assert run.exit_code == 2 and "leaves the data volume" in run.output
