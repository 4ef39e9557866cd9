"""The train task: resumable Ultralytics training under <data>/runs/<run-id>, then COCO evaluation."""

from __future__ import annotations

import csv
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odpipe import __version__
from odpipe.common.atomic import copy_file, no_space
from odpipe.common.console import console, progress
from odpipe.common.errors import InputError
from odpipe.common.jsonfile import read_json_object, write_json
from odpipe.common.storage import sha256_file
from odpipe.formats import contract
from odpipe.formats.contract import Layout
from odpipe.formats.dataset_manifest import DATA_YAML, Dataset, load_dataset
from odpipe.formats.yolo_checkpoint import check_checkpoint
from odpipe.train.checkpoint import atomic_final_strip, checkpoint_problem, use_atomic_paths
from odpipe.train.params import TrainParams, check_extra, resolve_device
from odpipe.train.resume import Start, decide_start, describe_difference
from odpipe.ultralytics_env import without_training_albumentations

if TYPE_CHECKING:
    from odpipe.coco.evaluate import EvalDetail
    from odpipe.reports.html import Rendered

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


def _checkpoint_epochs(last: Path) -> tuple[int | None, str]:
    """Epochs a resumable checkpoint has finished, or None and why it cannot be resumed from."""
    if not last.exists():
        return None, "missing"
    if problem := checkpoint_problem(last):
        return None, problem
    import torch

    try:
        ckpt = torch.load(last, map_location="cpu", weights_only=False)
        return int(ckpt["epoch"]) + 1, ""
    except Exception as exc:
        return None, f"unreadable ({type(exc).__name__}: {str(exc)[:120]}; killed while saving?)"


def _callbacks(model: Any, params: TrainParams, advance: Any) -> None:
    model.add_callback("on_pretrain_routine_start", use_atomic_paths)
    model.add_callback("on_fit_epoch_end", _epoch_logger(params.epochs, advance))


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


@dataclass(frozen=True)
class RunPaths:
    """One training run's folder on the data volume: <data>/runs/<run-id>."""

    run_id: str
    dir: Path

    @classmethod
    def of(cls, data: Path, run_id: str) -> RunPaths:
        return cls(run_id, data / contract.DATA_RUNS / run_id)

    @property
    def ultra(self) -> Path:
        return self.dir / ULTRA_NAME

    @property
    def last(self) -> Path:
        return self.ultra / "weights" / "last.pt"

    @property
    def best(self) -> Path:
        return self.ultra / "weights" / "best.pt"

    @property
    def params_file(self) -> Path:
        return self.dir / PARAMS_FILE

    @property
    def complete_marker(self) -> Path:
        return self.dir / COMPLETE_MARKER

    @property
    def results_csv(self) -> Path:
        return self.ultra / "results.csv"


