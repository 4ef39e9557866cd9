"""The export-deploy task: export, check, gate, publish."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from odpipe.common.console import console
from odpipe.common.errors import GateFailed, InputError
from odpipe.common.jsonfile import read_json_object, write_json
from odpipe.common.storage import Buckets, Storage, sha256_file
from odpipe.export.gate import Deployed, GateLimits, Measured, gate_problems
from odpipe.formats import contract, model_card
from odpipe.formats.contract import Layout
from odpipe.formats.dataset_manifest import Dataset, load_dataset
from odpipe.formats.precision import PRECISIONS, Precision


@dataclass
class ExportOptions:
    model_name: str
    opset: int | None = None
    dynamic: bool = True
    imgsz: int | None = None
    max_batch_size: int = 8
    min_map50_95: float | None = None
    require_improvement: bool = False
    map_tolerance: float = 0.01
    precision: str = Precision.fp32.value
    calibration_images: int = 64
    max_box_diff: float = 0.5
    max_score_diff: float = 1e-3
    parity_images: int = 8
    latency_runs: int = 20
    workflow_name: str | None = None
    workflow_uid: str | None = None

    def gate_limits(self) -> GateLimits:
        return GateLimits(self.max_box_diff, self.max_score_diff, self.map_tolerance, self.min_map50_95)


@dataclass
class ExportOutcome:
    card: dict[str, Any]
    version: int
    model_uri: str


@dataclass
class ExportInputs:
    """What export-deploy works from, read and checked before any long work starts."""

    name: str
    weights: Path
    metrics: dict[str, Any]  # train's metrics.json
    dataset: Dataset


@dataclass
class Checked:
    """The exported model and everything measured about it."""

    exported: Any  # onnx_export.ExportResult
    quantization: dict[str, Any] | None
    tensors: dict[str, Any]
    onnx_metrics: dict[str, Any]
    latency: dict[str, Any]
    imgsz: int
    onnx_detections: list[dict[str, Any]]  # the published model's, on the val split (for the report)

    def measured(self, torch_ap: float) -> Measured:
        onnx_ap = float(self.onnx_metrics["stats"]["AP"])
        return Measured(self.tensors["max_abs_box"], self.tensors["max_abs_score"], torch_ap, onnx_ap)


def run(
    opts: ExportOptions,
    layout: Layout,
    *,
    weights: Path | None = None,
    manifest: Path | None = None,
    metrics_path: Path | None = None,
    storage: Storage | None = None,
) -> ExportOutcome:
    """Export best.pt to ONNX, check it against PyTorch, gate it, publish it to the model repository.

    Reads: inputs best.pt, dataset.json, metrics.json (or the paths given); the dataset on the data
    volume (val split for parity and mAP, train split for int8 calibration); the models bucket.
    Writes: <name>/<version>/model.onnx and model-card.json (and <name>/config.pbtxt) to the models
    bucket; outputs model.onnx, model-card.json and the model-version parameter. A failed gate raises
    GateFailed and publishes nothing.
    """
    from odpipe.export.repository import ModelRepository

    started = time.monotonic()
    inputs = _read_inputs(opts, layout, weights, manifest, metrics_path)
    bucket = Buckets.from_env().models
    storage = storage or Storage()
    storage.require_bucket(bucket)  # fail before minutes of work, naming endpoint and bucket
    repo = ModelRepository(storage, bucket)
    weights_sha256 = sha256_file(inputs.weights)
    same = _unchanged(opts, layout, repo, inputs, weights_sha256)
    if same is not None:
        return same
    model_path = layout.output(contract.MODEL)
    checked = _export_and_measure(opts, inputs, model_path, _export_imgsz(opts, inputs.weights))
    torch_ap = float(inputs.metrics["stats"]["AP"])
    deployed = _deployed(repo, inputs) if opts.require_improvement else None
    problems = gate_problems(checked.measured(torch_ap), opts.gate_limits(), deployed)
    if problems:
        raise GateFailed(f"quality gate failed for model {inputs.name}; nothing published:\n  " + "\n  ".join(problems))
    card = _card(opts, inputs, checked, torch_ap, deployed, sha256_file(model_path), weights_sha256)
    return _publish(opts, layout, repo, inputs.name, model_path, card, checked, started, inputs.dataset)


def _unchanged(
    opts: ExportOptions, layout: Layout, repo: Any, inputs: ExportInputs, weights_sha256: str
) -> ExportOutcome | None:
    """The latest deployed version when it already is this model (a memoized train hands on the same
    weights): nothing is exported or published, its files become the step's outputs."""
    from odpipe.export.unchanged import Fingerprint, unchanged_version, write_outputs

    fingerprint = Fingerprint.of(weights_sha256, inputs.dataset.dataset_id, asdict(opts))
    card = unchanged_version(repo, inputs.name, fingerprint)
    if card is None:
        return None
    write_outputs(repo, inputs.name, card, layout)
    version = int(card[model_card.VERSION])
    console.print(
        f"unchanged, version {version}: {inputs.name} version {version} was exported from these weights "
        f"(sha256 {weights_sha256[:12]}) on dataset {inputs.dataset.dataset_id}; nothing published",
        markup=False,
    )
    return ExportOutcome(card, version, str(card[model_card.URI]))


