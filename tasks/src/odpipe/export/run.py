"""The export-deploy task: export, check, gate, publish."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from odpipe import __version__, contract
from odpipe.console import console, write_json
from odpipe.contract import Layout
from odpipe.errors import GateFailed, InputError
from odpipe.jsonfile import read_json_object
from odpipe.storage import Buckets, Storage, sha256_file


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
    precision: str = "fp32"
    calibration_images: int = 64
    max_box_diff: float = 0.5
    max_score_diff: float = 1e-3
    parity_images: int = 8
    latency_runs: int = 20
    workflow_name: str | None = None
    workflow_uid: str | None = None


@dataclass
class ExportOutcome:
    card: dict[str, Any]
    version: int
    model_uri: str


def run_export(
    opts: ExportOptions,
    layout: Layout,
    *,
    weights: Path | None = None,
    manifest: Path | None = None,
    metrics_path: Path | None = None,
    storage: Storage | None = None,
) -> ExportOutcome:
    from odpipe.export.quantize import PRECISIONS
    from odpipe.export.repository import ModelRepository, check_name
    from odpipe.train.dataset import load_dataset
    from odpipe.ultralytics_env import import_ultralytics
    from odpipe.yolo_checkpoint import check_checkpoint, train_imgsz

    started = time.monotonic()
    name = check_name(opts.model_name)
    if opts.precision not in PRECISIONS:
        raise InputError(f"--precision {opts.precision!r}: expected one of {', '.join(PRECISIONS)}")
    weights = weights or layout.input(contract.BEST_WEIGHTS)
    metrics = read_json_object(metrics_path or layout.input(contract.METRICS), "training metrics (metrics.json)")
    if not isinstance(metrics.get("stats"), dict) or "AP" not in metrics["stats"]:
        raise InputError(f"{metrics_path or layout.input(contract.METRICS)}: metrics.json lacks field 'stats.AP'")
    ds = load_dataset(manifest or layout.input(contract.DATASET_MANIFEST), layout.data)
    storage = storage or Storage()
    bucket = Buckets.from_env().models
    storage.require_bucket(bucket)  # fail before minutes of work, naming endpoint and bucket
    repo = ModelRepository(storage, bucket)

    import_ultralytics()
    ckpt = check_checkpoint(weights)
    imgsz = opts.imgsz or train_imgsz(ckpt)
    del ckpt

    from odpipe.coco.evaluate import evaluate
    from odpipe.export.inference import OnnxDetector, predict_coco_onnx
    from odpipe.export.parity import latency, tensor_parity
    from odpipe.export.repository import config_pbtxt
    from odpipe.train.predict import val_images

    model_path = layout.output(contract.MODEL)
    scratch = Path(tempfile.mkdtemp(prefix="odpipe-export-"))
    try:
        exported, quantization, fp32_path = _export(opts, weights, model_path, scratch, imgsz, ds)
        for out in exported.outputs:  # dynamic export leaves the channel axis symbolic; it is 4 boxes + classes
            if len(out["dims"]) == 3 and out["dims"][1] == -1:
                out["dims"][1] = 4 + len(ds.classes)
        paths, _ = val_images(ds.val_coco, ds.val_images)
        fp32_detector = OnnxDetector(fp32_path)
        tensors = tensor_parity(weights, fp32_detector, paths[: opts.parity_images], imgsz)
        tensors["compared"] = "PyTorch vs float32 ONNX"  # with int8, the mAP check covers the quantized model
        console.print(
            f"tensor parity (float32 ONNX) over {tensors['images']} images: max |box| {tensors['max_abs_box']:.3g} px, "
            f"max |score| {tensors['max_abs_score']:.3g}",
            markup=False,
        )
        if quantization is not None:
            fp32_metrics = evaluate(
                ds.val_coco, predict_coco_onnx(fp32_detector, ds.val_coco, ds.val_images, ds.classes, imgsz)
            )
            quantization["float32_map50_95"] = fp32_metrics["stats"]["AP"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    detector = OnnxDetector(model_path)
    onnx_metrics = evaluate(ds.val_coco, predict_coco_onnx(detector, ds.val_coco, ds.val_images, ds.classes, imgsz))
    torch_ap, onnx_ap = float(metrics["stats"]["AP"]), onnx_metrics["stats"]["AP"]
    console.print(
        f"COCO mAP50-95 on val: PyTorch {torch_ap:.4f}, ONNX {opts.precision} {onnx_ap:.4f} "
        f"(delta {onnx_ap - torch_ap:+.4f}, tolerance {opts.map_tolerance})",
        markup=False,
    )
    lat = latency(weights, model_path, paths[0], imgsz, runs=opts.latency_runs)
    console.print(
        f"batch-1 CPU latency: onnxruntime ({opts.precision}) {lat['onnxruntime_ms']} ms, "
        f"PyTorch {lat['pytorch_ms']} ms (ratio {lat['ratio']})",
        markup=False,
    )

    problems = []
    if tensors["max_abs_box"] > opts.max_box_diff:
        problems.append(f"box difference {tensors['max_abs_box']:.4g} px > {opts.max_box_diff}")
    if tensors["max_abs_score"] > opts.max_score_diff:
        problems.append(f"score difference {tensors['max_abs_score']:.4g} > {opts.max_score_diff}")
    if abs(onnx_ap - torch_ap) > opts.map_tolerance:
        problems.append(f"ONNX mAP50-95 {onnx_ap:.4f} vs PyTorch {torch_ap:.4f}: |delta| > {opts.map_tolerance}")
    if opts.min_map50_95 is not None and onnx_ap < opts.min_map50_95:
        problems.append(f"mAP50-95 {onnx_ap:.4f} < --min-map50-95 {opts.min_map50_95}")
    previous = repo.latest_card(name, ds.dataset_id) if opts.require_improvement else None
    if previous is not None:
        prev_ap = float(previous["metrics"]["onnx"]["AP"])
        if onnx_ap <= prev_ap:
            problems.append(
                f"mAP50-95 {onnx_ap:.4f} does not beat deployed version {previous['version']} "
                f"({prev_ap:.4f}, same dataset {ds.dataset_id})"
            )
    if problems:
        raise GateFailed(f"quality gate failed for model {name}; nothing published:\n  " + "\n  ".join(problems))

    owner = {"workflow_name": opts.workflow_name, "workflow_uid": opts.workflow_uid, "host": os.uname().nodename}
    card: dict[str, Any] = {
        "schema": "odpipe.model-card/v1",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "dataset_id": ds.dataset_id,
        "classes": ds.classes,
        "metrics": {
            "train": metrics["stats"],
            "onnx": onnx_metrics["stats"],
            "per_class_onnx": onnx_metrics["per_class"],
        },
        "parity": {
            "tensor": tensors,
            "map50_95": {
                "pytorch": torch_ap,
                "onnx": onnx_ap,
                "delta": onnx_ap - torch_ap,
                "tolerance": opts.map_tolerance,
            },
        },
        "latency": lat,
        "precision": opts.precision,
        "quantization": quantization,
        "export": {
            "imgsz": imgsz,
            "opset": exported.opset,
            "dynamic_batch": opts.dynamic,
            "nodes_before_onnxsim": exported.nodes_before,
            "nodes_after_onnxsim": exported.nodes_after,
            "graph_passes": exported.graph_passes,
            "inputs": exported.inputs,
            "outputs": exported.outputs,
        },
        "training": {k: metrics.get(k) for k in ("params", "epochs_done", "run_id", "device", "wall_time_s")},
        "gate": {
            "min_map50_95": opts.min_map50_95,
            "require_improvement": opts.require_improvement,
            "previous_version": previous["version"] if previous else None,
        },
        "workflow": {"name": opts.workflow_name, "uid": opts.workflow_uid},
        "images": {"image": os.environ.get("ODPIPE_IMAGE"), "digest": os.environ.get("ODPIPE_IMAGE_DIGEST")},
        "odpipe": __version__,
        "sha256": sha256_file(model_path),
        "options": asdict(opts),
    }
    config = config_pbtxt(name, exported.inputs, exported.outputs, opts.dynamic, opts.max_batch_size)
    published = repo.publish(name, model_path, card, config, owner, sha256=card["sha256"])
    card = repo.card(name, published.version)
    write_json(layout.output(contract.MODEL_CARD), card)
    layout.write_param(contract.PARAM_MODEL_VERSION, str(published.version))
    console.print(
        f"published {name} version {published.version}: {published.model_uri} ({time.monotonic() - started:.1f}s)",
        markup=False,
    )
    return ExportOutcome(card, published.version, published.model_uri)


def _export(
    opts: ExportOptions, weights: Path, model_path: Path, scratch: Path, imgsz: int, ds: Any
) -> tuple[Any, dict[str, Any] | None, Path]:
    """The float32 ONNX model (checked), and with --precision int8 its quantized copy as the model to
    publish; returns the export result, the quantization record and the float32 model's path."""
    from odpipe.export.onnx_export import export_onnx
    from odpipe.export.quantize import calibration_images, quantize_int8

    fp32_path = model_path if opts.precision == "fp32" else scratch / "model.fp32.onnx"
    console.print(f"exporting {weights} to ONNX (imgsz {imgsz}, dynamic batch {opts.dynamic})", markup=False)
    exported = export_onnx(weights, fp32_path, imgsz=imgsz, opset=opts.opset, dynamic=opts.dynamic)
    console.print(
        f"onnxsim: {exported.nodes_before} -> {exported.nodes_after} nodes; opset {exported.opset}; "
        f"onnx.checker full_check passed; odpipe graph passes {exported.graph_passes}",
        markup=False,
    )
    if opts.precision == "fp32":
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
