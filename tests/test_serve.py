"""`odpipe serve` against a real SeaweedFS S3 repository holding a model the real pipeline trained and
published; every call goes through tritonclient's HTTP client."""

from __future__ import annotations

import ast
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
from conftest import drop_bucket  # noqa: E402
from odpipe.common.storage import Storage  # noqa: E402
from odpipe.export.inference import decode, preprocess, unletterbox  # noqa: E402
from odpipe.export.repository import ModelRepository  # noqa: E402
from odpipe.local.s3server import S3Server  # noqa: E402
from odpipe.serve.launch import ServeProcess, http_status  # noqa: E402
from test_export_deploy import _cli  # noqa: E402
from triton_proto import parse_config_pbtxt  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

NAME = "shapes"
BODY_LIMIT = 2_000_000


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
def published(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    from odpipe.coco.synthetic import make_dataset

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
    yield result
    drop_bucket(s3_server, bucket)


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
    return repo.publish(
        name, published.onnx, card, f'name: "{name}"\n', {"test": "serve"}, sha256=card["sha256"]
    ).version


def _server(published: Published, names: list[str], tmp_path: Path, *args: str) -> ServeProcess:
    return ServeProcess(
        names, env=published.env, args=["--poll-interval", "0.5", *args], log_path=tmp_path / "serve.log"
    )


@pytest.fixture
def server(published: Published, tmp_path: Path) -> Iterator[ServeProcess]:
    with _server(published, [NAME], tmp_path, "--max-body-bytes", str(BODY_LIMIT)) as proc:
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
    assert [o["name"] for o in meta["outputs"]] == ["boxes", "scores", "category_ids", "num_detections", "output0"]
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
        _, t_scores, t_ids = _detections(_infer(client, NAME, [item], parameters={"confidence": 0.001}))
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


def test_triton_config_equals_the_repository_config_pbtxt(server: ServeProcess, published: Published) -> None:
    text = published.storage().get_bytes(published.bucket, f"{NAME}/config.pbtxt").decode()
    parsed = parse_config_pbtxt(text)
    client = httpclient.InferenceServerClient(server.url)
    assert client.get_model_config(NAME) == parsed == client.get_model_config(NAME, "1")
    assert parsed["input"][0]["name"] == "images" and parsed["output"][0]["name"] == "output0"
    names = ast.literal_eval(ast.literal_eval(parsed["parameters"]["metadata"]["string_value"])["names"])
    card = published.repository().card(NAME, 1)
    assert names == {c["index"]: c["name"] for c in card["classes"]}
    assert _status(lambda: client.get_model_config("nope"))[0] == "404"


def test_ultralytics_triton_client_runs_unchanged(server: ServeProcess, published: Published) -> None:
    """Ultralytics' Triton client (`YOLO("http://host:port/<model>")`, ultralytics/utils/triton.py), a
    tritonclient program written by others for Triton, unchanged: it reads the config, sends the tensor,
    takes the raw output and decodes it with Ultralytics' own NMS. Its boxes equal export-deploy's decode."""
    from odpipe.ultralytics_env import prepare_offline

    prepare_offline()
    from ultralytics import YOLO

    card = published.repository().card(NAME, 1)
    model = YOLO(f"http://{server.url}/{NAME}", task="detect")
    by_name = {c["name"]: c["coco_id"] for c in card["classes"]}
    compared = 0
    for path in published.images()[:4]:
        imgsz = card["export"]["imgsz"]
        result = model.predict(str(path), imgsz=imgsz, conf=0.001, iou=0.45, max_det=100, verbose=False)[0]
        ref_boxes, ref_scores, ref_ids, _ = _reference(published, path, conf=0.001, iou=0.45)
        order = np.argsort(-result.boxes.conf.numpy(), kind="stable")
        np.testing.assert_allclose(result.boxes.conf.numpy()[order], ref_scores, atol=1e-4)
        np.testing.assert_allclose(result.boxes.xyxy.numpy()[order], ref_boxes, atol=0.05)
        ids = [by_name[result.names[int(c)]] for c in result.boxes.cls.numpy()[order]]
        assert ids == ref_ids.tolist()
        compared += len(ids)
    assert compared > 0, "the tiny model found nothing at confidence 0.001; the comparison compared nothing"


def _wait_in_flight(url: str, count: int = 1, timeout: float = 60) -> None:
    """Until the server has admitted ``count`` inferences (its in-flight gauge): a fixed sleep races a
    loaded CI machine."""
    import urllib.request

    want = f"odpipe_serve_inference_in_flight {float(count)}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"http://{url}/metrics", timeout=10) as response:
            if want in response.read().decode():
                return
        time.sleep(0.05)
    raise AssertionError(f"the server never had {count} inference(s) in flight within {timeout}s")


def _status(call: Any) -> tuple[str, str]:
    with pytest.raises(InferenceServerException) as info:
        call()
    return str(info.value.status()), info.value.message()


def test_bad_input_is_a_4xx_naming_it_and_the_server_stays_up(server: ServeProcess, published: Published) -> None:
    client = httpclient.InferenceServerClient(server.url)
    good = published.images()[0].read_bytes()

    def tensor(shape: list[int], dtype: str = "FP32", fill: float = 0.5) -> Any:
        item = httpclient.InferInput("images", shape, dtype)
        item.set_data_from_numpy(np.full(shape, fill, dtype=np.float32 if dtype == "FP32" else np.int32))
        return item

    def raw(name: str, shape: list[int], dtype: str, data: np.ndarray) -> Any:
        item = httpclient.InferInput(name, shape, dtype)
        item.set_data_from_numpy(data)
        return item

    cases: list[tuple[str, Any, tuple[str, ...]]] = [
        (
            "unknown input",
            lambda: _infer(client, NAME, [raw("picture", [1], "BYTES", np.array([good], dtype=object))]),
            ("400", "picture"),
        ),
        (
            "two inputs",
            lambda: _infer(client, NAME, [_image_input(good), tensor([1, 3, 96, 96])]),
            ("400", "exactly one"),
        ),
        (
            "wrong dtype",
            lambda: _infer(client, NAME, [raw("image", [1], "INT32", np.array([1], dtype=np.int32))]),
            ("400", "image", "INT32", "BYTES"),
        ),
        (
            "wrong tensor dtype",
            lambda: _infer(client, NAME, [tensor([1, 3, 96, 96], "INT32")]),
            ("400", "images", "FP32"),
        ),
        ("wrong channels", lambda: _infer(client, NAME, [tensor([1, 4, 96, 96])]), ("400", "images", "[1, 4, 96, 96]")),
        ("not a stride multiple", lambda: _infer(client, NAME, [tensor([1, 3, 100, 100])]), ("400", "multiples of 32")),
        ("NaN", lambda: _infer(client, NAME, [tensor([1, 3, 96, 96], fill=float("nan"))]), ("400", "NaN")),
        ("too big a batch", lambda: _infer(client, NAME, [_image_input(*[good] * 9)]), ("400", "--max-batch 8")),
        (
            "not an image",
            lambda: _infer(client, NAME, [_image_input(b"hello, not a picture")]),
            ("400", "image", "not a JPEG or PNG"),
        ),
        (
            "truncated JPEG",
            lambda: _infer(client, NAME, [_image_input(good[: len(good) // 2])]),
            ("400", "image'[0]", "truncated JPEG"),
        ),
        ("empty bytes", lambda: _infer(client, NAME, [_image_input(b"")]), ("400", "empty")),
        (
            "bad parameter",
            lambda: _infer(client, NAME, [_image_input(good)], parameters={"confidence": 2}),
            ("400", "confidence"),
        ),
        (
            "oversized body",
            lambda: _infer(client, NAME, [_image_input(os.urandom(BODY_LIMIT + 1))]),
            ("413", "--max-body-bytes"),
        ),
        ("unknown model", lambda: _infer(client, "nope", [_image_input(good)]), ("404", "nope")),
        (
            "unknown version",
            lambda: _infer(client, NAME, [_image_input(good)], model_version="9"),
            ("404", "version 9", "loaded versions: [1]"),
        ),
        ("version not a number", lambda: _infer(client, NAME, [_image_input(good)], model_version="x"), ("404", "'x'")),
        ("metadata of an unknown model", lambda: client.get_model_metadata("nope"), ("404", "nope")),
        (
            "unknown output",
            lambda: client.infer(NAME, [_image_input(good)], outputs=[httpclient.InferRequestedOutput("logits")]),
            ("400", "unknown output 'logits'", "output0"),
        ),
        (
            "raw output for image bytes",
            lambda: client.infer(NAME, [_image_input(good)], outputs=[httpclient.InferRequestedOutput("output0")]),
            ("400", "output0", "'images' tensor input only"),
        ),
    ]
    for label, call, expected in cases:
        status, message = _status(call)
        assert status == expected[0], f"{label}: {status} {message}"
        for part in expected[1:]:
            assert part in message, f"{label}: {part!r} not in {message!r}"
        result = _infer(client, NAME, [_image_input(good)])
        assert result.as_numpy("num_detections").shape == (1,), label
    assert client.is_server_ready()
    assert server.proc is not None and server.proc.poll() is None


def test_metrics(server: ServeProcess, published: Published) -> None:
    import urllib.request

    client = httpclient.InferenceServerClient(server.url)
    _infer(client, NAME, [_image_input(published.images()[0].read_bytes())])
    _status(lambda: _infer(client, NAME, [_image_input(b"junk")]))
    with urllib.request.urlopen(f"http://{server.url}/metrics", timeout=10) as response:
        text = response.read().decode()
    assert f'odpipe_serve_requests_total{{code="200",endpoint="infer",model="{NAME}"}}' in text
    assert f'odpipe_serve_request_errors_total{{code="400",endpoint="infer",model="{NAME}"}}' in text
    assert f'odpipe_serve_request_duration_seconds_bucket{{endpoint="infer",le="0.1",model="{NAME}"}}' in text
    assert f'odpipe_serve_loaded_versions{{model="{NAME}"}} 1.0' in text
    assert f'odpipe_serve_model_version_loaded{{model="{NAME}",version="1"}} 1.0' in text
    assert "request_predict_seconds_bucket" in text  # kserve's own


def test_version_policy_ready_and_deleted_versions(published: Published, model_name: str, tmp_path: Path) -> None:
    repo = published.repository()
    empty = f"e{uuid.uuid4().hex[:8]}"
    with _server(published, [empty], tmp_path) as proc:
        client = httpclient.InferenceServerClient(proc.url)
        deadline = time.monotonic() + 60
        while http_status(f"http://{proc.url}/v2/health/live") != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.is_server_live() and not client.is_server_ready(), "ready before any model is loaded"
        status, message = _status(lambda: client.get_model_metadata(empty))
        assert status == "404" and "no models yet" in message
        card = repo.card(NAME, 1)
        repo.publish(empty, published.onnx, card, "", {"test": "serve"}, sha256=card["sha256"])
        proc.wait_ready(60)
        assert client.get_model_metadata(empty)["versions"] == ["1"]

    assert _publish_again(published, model_name) == 2
    assert _publish_again(published, model_name) == 3
    image = [_image_input(published.images()[0].read_bytes())]
    with _server(published, [model_name], tmp_path, "--version", "1", "--version", "3") as proc:
        proc.wait_ready()
        client = httpclient.InferenceServerClient(proc.url)
        assert client.get_model_metadata(model_name)["versions"] == ["1", "3"]
        assert _infer(client, model_name, image).get_response()["model_version"] == "3"
        assert _infer(client, model_name, image, model_version="1").get_response()["model_version"] == "1"
        assert _status(lambda: _infer(client, model_name, image, model_version="2"))[0] == "404"
        assert not client.is_model_ready(model_name, "2")
    with _server(published, [model_name], tmp_path, "--latest", "2") as proc:
        proc.wait_ready()
        client = httpclient.InferenceServerClient(proc.url)
        assert client.get_model_metadata(model_name)["versions"] == ["2", "3"]
        # deleting version 3 from the repository unloads it; latest 2 is then versions 1 and 2
        storage = published.storage()
        for key in ("model-card.json", "model.onnx"):
            storage.delete(published.bucket, f"{model_name}/3/{key}")
        deadline = time.monotonic() + 60
        while client.get_model_metadata(model_name)["versions"] != ["1", "2"] and time.monotonic() < deadline:
            time.sleep(0.2)
        assert client.get_model_metadata(model_name)["versions"] == ["1", "2"]
        assert _infer(client, model_name, image).get_response()["model_version"] == "2"
        assert not client.is_model_ready(model_name, "3")


def _send_forever(url: str, name: str, image: bytes, stop: Any, results: Any) -> None:
    client = httpclient.InferenceServerClient(url)
    item = _image_input(image)
    while not stop.is_set():
        try:
            version = _infer(client, name, [item]).get_response()["model_version"]
            results.put(("ok", version))
        except Exception as exc:  # every failure is a finding
            results.put(("failed", repr(exc)))


def _runs(versions: list[str]) -> str:
    out: list[str] = []
    for v in versions:
        if not out or not out[-1].startswith(f"v{v}x"):
            out.append(f"v{v}x0")
        count = int(out[-1].split("x")[1]) + 1
        out[-1] = f"v{v}x{count}"
    return " ".join(out)


@pytest.mark.slow
def test_hot_swap_without_a_failed_request(published: Published, model_name: str, tmp_path: Path) -> None:
    with _server(published, [model_name], tmp_path) as proc:
        proc.wait_ready()
        ctx = multiprocessing.get_context("spawn")
        stop, results = ctx.Event(), ctx.Queue()
        sender = ctx.Process(
            target=_send_forever, args=(proc.url, model_name, published.images()[0].read_bytes(), stop, results)
        )
        sender.start()
        seen: list[tuple[str, str]] = []

        def drain_until(version: str, timeout: float) -> None:
            """Read results until this version has answered 20 times since the call began."""
            start, deadline = len(seen), time.monotonic() + timeout
            while time.monotonic() < deadline:
                try:
                    seen.append(results.get(timeout=1))
                except queue.Empty:
                    continue
                if sum(1 for s in seen[start:] if s == ("ok", version)) >= 20:
                    return

        try:
            drain_until("1", 60)
            assert _publish_again(published, model_name) == 2
            drain_until("2", 120)
            # delete version 2: the server goes back to version 1, still without a failed request
            storage = published.storage()
            for key in ("model-card.json", "model.onnx"):
                storage.delete(published.bucket, f"{model_name}/2/{key}")
            seen_before = len(seen)
            drain_until("1", 120)
        finally:
            stop.set()
            sender.join(30)
        while not results.empty():
            seen.append(results.get())
    failed = [s for s in seen if s[0] == "failed"]
    versions = [v for k, v in seen if k == "ok"]
    print(f"hot swap: {len(seen)} requests, {len(failed)} failed, versions served in order: {_runs(versions)}")
    assert not failed, f"{len(failed)} failed of {len(seen)}: {failed[:3]}"
    assert "2" in versions and versions[0] == "1" and versions[-1] == "1", versions[-5:]
    assert "1" in versions[seen_before:]
    first_two = versions.index("2")
    assert set(versions[first_two:seen_before]) == {"2"}, "an old version answered after the swap"


@pytest.mark.slow
def test_eight_clients_for_twenty_seconds(server: ServeProcess, published: Published) -> None:
    images = [p.read_bytes() for p in published.images()]
    errors: list[str] = []
    counts = [0] * 8
    stop = threading.Event()

    def client_loop(i: int) -> None:
        client = httpclient.InferenceServerClient(server.url)
        n = 0
        while not stop.is_set():
            try:
                result = _infer(client, NAME, [_image_input(images[(i + n) % len(images)])])
                assert result.as_numpy("num_detections").shape == (1,)
                counts[i] += 1
            except Exception as exc:
                errors.append(repr(exc))
            n += 1

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(20)
    stop.set()
    for t in threads:
        t.join(30)
    print(f"8 clients, 20 s: {sum(counts)} requests ({sum(counts) / 20:.1f}/s), {len(errors)} errors")
    assert not errors, f"{len(errors)} errors: {errors[:3]}"
    assert all(c > 0 for c in counts), counts


def test_sigterm_drains_requests_in_flight(published: Published, tmp_path: Path) -> None:
    with _server(published, [NAME], tmp_path, "--max-body-bytes", str(64 * 1024 * 1024)) as proc:
        proc.wait_ready()
        client = httpclient.InferenceServerClient(proc.url)
        tensor = np.random.default_rng(0).random((2, 3, 1024, 1024), dtype=np.float32)
        item = httpclient.InferInput("images", list(tensor.shape), "FP32")
        item.set_data_from_numpy(tensor)
        pending = client.async_infer(NAME, [item])
        _wait_in_flight(proc.url)
        assert proc.proc is not None
        proc.proc.send_signal(signal.SIGTERM)
        result = pending.get_result()
        assert result.as_numpy("num_detections").shape == (2,)
        assert proc.proc.wait(60) == 0
    assert "draining" in (tmp_path / "serve.log").read_text()


def test_serve_imports_neither_torch_nor_ultralytics() -> None:
    import subprocess
    import sys

    code = (
        "import sys, odpipe.serve.server, odpipe.serve.launch, odpipe.cli; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics', 'torchvision')); "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_version_policy_selects_like_triton() -> None:
    from odpipe.serve.policy import VersionPolicy

    assert VersionPolicy().select([1, 2, 5]) == {5}
    assert VersionPolicy(latest=2).select([5, 1, 2]) == {2, 5}
    assert VersionPolicy(specific=(1, 7)).select([1, 2, 5]) == {1}
    assert VersionPolicy().select([]) == set()
    with pytest.raises(ValueError, match="--latest 0"):
        VersionPolicy(latest=0)


def test_truncated_and_foreign_bytes_are_named() -> None:
    import cv2
    from odpipe.serve import images

    _, encoded = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8))
    data = encoded.tobytes()
    assert images.decode(data).shape == (64, 80, 3)
    with pytest.raises(images.BadImage, match="truncated JPEG"):
        images.decode(data[: len(data) - 200])
    _, png = cv2.imencode(".png", np.zeros((16, 16, 3), dtype=np.uint8))
    with pytest.raises(images.BadImage, match="PNG"):
        images.decode(png.tobytes()[:-30])
    with pytest.raises(images.BadImage, match="not a JPEG or PNG"):
        images.decode(b"GIF89a....")


def test_concurrency_limit_refuses_with_503_and_debug_logs_one_line_per_request(
    published: Published, tmp_path: Path
) -> None:
    args = ("--max-concurrency", "1", "--max-queue", "0", "--max-body-bytes", str(64 * 1024 * 1024))
    with _server(published, [NAME], tmp_path, *args, "--log-level", "debug") as proc:
        proc.wait_ready()
        client = httpclient.InferenceServerClient(proc.url, concurrency=2)
        tensor = np.random.default_rng(0).random((4, 3, 1024, 1024), dtype=np.float32)
        item = httpclient.InferInput("images", list(tensor.shape), "FP32")
        item.set_data_from_numpy(tensor)
        slow = client.async_infer(NAME, [item])
        _wait_in_flight(proc.url)
        status, message = _status(lambda: _infer(client, NAME, [_image_input(published.images()[0].read_bytes())]))
        assert status == "503" and "--max-concurrency" in message
        assert slow.get_result().as_numpy("num_detections").shape == (4,)
        _infer(client, NAME, [_image_input(published.images()[0].read_bytes())])
    log = (tmp_path / "serve.log").read_text()
    assert f"POST /v2/models/{NAME}/infer 503" in log and f"POST /v2/models/{NAME}/infer 200" in log