def _read_inputs(
    opts: ExportOptions, layout: Layout, weights: Path | None, manifest: Path | None, metrics_path: Path | None
) -> ExportInputs:
    from odpipe.export.repository import check_name

    name = check_name(opts.model_name)
    if opts.precision not in PRECISIONS:
        raise InputError(f"--precision {opts.precision!r}: expected one of {', '.join(PRECISIONS)}")
    metrics_path = metrics_path or layout.input(contract.METRICS)
    metrics = read_json_object(metrics_path, "training metrics (metrics.json)")
    if not isinstance(metrics.get("stats"), dict) or "AP" not in metrics["stats"]:
        raise InputError(f"{metrics_path}: metrics.json lacks field 'stats.AP'")
    dataset = load_dataset(manifest or layout.input(contract.DATASET_MANIFEST), layout.data)
    return ExportInputs(name, weights or layout.input(contract.BEST_WEIGHTS), metrics, dataset)


def _export_imgsz(opts: ExportOptions, weights: Path) -> int:
    """--imgsz, else the size the checkpoint was trained at (checking the checkpoint either way)."""
    from odpipe.formats.yolo_checkpoint import check_checkpoint, train_imgsz
    from odpipe.ultralytics_env import import_ultralytics

    import_ultralytics()
    ckpt = check_checkpoint(weights)
    return opts.imgsz or train_imgsz(ckpt)