def run(
    params: TrainParams,
    layout: Layout,
    *,
    manifest: Path | None = None,
    base_weights: Path | None = None,
    run_id: str | None = None,
) -> TrainResult:
    """Train (or resume, or only re-evaluate) under <data>/runs/<run-id>, then score best.pt with COCOeval.

    Reads: input dataset.json (or ``manifest``) and the dataset it names on the data volume; optional
    input base.pt (or ``base_weights``); an earlier attempt's run folder with the same run id.
    Writes: the run folder (checkpoints, results.csv, COMPLETE); outputs best.pt, metrics.json, run/ and
    the map50-95 parameter.
    """
    started = time.monotonic()
    ds, base_weights, device = _read_inputs(params, layout, manifest, base_weights)
    run = RunPaths.of(layout.data, run_id or new_run_id())
    start = _claim_run(run, params, ds, base_weights)
    if start is Start.COMPLETE:
        console.print(f"run {run.run_id}: training already complete, evaluating", markup=False)
    else:
        try:
            _fit(run, params, ds, base_weights, device)
        except OSError as exc:
            if (full := no_space(exc, run.dir)) is None:
                raise
            raise full from exc
        run.complete_marker.write_text(time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    train_time = time.monotonic() - started
    if not run.best.exists():
        raise InputError(f"run {run.run_id}: training ended without {run.best}")
    metrics, detections, detail = evaluate_weights(run.best, ds, params.imgsz, device)
    eval_time = time.monotonic() - started - train_time
    metrics.update(
        {
            "ultralytics": _ultralytics_metrics(run.results_csv),
            "epochs_requested": params.epochs,
            "epochs_done": _epochs_done(run.results_csv),
            "resumed": start is not Start.FRESH,
            "wall_time_s": round(time.monotonic() - started, 3),
            "train_time_s": round(train_time, 3),
            "eval_time_s": round(eval_time, 3),
            "device": device,
            "dataset_id": ds.dataset_id,
            "run_id": run.run_id,
            "params": params.as_dict(),
            "odpipe": __version__,
        }
    )
    _write_outputs(layout, run.best, run.ultra, metrics)
    _write_evaluation_report(layout, metrics, detections, detail, ds, run.results_csv)
    return TrainResult(run.dir, metrics, start is not Start.FRESH)


def _read_inputs(
    params: TrainParams, layout: Layout, manifest: Path | None, base_weights: Path | None
) -> tuple[Dataset, Path | None, str]:
    """The dataset (checked whole), the base weights if any, and the device to train on."""
    from odpipe.ultralytics_env import import_ultralytics

    if params.epochs < 1:
        raise InputError(f"--epochs must be at least 1, got {params.epochs}")
    ds = load_dataset(manifest or layout.input(contract.DATASET_MANIFEST), layout.data)
    if base_weights is None and layout.input(contract.BASE_WEIGHTS).exists():
        base_weights = layout.input(contract.BASE_WEIGHTS)
    import_ultralytics()
    check_extra(params.extra)
    return ds, base_weights, resolve_device(params.device)


def _claim_run(run: RunPaths, params: TrainParams, ds: Dataset, base_weights: Path | None) -> Start:
    """Decide how this attempt starts; a fresh start records its parameters in the run folder."""
    record = {
        "dataset_id": ds.dataset_id,
        "params": params.as_dict(),
        "base_weights": sha256_file(base_weights) if base_weights else None,
    }
    complete, checkpoint = run.complete_marker.exists(), run.last.exists()
    previous = None
    if run.params_file.exists() and (complete or checkpoint):
        previous = read_json_object(run.params_file, "run parameters")
    start = decide_start(previous, record, complete=complete, checkpoint=checkpoint)
    if start is Start.CONFLICT:
        assert previous is not None
        raise InputError(
            f"run {run.run_id}: {run.dir} holds a run with other parameters or data "
            f"({describe_difference(previous, record)}); use another --run-id"
        )
    if start is Start.FRESH:
        run.dir.mkdir(parents=True, exist_ok=True)
        write_json(run.params_file, record)
    return start


def _fit(run: RunPaths, params: TrainParams, ds: Dataset, base_weights: Path | None, device: str) -> None:
    """Ultralytics training to params.epochs, from the run's last checkpoint when it has a readable one."""
    data_yaml = ds.write_data_yaml(run.dir / DATA_YAML)
    done, problem = _checkpoint_epochs(run.last)
    if run.last.exists() and done is None:
        console.print(f"warning: run {run.run_id}: {run.last}: {problem}; starting over", markup=False)
        shutil.rmtree(run.ultra)
    done = done or 0
    resume = run.last.exists()
    console.print(
        f"run {run.run_id}: {'resuming after epoch ' + str(done) if resume else 'starting'}; "
        f"dataset {ds.dataset_id}, device {device}, {params.epochs} epochs",
        markup=False,
    )
    with progress("train", params.epochs - done) as advance, without_training_albumentations(), atomic_final_strip():
        if resume:
            from ultralytics import YOLO

            model = YOLO(str(run.last))
            _callbacks(model, params, advance)
            model.train(resume=True, device=device, workers=params.workers)
            return
        model = build_model(params, base_weights)
        _callbacks(model, params, advance)
        model.train(
            data=str(data_yaml),
            epochs=params.epochs,
            imgsz=params.imgsz,
            batch=params.batch,
            device=device,
            workers=params.workers,
            seed=params.seed,
            patience=params.patience,
            project=str(run.dir),
            name=ULTRA_NAME,
            exist_ok=True,
            pretrained=base_weights is not None,
            save_period=-1,
            **{"amp": False, "plots": False, **params.extra},
        )


def evaluate_weights(
    weights: Path, ds: Dataset, imgsz: int, device: str
) -> tuple[dict[str, Any], list[dict[str, Any]], EvalDetail | None]:
    """COCO metrics of the weights on the val split, the detections scored and COCOeval's detail."""
    from ultralytics import YOLO

    from odpipe.coco.evaluate import evaluate_detailed
    from odpipe.train.predict import predict_coco

    model = YOLO(str(weights))
    detections = predict_coco(model, ds.val_coco, ds.val_images, ds.classes, imgsz=imgsz, device=device)
    metrics, detail = evaluate_detailed(ds.val_coco, detections)
    return metrics, detections, detail


def _write_evaluation_report(
    layout: Layout,
    metrics: dict[str, Any],
    detections: list[dict[str, Any]],
    detail: EvalDetail | None,
    ds: Dataset,
    results_csv: Path,
) -> None:
    """evaluation-report.html (never fails the step; a failure is a note in it and a warning here)."""
    from odpipe.reports.evaluation import TITLE, evaluation_report
    from odpipe.reports.write import write_report

    def make() -> Rendered:
        gt = read_json_object(ds.val_coco, "val COCO instances")
        return evaluation_report(metrics, detail, gt, detections, results_csv, ds.val_images)

    write_report(layout.output(contract.EVALUATION_REPORT), TITLE, make)


def _write_outputs(layout: Layout, best: Path, ultra_dir: Path, metrics: dict[str, Any]) -> None:
    copy_file(best, layout.output(contract.BEST_WEIGHTS))
    run_out = layout.output(contract.RUN_DIR)
    if run_out.exists():
        shutil.rmtree(run_out)
    shutil.copytree(ultra_dir, run_out, ignore=shutil.ignore_patterns("weights"))
    write_json(layout.output(contract.METRICS), metrics)
    layout.write_param(contract.PARAM_MAP, f"{metrics['stats']['AP']:.6f}")
