"""The file formats with one owner each: atomic writes, the dataset manifest and data.yaml."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from odpipe.common.atomic import building_dir, copy_file, replacing, write_text
from odpipe.common.errors import InputError
from odpipe.common.jsonfile import write_json
from odpipe.formats.dataset_manifest import (
    SCHEMA,
    ManifestClass,
    build_manifest,
    image_files,
    prepared_manifest,
    read_manifest,
    write_data_yaml,
    write_manifest,
)


def test_atomic_write_leaves_no_temp_file_and_keeps_the_old_file_on_failure(tmp_path: Path) -> None:
    dest = tmp_path / "sub" / "a.json"
    write_json(dest, {"a": 1})
    assert json.loads(dest.read_text()) == {"a": 1}
    with pytest.raises(RuntimeError), replacing(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert json.loads(dest.read_text()) == {"a": 1}
    copy_file(write_text(tmp_path / "src.txt", "x"), dest)
    assert dest.read_text() == "x"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["a.json"]


def test_building_dir_renames_when_complete_and_cleans_up_on_failure(tmp_path: Path) -> None:
    final = tmp_path / "datasets" / "abc"
    with pytest.raises(RuntimeError), building_dir(final, "done") as tmp:
        (tmp / "part").write_text("1")
        raise RuntimeError("killed")
    assert list(final.parent.iterdir()) == []
    with building_dir(final, "done") as tmp:
        (tmp / "done").write_text("1")
    with building_dir(final, "done") as tmp:  # someone else finished the same folder first: theirs is kept
        (tmp / "done").write_text("2")
    assert (final / "done").read_text() == "1" and [p.name for p in final.parent.iterdir()] == ["abc"]


def test_manifest_round_trip_and_refusals(tmp_path: Path) -> None:
    counts = {"train": {"images": 2}, "val": {"images": 1}}
    manifest = build_manifest(
        "abc", [ManifestClass("cat", 17)], counts, "datasets/abc", {"seed": 0}, {"images": "x"}, {"odpipe": "0"}
    )
    assert manifest["schema"] == SCHEMA
    assert manifest["classes"] == [{"index": 0, "name": "cat", "coco_id": 17}]
    assert manifest["paths"] == {
        "root": "datasets/abc",
        "data_yaml": "datasets/abc/data.yaml",
        "train_images": "datasets/abc/images/train",
        "val_images": "datasets/abc/images/val",
        "val_coco": "datasets/abc/val_coco.json",
    }
    write_manifest(tmp_path / "dataset.json", manifest)
    assert read_manifest(tmp_path / "dataset.json") == manifest
    assert prepared_manifest(tmp_path) == manifest and prepared_manifest(tmp_path / "none") is None
    write_json(tmp_path / "other.json", {**manifest, "schema": "x"})
    with pytest.raises(InputError, match="field 'schema'"):
        read_manifest(tmp_path / "other.json")
    write_json(tmp_path / "short.json", {"schema": SCHEMA})
    with pytest.raises(InputError, match="lacks field 'dataset_id'"):
        read_manifest(tmp_path / "short.json")


def test_data_yaml_and_image_listing(tmp_path: Path) -> None:
    path = write_data_yaml(tmp_path / "data.yaml", Path("/data/datasets/abc"), ["train", "val"], {0: "cat"})
    assert path.read_text().splitlines()[0] == "path: /data/datasets/abc"
    assert yaml.safe_load(path.read_text()) == {
        "path": "/data/datasets/abc",
        "train": "images/train",
        "val": "images/val",
        "names": {0: "cat"},
    }
    (tmp_path / "b.JPG").write_bytes(b"")
    (tmp_path / "a.png").write_bytes(b"")
    assert [p.name for p in image_files(tmp_path)] == ["a.png", "b.JPG"]
    assert image_files(tmp_path / "missing") == []


def test_model_card_schema_and_fields() -> None:
    from odpipe.formats import model_card

    card = model_card.build_card(
        dataset_id="abc",
        classes=[],
        metrics={"onnx": {"AP": 0.25}},
        parity={},
        latency={},
        precision="fp32",
        quantization=None,
        export={},
        training={},
        gate={},
        workflow={},
        sha256="0" * 64,
        options={},
    )
    assert card["schema"] == model_card.SCHEMA == "odpipe.model-card/v1"
    assert card[model_card.DATASET_ID] == "abc" and model_card.onnx_map50_95(card) == 0.25
    assert list(card)[:3] == ["schema", "created_at", "dataset_id"] and list(card)[-2:] == ["sha256", "options"]
