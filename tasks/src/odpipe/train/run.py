"""The train task: resumable Ultralytics training under <data>/runs/<run-id>, then COCO evaluation."""

from __future__ import annotations

import csv
import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odpipe import __version__, contract
from odpipe.console import console, progress, write_json
from odpipe.contract import Layout
from odpipe.errors import InputError
from odpipe.train.dataset import Dataset, load_dataset
from odpipe.train.params import TrainParams, check_extra, resolve_device
from odpipe.yolo_checkpoint import check_checkpoint

PARAMS_FILE = "odpipe-train.json"
COMPLETE_MARKER = "COMPLETE"
ULTRA_NAME = "train"


@dataclass
class TrainResult:
    run_dir: Path
    metrics: dict[str, Any]
    resumed: bool


def new_run_id() -> str:
    return f"local-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


def build_model(params: TrainParams, base: Path | None) -> Any:
    from ultralytics import YOLO

    if base is not None:
        check_checkpoint(base)
        return YOLO(str(base))
    name = params.model
    if name.endswith(".pt"):
        if not Path(name).is_file():
            raise InputError(
                f"--model {name}: not a local file; odpipe never downloads weights. Pass pretrained "
                f"weights as the base.pt input artifact (--base-weights) or train from a model YAML "
                f"such as yolo11n.yaml"
            )
        check_checkpoint(Path(name))
        return YOLO(name)
    if not name.endswith((".yaml", ".yml")):
        raise InputError(f"--model {name}: expected a model YAML (e.g. yolo11n.yaml) or a local .pt checkpoint")
    try:
        return YOLO(name)
    except (FileNotFoundError, KeyError, AssertionError, ValueError) as exc:
        raise InputError(
            f"--model {name}: unknown model ({exc}); use an Ultralytics model YAML such as "
            f"yolo11n.yaml, yolov8s.yaml or a path to your own"
        ) from None


def _epoch_logger(total_hint: int, advance: Any) -> Any:
    state = {"last": -1, "t": time.monotonic()}

    def on_fit_epoch_end(trainer: Any) -> None:
        epoch = int(trainer.epoch)
        if epoch >= trainer.epochs or epoch == state["last"]:
            return  # the final validation of best.pt calls this once more
        state["last"] = epoch
        now = time.monotonic()
        losses = trainer.label_loss_items(trainer.tloss, prefix="train")
        m = trainer.metrics
        parts = [f"{k.split('/')[-1]}={v:.4f}" for k, v in losses.items()]
        parts += [f"mAP50={m.get('metrics/mAP50(B)', 0.0):.4f}", f"mAP50-95={m.get('metrics/mAP50-95(B)', 0.0):.4f}"]
        console.print(f"epoch {epoch + 1}/{trainer.epochs} {' '.join(parts)} ({now - state['t']:.1f}s)", markup=False)
        state["t"] = now
        advance(1)

    return on_fit_epoch_end


def _checkpoint_epochs(last: Path) -> int | None:
    """Epochs a resumable checkpoint has finished; None when it is missing or unreadable."""
    if not last.exists():
        return None
    import torch

    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        return int(ckpt["epoch"]) + 1
    except Exception:
        return None


def _epochs_done(results_csv: Path) -> int:
    if not results_csv.exists():
        return 0
    # a killed epoch can leave its row behind and be written again on resume: count distinct epochs
    with results_csv.open() as fh:
        return len({int(float(row["epoch"])) for row in csv.DictReader(fh)})


def _ultralytics_metrics(results_csv: Path) -> dict[str, float]:
    if not results_csv.exists():
        return {}
    with results_csv.open() as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return {}
    best = max(rows, key=lambda r: 0.1 * float(r["metrics/mAP50(B)"]) + 0.9 * float(r["metrics/mAP50-95(B)"]))
    return {
        "mAP50": float(best["metrics/mAP50(B)"]),
        "mAP50-95": float(best["metrics/mAP50-95(B)"]),
        "precision": float(best["metrics/precision(B)"]),
        "recall": float(best["metrics/recall(B)"]),
        "best_epoch": int(float(best["epoch"])),
    }


