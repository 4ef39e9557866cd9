"""`odpipe serve` against a real SeaweedFS S3 repository holding a model the real pipeline trained and
published; every call goes through tritonclient's HTTP client."""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("kserve", reason="odpipe serve needs the [serve] extra (kserve)")
httpclient = pytest.importorskip("tritonclient.http", reason="the tests call the server with tritonclient[http]")
from odpipe.export.inference import decode, preprocess, unletterbox  # noqa: E402
from odpipe.export.repository import ModelRepository  # noqa: E402
from odpipe.local.s3server import S3Server  # noqa: E402
from odpipe.serve.launch import ServeProcess  # noqa: E402
from odpipe.storage import Storage  # noqa: E402
from test_export_deploy import _cli  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

NAME = "shapes"


# -- the model: prepare -> train -> export-deploy, once per session ----------------------------------
class Published:
    def __init__(self, env: dict[str, str], bucket: str, root: Path, source: Path) -> None:
        self.env, self.bucket, self.root, self.source = env, bucket, root, source

    @property
    def onnx(self) -> Path:
        return self.root / "artifacts/outputs/model.onnx"

    def storage(self) -> Storage:
        saved = {k: os.environ.get(k) for k in self.env}
        os.environ.update(self.env)
        try:
            return Storage()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

    def repository(self) -> ModelRepository:
        return ModelRepository(self.storage(), self.bucket)

    def images(self) -> list[Path]:
        return sorted((self.source / "images").glob("*.jpg"))