def _export_and_measure(opts: ExportOptions, inputs: ExportInputs, model_path: Path, imgsz: int) -> Checked:
    """Export (and quantize), then tensor parity with PyTorch on the float32 model, COCO mAP and
    latency of the model to publish."""
    from odpipe.export.parity import latency

    ds = inputs.dataset
    scratch = Path(tempfile.mkdtemp(prefix="odpipe-export-"))
    try:
        exported, quantization, fp32_path = _export(opts, inputs.weights, model_path, scratch, imgsz, ds)
        for out in exported.outputs:  # dynamic export leaves the channel axis symbolic; it is 4 boxes + classes
            if len(out["dims"]) == 3 and out["dims"][1] == -1:
                out["dims"][1] = 4 + len(ds.classes)
        tensors = _tensor_parity(opts, inputs, fp32_path, imgsz)
        if quantization is not None:
            quantization["float32_map50_95"] = _onnx_metrics(fp32_path, ds, imgsz)["stats"]["AP"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    onnx_metrics, onnx_detections = _onnx_eval(model_path, ds, imgsz)
    torch_ap, onnx_ap = float(inputs.metrics["stats"]["AP"]), onnx_metrics["stats"]["AP"]
    console.print(
        f"COCO mAP50-95 on val: PyTorch {torch_ap:.4f}, ONNX {opts.precision} {onnx_ap:.4f} "
        f"(delta {onnx_ap - torch_ap:+.4f}, tolerance {opts.map_tolerance})",
        markup=False,
    )
    lat = latency(inputs.weights, model_path, _val_paths(ds)[0], imgsz, runs=opts.latency_runs)
    console.print(
        f"batch-1 CPU latency: onnxruntime ({opts.precision}) {lat['onnxruntime_ms']} ms, "
        f"PyTorch {lat['pytorch_ms']} ms (ratio {lat['ratio']})",
        markup=False,
    )
    return Checked(exported, quantization, tensors, onnx_metrics, lat, imgsz, onnx_detections)


def _val_paths(ds: Dataset) -> list[Path]:
    from odpipe.coco.results import val_images

    return val_images(ds.val_coco, ds.val_images)[0]


def _tensor_parity(opts: ExportOptions, inputs: ExportInputs, fp32_path: Path, imgsz: int) -> dict[str, Any]:
    from odpipe.export.inference import OnnxDetector
    from odpipe.export.parity import tensor_parity

    paths = _val_paths(inputs.dataset)[: opts.parity_images]
    tensors = tensor_parity(inputs.weights, OnnxDetector(fp32_path), paths, imgsz)
    tensors["compared"] = "PyTorch vs float32 ONNX"  # with int8, the mAP check covers the quantized model
    console.print(
        f"tensor parity (float32 ONNX) over {tensors['images']} images: max |box| {tensors['max_abs_box']:.3g} px, "
        f"max |score| {tensors['max_abs_score']:.3g}",
        markup=False,
    )
    return tensors


def _onnx_metrics(model: Path, ds: Dataset, imgsz: int) -> dict[str, Any]:
    """COCO metrics of an ONNX model on the val split, through onnxruntime."""
    return _onnx_eval(model, ds, imgsz)[0]


def _onnx_eval(model: Path, ds: Dataset, imgsz: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """COCO metrics of an ONNX model on the val split and the detections they score."""
    from odpipe.coco.evaluate import evaluate
    from odpipe.export.inference import OnnxDetector, predict_coco_onnx

    detections = predict_coco_onnx(OnnxDetector(model), ds.val_coco, ds.val_images, ds.classes, imgsz)
    return evaluate(ds.val_coco, detections), detections


def _deployed(repo: Any, inputs: ExportInputs) -> Deployed | None:
    previous = repo.latest_card(inputs.name, inputs.dataset.dataset_id)
    if previous is None:
        return None
    return Deployed(int(previous[model_card.VERSION]), model_card.onnx_map50_95(previous), inputs.dataset.dataset_id)


def _card(
    opts: ExportOptions,
    inputs: ExportInputs,
    checked: Checked,
    torch_ap: float,
    deployed: Deployed | None,
    sha256: str,
    weights_sha256: str,
) -> dict[str, Any]:
    exported, onnx_ap = checked.exported, float(checked.onnx_metrics["stats"]["AP"])
    return model_card.build_card(
        dataset_id=inputs.dataset.dataset_id,
        classes=inputs.dataset.classes,
        metrics={
            "train": inputs.metrics["stats"],
            "onnx": checked.onnx_metrics["stats"],
            "per_class_onnx": checked.onnx_metrics["per_class"],
        },
        parity={
            "tensor": checked.tensors,
            "map50_95": {
                "pytorch": torch_ap,
                "onnx": onnx_ap,
                "delta": onnx_ap - torch_ap,
                "tolerance": opts.map_tolerance,
            },
        },
        latency=checked.latency,
        precision=opts.precision,
        quantization=checked.quantization,
        export={
            "imgsz": checked.imgsz,
            "opset": exported.opset,
            "dynamic_batch": opts.dynamic,
            "nodes_before_onnxsim": exported.nodes_before,
            "nodes_after_onnxsim": exported.nodes_after,
            "graph_passes": exported.graph_passes,
            "inputs": exported.inputs,
            "outputs": exported.outputs,
            "metadata": exported.metadata,
        },
        training={
            **{k: inputs.metrics.get(k) for k in ("params", "epochs_done", "run_id", "device", "wall_time_s")},
            model_card.WEIGHTS_SHA256: weights_sha256,
        },
        gate={
            "min_map50_95": opts.min_map50_95,
            "require_improvement": opts.require_improvement,
            "previous_version": deployed.version if deployed else None,
        },
        workflow={"name": opts.workflow_name, "uid": opts.workflow_uid},
        sha256=sha256,
        options=asdict(opts),
    )


def _publish(
    opts: ExportOptions,
    layout: Layout,
    repo: Any,
    name: str,
    model_path: Path,
    card: dict[str, Any],
    checked: Checked,
    started: float,
    dataset: Dataset,
) -> ExportOutcome:
    from odpipe.export.report import ModelReport
    from odpipe.formats.triton_config import model_config, to_pbtxt

    owner = {"workflow_name": opts.workflow_name, "workflow_uid": opts.workflow_uid, "host": os.uname().nodename}
    config = to_pbtxt(model_config(name, card))
    report = ModelReport(repo, name, dataset, checked.onnx_detections)
    published = repo.publish(name, model_path, card, config, owner, sha256=card[model_card.SHA256], report=report)
    card = repo.card(name, published.version)
    write_json(layout.output(contract.MODEL_CARD), card)
    report.write_output(layout.output(contract.MODEL_REPORT), card)
    layout.write_param(contract.PARAM_MODEL_VERSION, str(published.version))
    console.print(
        f"published {name} version {published.version}: {published.model_uri} ({time.monotonic() - started:.1f}s)",
        markup=False,
    )
    return ExportOutcome(card, published.version, published.model_uri)


def _export(
    opts: ExportOptions, weights: Path, model_path: Path, scratch: Path, imgsz: int, ds: Dataset
) -> tuple[Any, dict[str, Any] | None, Path]:
    """The float32 ONNX model (checked), and with --precision int8 its quantized copy as the model to
    publish; returns the export result, the quantization record and the float32 model's path."""
    from odpipe.export.onnx_export import export_onnx
    from odpipe.export.quantize import calibration_images, quantize_int8

    fp32 = opts.precision == Precision.fp32
    fp32_path = model_path if fp32 else scratch / "model.fp32.onnx"
    console.print(f"exporting {weights} to ONNX (imgsz {imgsz}, dynamic batch {opts.dynamic})", markup=False)
    exported = export_onnx(weights, fp32_path, imgsz=imgsz, opset=opts.opset, dynamic=opts.dynamic)
    console.print(
        f"onnxsim: {exported.nodes_before} -> {exported.nodes_after} nodes; opset {exported.opset}; "
        f"onnx.checker full_check passed; odpipe graph passes {exported.graph_passes}",
        markup=False,
    )
    if fp32:
        return exported, None, fp32_path
    images = calibration_images(ds.train_images, opts.calibration_images)
    console.print(f"int8: calibrating on {len(images)} train images", markup=False)
    quantization = quantize_int8(fp32_path, model_path, images, imgsz)
    console.print(
        f"int8: {quantization['quantize_nodes']} quantized tensors, {quantization['float_nodes']} decode nodes "
        "kept float; onnx.checker full_check passed",
        markup=False,
    )
    return exported, quantization, fp32_path
