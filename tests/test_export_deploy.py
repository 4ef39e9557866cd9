"""export-deploy against the real SeaweedFS S3 server: end to end, gate, concurrency, bad input.

Every test that needs the trained model is slow; the concurrent-publish test is not (no training)."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest
from odpipe.common.storage import Storage
from odpipe.export.repository import ModelRepository
from odpipe.local.s3server import S3Server
from report_check import check_evaluation_report, check_model_report


def _cli(root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    full = {**os.environ, "ODPIPE_ROOT": str(root), "ODPIPE_SCRATCH": str(root / "scratch"), **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "odpipe.cli", *args], env=full, capture_output=True, text=True, check=False, timeout=600
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """prepare -> train (2 epochs, CPU) on synthetic data; returns the root holding the artifacts."""
    from odpipe.coco.synthetic import make_dataset

    src = tmp_path_factory.mktemp("src")
    make_dataset(src, images=12, size=64, seed=4)
    root = tmp_path_factory.mktemp("root")
    code, out = _cli(root, "prepare", "--annotations", str(src / "annotations.json"), "--images", str(src / "images"))
    assert code == 0, out
    outputs = root / "artifacts/outputs"
    inputs = root / "artifacts/inputs"
    inputs.mkdir(parents=True)
    (inputs / "dataset.json").write_bytes((outputs / "dataset.json").read_bytes())
    code, out = _cli(
        root,
        "train",
        "--epochs",
        "2",
        "--imgsz",
        "64",
        "--batch",
        "4",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--run-id",
        "e2e",
    )
    assert code == 0, out
    for name in ("best.pt", "metrics.json"):
        (inputs / name).write_bytes((outputs / name).read_bytes())
    return root


def _objects(s3: Storage, bucket: str) -> list[str]:
    return sorted(o.key for o in s3.list(bucket))


@pytest.mark.slow
def test_end_to_end_publish_and_gate(trained: Path, s3: Storage) -> None:
    bucket = os.environ["ODPIPE_MODELS_BUCKET"]
    code, out = _cli(
        trained,
        "export-deploy",
        "--model-name",
        "shapes",
        "--workflow-name",
        "wf-1",
        "--workflow-uid",
        "uid-1",
        env=dict(os.environ),
    )
    assert code == 0, out
    assert "onnx.checker full_check passed" in out and "published shapes version 1" in out
    outputs = trained / "artifacts/outputs"
    assert (outputs / "params/model-version").read_text() == "1"
    card = json.loads((outputs / "model-card.json").read_text())
    assert card["version"] == 1 and card["name"] == "shapes" and card["workflow"] == {"name": "wf-1", "uid": "uid-1"}
    assert abs(card["parity"]["map50_95"]["delta"]) <= 0.01
    assert card["parity"]["tensor"]["max_abs_score"] < 1e-3
    assert card["latency"]["onnxruntime_ms"] > 0 and card["latency"]["pytorch_ms"] > 0
    assert card["export"]["nodes_after_onnxsim"] < card["export"]["nodes_before_onnxsim"]
    assert card["export"]["graph_passes"] == {"dfl_softmax_last_axis": 1, "split_conv_silu": 9}
    assert card["precision"] == "fp32" and card["quantization"] is None
    assert card["latency"]["threads"] >= 1 and card["latency"]["ratio"] > 0
    assert [c["coco_id"] for c in card["classes"]] == [1, 2, 3]
    model = s3.get_bytes(bucket, "shapes/1/model.onnx")
    assert (
        hashlib.sha256(model).hexdigest()
        == card["sha256"]
        == hashlib.sha256((outputs / "model.onnx").read_bytes()).hexdigest()
    )
    config = s3.get_bytes(bucket, "shapes/config.pbtxt").decode()
    assert 'platform: "onnxruntime_onnx"' in config and "max_batch_size: 8" in config
    assert "dims: [ 3, -1, -1 ]" in config and "dims: [ 7, -1 ]" in config
    before = _objects(s3, bucket)
    pictures = [k for k in before if k.startswith("shapes/1/model-report-files/")]
    assert [k for k in before if k not in pictures] == [
        "shapes/1/claim.json",
        "shapes/1/model-card.json",
        "shapes/1/model-report.html",
        "shapes/1/model.onnx",
        "shapes/config.pbtxt",
    ]
    # the report beside the model is the step's report artifact, its pictures too; train's report shows metrics.json
    assert s3.get_bytes(bucket, "shapes/1/model-report.html") == (outputs / "model-report.html").read_bytes()
    assert pictures and sorted(p.name for p in (outputs / "model-report-files").iterdir()) == [
        k.rsplit("/", 1)[1] for k in pictures
    ]
    for key in pictures:
        assert s3.get_bytes(bucket, key) == (outputs / "model-report-files" / key.rsplit("/", 1)[1]).read_bytes()
    tmp = trained / "report-checks"
    tmp.mkdir(exist_ok=True)
    check_model_report(outputs / "model-report.html", card, None, tmp, "model-export-deploy")
    metrics = json.loads((outputs / "metrics.json").read_text())
    check_evaluation_report(outputs / "evaluation-report.html", metrics, tmp, "evaluation-export-deploy")

    # the same weights, dataset and export options again (a memoized train): nothing is published, the
    # step's outputs are version 1's own files, and the gate is not asked (the model is already served)
    for name in ("model.onnx", "model-card.json", "model-report.html", "params/model-version"):
        (outputs / name).unlink()
    code, out = _cli(trained, "export-deploy", "--model-name", "shapes", "--require-improvement")
    assert code == 0 and "unchanged, version 1" in out and "exporting" not in out, out
    assert _objects(s3, bucket) == before
    assert (outputs / "params/model-version").read_text() == "1"
    assert json.loads((outputs / "model-card.json").read_text()) == card
    assert (outputs / "model.onnx").read_bytes() == model
    assert (outputs / "model-report.html").read_bytes() == s3.get_bytes(bucket, "shapes/1/model-report.html")
    weights = (trained / "artifacts/inputs/best.pt").read_bytes()
    assert card["training"]["weights_sha256"] == hashlib.sha256(weights).hexdigest()

    # quality gate (another export option, so not the deployed model): a threshold the tiny model
    # cannot reach, then "must beat the deployed version"
    other = ("--max-batch-size", "4")
    code, out = _cli(trained, "export-deploy", "--model-name", "shapes", *other, "--min-map50-95", "0.99")
    assert code == 4 and "quality gate failed" in out and "< --min-map50-95 0.99" in out
    code, out = _cli(trained, "export-deploy", "--model-name", "shapes", *other, "--require-improvement")
    assert code == 4 and "does not beat deployed version 1" in out
    assert _objects(s3, bucket) == before, "a failed gate must publish nothing"

    # a second publish of another model gets the next version; version 1 is untouched
    code, out = _cli(trained, "export-deploy", "--model-name", "shapes", *other)
    assert code == 0 and "published shapes version 2" in out
    assert s3.get_bytes(bucket, "shapes/1/model.onnx") == model
    assert ModelRepository(s3, bucket).deployed("shapes") == [1, 2]
    # its report compares it with version 1, deployed on the same dataset
    second = json.loads((outputs / "model-card.json").read_text())
    stored = tmp / "stored-v2" / "model-report.html"  # as the bucket holds it: the page and its pictures
    for obj in s3.list(bucket, "shapes/2/model-report"):
        local = stored.parent / obj.key.removeprefix("shapes/2/")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(s3.get_bytes(bucket, obj.key))
    check_model_report(stored, second, card, tmp, "model-export-deploy-v2")


def _publish_many(env: dict[str, str], bucket: str, model: str, n: int, barrier: object, out: object) -> None:
    os.environ.update(env)
    repo = ModelRepository(Storage(), bucket)
    barrier.wait()  # type: ignore[attr-defined]
    for i in range(n):
        published = repo.publish(
            "race", Path(model), {"i": i, "pid": os.getpid()}, 'name: "race"\n', {"pid": os.getpid()}
        )
        out.put(published.version)  # type: ignore[attr-defined]


def test_concurrent_publishes_get_distinct_versions(s3_server: S3Server, s3: Storage, tmp_path: Path) -> None:
    bucket = os.environ["ODPIPE_MODELS_BUCKET"]
    model = tmp_path / "model.onnx"
    model.write_bytes(os.urandom(4096))
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    env = {k: v for k, v in os.environ.items() if k.startswith(("AWS_", "ODPIPE_"))}
    procs = [ctx.Process(target=_publish_many, args=(env, bucket, str(model), 5, barrier, queue)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    versions = sorted(queue.get(timeout=5) for _ in range(10))
    assert versions == list(range(1, 11))
    repo = ModelRepository(s3, bucket)
    assert repo.deployed("race") == list(range(1, 11))
    pids = {repo.card("race", v)["pid"] for v in versions}
    assert len(pids) == 2


@pytest.mark.slow
def test_bad_inputs(trained: Path, s3: Storage, tmp_path: Path) -> None:
    code, out = _cli(trained, "export-deploy", "--model-name", "bad/name")
    assert code == 2 and "invalid model name" in out
    code, out = _cli(trained, "export-deploy", "--model-name", "m", "--precision", "fp16")
    assert code == 2 and "--precision" in out and "fp16" in out
    code, out = _cli(trained, "export-deploy", "--model-name", "bad/name")
    assert code == 2 and "invalid model name" in out
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 100)
    code, out = _cli(trained, "export-deploy", "--model-name", "m", "--weights", str(junk))
    assert code == 2 and "junk.pt: not a PyTorch checkpoint" in out
    code, out = _cli(trained, "export-deploy", "--model-name", "m", "--metrics", str(tmp_path / "none.json"))
    assert code == 2 and "none.json: training metrics (metrics.json) not found" in out
    code, out = _cli(trained, "export-deploy", "--model-name", "m", "--dataset", str(tmp_path / "none.json"))
    assert code == 2 and "none.json: dataset manifest not found" in out
    code, out = _cli(trained, "export-deploy", "--model-name", "m", env={"ODPIPE_MODELS_BUCKET": "no-such-models"})
    assert code == 3 and "'no-such-models' does not exist" in out and os.environ["AWS_ENDPOINT_URL"] in out
    code, out = _cli(trained, "export-deploy", "--model-name", "m", env={"AWS_ENDPOINT_URL": "http://127.0.0.1:9"})
    assert code == 3 and "http://127.0.0.1:9" in out and "unreachable" in out and "models" in out


@pytest.mark.slow
def test_graph_pass_is_exact(trained: Path, tmp_path: Path) -> None:
    """odpipe's rewrites change the graph, not the function: the onnxsim-only model's outputs, up to
    float summation order."""
    import numpy as np
    import onnx
    from odpipe.export.inference import OnnxDetector
    from odpipe.export.onnx_export import export_onnx
    from odpipe.ultralytics_env import import_ultralytics

    import_ultralytics()
    weights = trained / "artifacts/inputs/best.pt"
    plain = export_onnx(weights, tmp_path / "plain.onnx", imgsz=64, opset=None, dynamic=True, optimize=False)
    tuned = export_onnx(weights, tmp_path / "tuned.onnx", imgsz=64, opset=None, dynamic=True)
    assert plain.graph_passes == {} and tuned.graph_passes == {"dfl_softmax_last_axis": 1, "split_conv_silu": 9}
    graph = onnx.load(str(tuned.path)).graph
    axes = [a.i for n in graph.node if n.op_type == "Softmax" for a in n.attribute if a.name == "axis"]
    assert axes and all(a == -1 for a in axes), axes
    splits = [n.name for n in graph.node if n.op_type == "Split"]
    assert splits == ["/model.10/m/m.0/attn/Split"], splits  # the attention's split has no conv to divide
    x = np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)
    a, b = OnnxDetector(plain.path).raw(x), OnnxDetector(tuned.path).raw(x)
    assert a.shape == b.shape == (2, 7, 84)
    assert np.abs(a[:, :4] - b[:, :4]).max() <= 1e-3  # box coordinates, pixels
    assert np.abs(a[:, 4:] - b[:, 4:]).max() <= 1e-5  # class scores


@pytest.mark.slow
def test_int8_publish(trained: Path, s3: Storage) -> None:
    import onnx
    from odpipe.export.quantize import decode_nodes

    bucket = os.environ["ODPIPE_MODELS_BUCKET"]
    code, out = _cli(trained, "export-deploy", "--model-name", "shapes-fp32")
    assert code == 0, out
    fp32_size = (trained / "artifacts/outputs/model.onnx").stat().st_size
    # a 2-epoch model's mAP says nothing about quantization; the tolerance is opened to test the mechanics
    code, out = _cli(
        trained, "export-deploy", "--model-name", "shapes-int8", "--precision", "int8", "--map-tolerance", "1"
    )
    assert code == 0, out
    assert "int8: calibrating on 10 train images" in out and "ONNX int8" in out
    outputs = trained / "artifacts/outputs"
    card = json.loads((outputs / "model-card.json").read_text())
    q = card["quantization"]
    assert card["precision"] == "int8" and q["calibration_images"] == 10 and q["quantize_nodes"] > 50
    assert 0.0 <= q["float32_map50_95"] <= 1.0
    model = onnx.load(str(outputs / "model.onnx"))
    ops = {n.op_type for n in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert not any(n.op_type == "Conv" for n in model.graph.node if n.name in set(decode_nodes(model)))
    assert (outputs / "model.onnx").stat().st_size < 0.5 * fp32_size  # int8 weights
    assert hashlib.sha256(s3.get_bytes(bucket, "shapes-int8/1/model.onnx")).hexdigest() == card["sha256"]
    config = s3.get_bytes(bucket, "shapes-int8/config.pbtxt").decode()
    assert "TYPE_FP32" in config  # the int8 model keeps float input and output