def run_train(
    params: TrainParams,
    layout: Layout,
    *,
    manifest: Path | None = None,
    base_weights: Path | None = None,
    run_id: str | None = None,
) -> TrainResult:
    from odpipe.ultralytics_env import import_ultralytics

    started = time.monotonic()
    if params.epochs < 1:
        raise InputError(f"--epochs must be at least 1, got {params.epochs}")
    ds = load_dataset(manifest or layout.input(contract.DATASET_MANIFEST), layout.data)
    if base_weights is None and layout.input(contract.BASE_WEIGHTS).exists():
        base_weights = layout.input(contract.BASE_WEIGHTS)
    import_ultralytics()
    check_extra(params.extra)
    device = resolve_device(params.device)

    run_id = run_id or new_run_id()
    run_dir = layout.data / contract.DATA_RUNS / run_id
    ultra_dir = run_dir / ULTRA_NAME
    last = ultra_dir / "weights" / "last.pt"
    record = {
        "dataset_id": ds.dataset_id,
        "params": params.as_dict(),
        "base_weights": _sha(base_weights) if base_weights else None,
    }
    params_file = run_dir / PARAMS_FILE
    resumed = False
    if params_file.exists() and ((run_dir / COMPLETE_MARKER).exists() or last.exists()):
        previous = json.loads(params_file.read_text())
        if previous != record:
            raise InputError(
                f"run {run_id}: {run_dir} holds a run with other parameters or data "
                f"({_diff(previous, record)}); use another --run-id"
            )
        resumed = (run_dir / COMPLETE_MARKER).exists() or last.exists()
    else:  # nothing to resume (a fresh run, or an earlier attempt that failed before its first checkpoint)
        run_dir.mkdir(parents=True, exist_ok=True)
        write_json(params_file, record)

    results_csv = ultra_dir / "results.csv"
    if (run_dir / COMPLETE_MARKER).exists():
        console.print(f"run {run_id}: training already complete, evaluating", markup=False)
    else:
        data_yaml = ds.write_data_yaml(run_dir / "data.yaml")
        done = _checkpoint_epochs(last)
        if last.exists() and done is None:
            console.print(f"run {run_id}: {last} is unreadable (killed while saving?); starting over", markup=False)
            shutil.rmtree(ultra_dir)
        done = done or 0
        console.print(
            f"run {run_id}: {'resuming after epoch ' + str(done) if last.exists() else 'starting'}; "
            f"dataset {ds.dataset_id}, device {device}, {params.epochs} epochs",
            markup=False,
        )
        with progress("train", params.epochs - done) as advance:
            if last.exists():
                from ultralytics import YOLO

                model = YOLO(str(last))
                model.add_callback("on_fit_epoch_end", _epoch_logger(params.epochs, advance))
                model.train(resume=True, device=device, workers=params.workers)
            else:
                model = build_model(params, base_weights)
                model.add_callback("on_fit_epoch_end", _epoch_logger(params.epochs, advance))
                model.train(
                    data=str(data_yaml),
                    epochs=params.epochs,
                    imgsz=params.imgsz,
                    batch=params.batch,
                    device=device,
                    workers=params.workers,
                    seed=params.seed,
                    patience=params.patience,
                    project=str(run_dir),
                    name=ULTRA_NAME,
                    exist_ok=True,
                    pretrained=base_weights is not None,
                    save_period=-1,
                    **{"amp": False, "plots": False, **params.extra},
                )
        (run_dir / COMPLETE_MARKER).write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    train_time = time.monotonic() - started

    best = ultra_dir / "weights" / "best.pt"
    if not best.exists():
        raise InputError(f"run {run_id}: training ended without {best}")
    metrics = evaluate_weights(best, ds, params.imgsz, device)
    eval_time = time.monotonic() - started - train_time
    metrics.update(
        {
            "ultralytics": _ultralytics_metrics(results_csv),
            "epochs_requested": params.epochs,
            "epochs_done": _epochs_done(results_csv),
            "resumed": resumed,
            "wall_time_s": round(time.monotonic() - started, 3),
            "train_time_s": round(train_time, 3),
            "eval_time_s": round(eval_time, 3),
            "device": device,
            "dataset_id": ds.dataset_id,
            "run_id": run_id,
            "params": params.as_dict(),
            "odpipe": __version__,
        }
    )
    _write_outputs(layout, best, ultra_dir, metrics)
    return TrainResult(run_dir, metrics, resumed)


def evaluate_weights(weights: Path, ds: Dataset, imgsz: int, device: str) -> dict[str, Any]:
    from ultralytics import YOLO

    from odpipe.coco.evaluate import evaluate
    from odpipe.train.predict import predict_coco

    model = YOLO(str(weights))
    detections = predict_coco(model, ds.val_coco, ds.val_images, ds.classes, imgsz=imgsz, device=device)
    return evaluate(ds.val_coco, detections)


def _write_outputs(layout: Layout, best: Path, ultra_dir: Path, metrics: dict[str, Any]) -> None:
    layout.outputs.mkdir(parents=True, exist_ok=True)
    tmp = layout.output(f".{contract.BEST_WEIGHTS}.tmp")
    shutil.copyfile(best, tmp)
    os.replace(tmp, layout.output(contract.BEST_WEIGHTS))
    run_out = layout.output(contract.RUN_DIR)
    if run_out.exists():
        shutil.rmtree(run_out)
    shutil.copytree(ultra_dir, run_out, ignore=shutil.ignore_patterns("weights"))
    write_json(layout.output(contract.METRICS), metrics)
    layout.write_param(contract.PARAM_MAP, f"{metrics['stats']['AP']:.6f}")


def _sha(path: Path) -> str:
    from odpipe.storage import sha256_file

    return sha256_file(path)


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    flat_a, flat_b = _flatten(a), _flatten(b)
    keys = sorted(k for k in set(flat_a) | set(flat_b) if flat_a.get(k) != flat_b.get(k))
    return ", ".join(f"{k}: {flat_a.get(k)!r} -> {flat_b.get(k)!r}" for k in keys[:5])


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