@pytest.fixture(scope="session")
def published(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Published:
    from odpipe.synthetic import make_dataset

    bucket = f"models-serve-{uuid.uuid4().hex[:8]}"
    env = {**s3_server.env(), "ODPIPE_MODELS_BUCKET": bucket}
    src = tmp_path_factory.mktemp("serve-src")
    make_dataset(src, images=12, size=96, seed=4)
    root = tmp_path_factory.mktemp("serve-root")
    code, out = _cli(root, "prepare", "--annotations", str(src / "annotations.json"), "--images", str(src / "images"))
    assert code == 0, out
    outputs, inputs = root / "artifacts/outputs", root / "artifacts/inputs"
    inputs.mkdir(parents=True)
    (inputs / "dataset.json").write_bytes((outputs / "dataset.json").read_bytes())
    train = ["train", "--epochs", "6", "--imgsz", "96", "--batch", "4", "--workers", "0", "--device", "cpu"]
    code, out = _cli(root, *train, "--run-id", "serve")
    assert code == 0, out
    for name in ("best.pt", "metrics.json"):
        (inputs / name).write_bytes((outputs / name).read_bytes())
    result = Published(env, bucket, root, src)
    result.storage().ensure_bucket(bucket)
    code, out = _cli(root, "export-deploy", "--model-name", NAME, env=env)
    assert code == 0 and f"published {NAME} version 1" in out, out
    return result


@pytest.fixture
def model_name(published: Published) -> Iterator[str]:
    """A fresh model name holding a copy of the published version 1 (tests that change versions)."""
    name = f"m{uuid.uuid4().hex[:8]}"
    repo = published.repository()
    card = repo.card(NAME, 1)
    config = published.storage().get_bytes(published.bucket, f"{NAME}/config.pbtxt").decode()
    repo.publish(name, published.onnx, card, config.replace(NAME, name), {"test": "serve"}, sha256=card["sha256"])
    yield name


def _publish_again(published: Published, name: str) -> int:
    repo = published.repository()
    card = repo.card(name, max(repo.deployed(name)))
    return repo.publish(name, published.onnx, card, f'name: "{name}"\n', {"test": "serve"}, sha256=card["sha256"]).version


def _server(published: Published, names: list[str], tmp_path: Path, *args: str) -> ServeProcess:
    return ServeProcess(
        names, env=published.env, args=["--poll-interval", "0.5", *args], log_path=tmp_path / "serve.log"
    )


@pytest.fixture
def server(published: Published, tmp_path: Path) -> Iterator[ServeProcess]:
    with _server(published, [NAME], tmp_path) as proc:
        proc.wait_ready()
        yield proc


# -- client helpers -----------------------------------------------------------------------------------
def _image_input(*encoded: bytes) -> Any:
    item = httpclient.InferInput("image", [len(encoded)], "BYTES")
    item.set_data_from_numpy(np.array(list(encoded), dtype=np.object_), binary_data=True)
    return item


def _infer(client: Any, name: str, inputs: list[Any], **kwargs: Any) -> Any:
    outputs = [httpclient.InferRequestedOutput(n) for n in ("boxes", "scores", "category_ids", "num_detections")]
    return client.infer(name, inputs, outputs=outputs, **kwargs)


def _detections(result: Any, item: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    k = int(result.as_numpy("num_detections")[item])
    return (
        result.as_numpy("boxes")[item, :k],
        result.as_numpy("scores")[item, :k],
        result.as_numpy("category_ids")[item, :k],
    )


def _reference(published: Published, path: Path, conf: float, iou: float) -> tuple[np.ndarray, ...]:
    """export-deploy's onnxruntime decode of the same image, with the shared functions."""
    from odpipe.export.inference import OnnxDetector

    card = published.repository().card(NAME, 1)
    detector = OnnxDetector(published.onnx)
    tensor, lb, shape = preprocess(path, card["export"]["imgsz"])
    boxes, scores, cls = decode(detector.raw(tensor)[0], conf=conf, iou=iou, max_det=100)
    coco = np.asarray([c["coco_id"] for c in sorted(card["classes"], key=lambda c: c["index"])])
    return unletterbox(boxes, lb, shape), scores, coco[cls], tensor


# -- tests --------------------------------------------------------------------------------------------
def test_health_metadata_and_infer_match_export_decode(server: ServeProcess, published: Published) -> None:
    client = httpclient.InferenceServerClient(server.url)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready(NAME) and client.is_model_ready(NAME, "1")
    meta = client.get_model_metadata(NAME)
    assert meta["name"] == NAME and meta["versions"] == ["1"] and meta["platform"] == "onnxruntime_onnx"
    assert {i["name"]: i["datatype"] for i in meta["inputs"]} == {"image": "BYTES", "images": "FP32"}
    assert [o["name"] for o in meta["outputs"]] == ["boxes", "scores", "category_ids", "num_detections"]
    assert client.get_model_metadata(NAME, "1")["versions"] == ["1"]

    compared = 0
    for path in published.images()[:4]:
        ref_boxes, ref_scores, ref_ids, tensor = _reference(published, path, conf=0.001, iou=0.45)
        result = _infer(client, NAME, [_image_input(path.read_bytes())], parameters={"confidence": 0.001})
        assert result.get_response()["model_version"] == "1"
        boxes, scores, ids = _detections(result)
        np.testing.assert_allclose(boxes, ref_boxes, atol=1e-3)
        np.testing.assert_allclose(scores, ref_scores, atol=1e-5)
        np.testing.assert_array_equal(ids, ref_ids)
        assert set(ids.tolist()) <= {1, 2, 3}
        compared += len(scores)
        # the exported tensor itself: detections in the tensor's pixels (letterboxed), same scores
        item = httpclient.InferInput("images", list(tensor.shape), "FP32")
        item.set_data_from_numpy(tensor, binary_data=True)
        t_boxes, t_scores, t_ids = _detections(_infer(client, NAME, [item], parameters={"confidence": 0.001}))
        np.testing.assert_allclose(t_scores, ref_scores, atol=1e-5)
        np.testing.assert_array_equal(t_ids, ref_ids)
    assert compared > 0, "the tiny model found nothing at confidence 0.001; the comparison compared nothing"

    # a batch of two images; the versioned route; the serving default threshold keeps fewer boxes
    two = [p.read_bytes() for p in published.images()[:2]]
    batch = _infer(client, NAME, [_image_input(*two)], model_version="1", parameters={"confidence": 0.001})
    assert batch.as_numpy("num_detections").shape == (2,)
    single = _detections(_infer(client, NAME, [_image_input(two[1])], parameters={"confidence": 0.001}))
    np.testing.assert_allclose(_detections(batch, 1)[1], single[1], atol=1e-5)
    default = _infer(client, NAME, [_image_input(two[0])])
    assert int(default.as_numpy("num_detections")[0]) <= int(batch.as_numpy("num_detections")[0])
