"""`odpipe train`: its flags; the step is odpipe.train.run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from odpipe.cli.app import DataOpt, InputsOpt, OutputsOpt, fail
from odpipe.common.errors import OdpipeError


def train(
    dataset: Annotated[
        Path | None, typer.Option(help="Dataset manifest from prepare [default: inputs/dataset.json].")
    ] = None,
    base_weights: Annotated[
        Path | None,
        typer.Option(help="Pretrained YOLO checkpoint [default: inputs/base.pt when present]; never downloaded."),
    ] = None,
    model: Annotated[
        str,
        typer.Option(
            help="Model YAML to train from scratch (yolo11n.yaml, yolov8s.yaml, ...) or a local .pt checkpoint."
        ),
    ] = "yolo11n.yaml",
    epochs: Annotated[int, typer.Option(min=1, help="Epochs to train.")] = 100,
    imgsz: Annotated[int, typer.Option(min=32, help="Training image size (pixels).")] = 640,
    batch: Annotated[int, typer.Option(help="Batch size (-1: Ultralytics auto batch on GPU).")] = 16,
    device: Annotated[str, typer.Option(help="auto (CUDA when present, else CPU), cpu, 0, 0,1, ...")] = "auto",
    workers: Annotated[int, typer.Option(min=0, help="Data loader workers.")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    patience: Annotated[int, typer.Option(min=0, help="Early stopping patience (epochs without improvement).")] = 100,
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg",
            help="Other Ultralytics train argument as key=value (repeatable), e.g. --arg lr0=0.005; "
            "checked against Ultralytics' known keys.",
        ),
    ] = None,
    run_id: Annotated[
        str | None,
        typer.Option(
            envvar="ODPIPE_RUN_ID",
            help="Run id (the workflow uid in Argo): a retry with the same id resumes from "
            "the last epoch [default: generated].",
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Show Ultralytics' own logs as well.")] = False,
    inputs_dir: InputsOpt = None,
    outputs_dir: OutputsOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Train Ultralytics YOLO on a prepared dataset; evaluate best.pt with COCOeval on the val split.

    Outputs best.pt, metrics.json and run/; output parameter map50-95. Checkpoints every epoch under
    <data>/runs/<run-id>: rerunning with the same run id resumes an interrupted run.
    """
    from odpipe.formats.contract import Layout
    from odpipe.ultralytics_env import prepare_offline

    prepare_offline(verbose=verbose)
    layout = Layout.resolve(inputs_dir, outputs_dir, data_dir)
    try:
        from odpipe.train.params import TrainParams, parse_extra
        from odpipe.train.run import run as run_train

        params = TrainParams(
            model=model,
            epochs=epochs,
            imgsz=imgsz,
            batch=batch,
            device=device,
            workers=workers,
            seed=seed,
            patience=patience,
            extra=parse_extra(arg or []),
        )
        result = run_train(params, layout, manifest=dataset, base_weights=base_weights, run_id=run_id)
    except OdpipeError as exc:
        fail(exc)
        return
    from odpipe.common.console import console

    s = result.metrics["stats"]
    console.print(
        f"COCO mAP50-95={s['AP']:.4f} mAP50={s['AP50']:.4f} after {result.metrics['epochs_done']} epochs "
        f"on {result.metrics['device']}; run {result.run_dir}",
        markup=False,
    )
