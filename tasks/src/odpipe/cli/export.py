"""`odpipe export-deploy`: its flags; the step is odpipe.export.run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from odpipe.cli.app import DataOpt, InputsOpt, OutputsOpt, fail
from odpipe.common.errors import OdpipeError
from odpipe.formats.precision import Precision


def export_deploy(
    model_name: Annotated[str, typer.Option(help="Model name in the repository (Triton layout <name>/<version>/).")],
    weights: Annotated[Path | None, typer.Option(help="Trained weights [default: inputs/best.pt].")] = None,
    dataset: Annotated[Path | None, typer.Option(help="Dataset manifest [default: inputs/dataset.json].")] = None,
    metrics: Annotated[Path | None, typer.Option(help="Training metrics [default: inputs/metrics.json].")] = None,
    opset: Annotated[
        int | None, typer.Option(min=11, help="ONNX opset [default: Ultralytics' choice].", rich_help_panel="Export")
    ] = None,
    dynamic: Annotated[
        bool, typer.Option(help="Dynamic batch (and image size) axes.", rich_help_panel="Export")
    ] = True,
    imgsz: Annotated[
        int | None,
        typer.Option(min=32, help="Export image size [default: the training run's].", rich_help_panel="Export"),
    ] = None,
    max_batch_size: Annotated[
        int, typer.Option(min=1, help="Triton max_batch_size with a dynamic batch.", rich_help_panel="Export")
    ] = 8,
    min_map50_95: Annotated[
        float | None,
        typer.Option(
            "--min-map50-95",
            envvar="ODPIPE_MIN_MAP50_95",
            min=0.0,
            max=1.0,
            help="Publish only when the ONNX model's COCO mAP50-95 reaches this.",
            rich_help_panel="Quality gate",
        ),
    ] = None,
    require_improvement: Annotated[
        bool,
        typer.Option(
            envvar="ODPIPE_REQUIRE_IMPROVEMENT",
            help="Publish only when the model beats the latest deployed version evaluated on the same dataset.",
            rich_help_panel="Quality gate",
        ),
    ] = False,
    map_tolerance: Annotated[
        float, typer.Option(help="Allowed |mAP50-95(ONNX) - mAP50-95(PyTorch)|.", rich_help_panel="Quality gate")
    ] = 0.01,
    max_box_diff: Annotated[
        float,
        typer.Option(help="Allowed max |box| difference, pixels (tensor parity).", rich_help_panel="Quality gate"),
    ] = 0.5,
    precision: Annotated[
        Precision,
        typer.Option(
            envvar="ODPIPE_PRECISION",
            help="Published model: float32, or int8 (onnxruntime static quantization calibrated on train images; "
            "faster on CPU, judged by the same mAP tolerance).",
            rich_help_panel="Export",
        ),
    ] = Precision.fp32,
    calibration_images: Annotated[
        int, typer.Option(min=1, help="Train images used to calibrate the int8 model.", rich_help_panel="Export")
    ] = 64,
    max_score_diff: Annotated[
        float, typer.Option(help="Allowed max |score| difference (tensor parity).", rich_help_panel="Quality gate")
    ] = 1e-3,
    workflow_name: Annotated[
        str | None, typer.Option(envvar="ODPIPE_WORKFLOW_NAME", help="Recorded in the model card.")
    ] = None,
    workflow_uid: Annotated[
        str | None, typer.Option(envvar="ODPIPE_WORKFLOW_UID", help="Recorded in the model card.")
    ] = None,
    inputs_dir: InputsOpt = None,
    outputs_dir: OutputsOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Export best.pt to ONNX (onnxsim, onnx.checker), check parity with PyTorch, gate, and publish.

    Publishes <name>/<version>/model.onnx and model-card.json (and <name>/config.pbtxt) to the models
    bucket; outputs model.onnx and model-card.json; output parameter model-version. A failed gate exits 4
    and publishes nothing.
    """
    from odpipe.formats.contract import Layout
    from odpipe.ultralytics_env import prepare_offline

    prepare_offline()
    layout = Layout.resolve(inputs_dir, outputs_dir, data_dir)
    try:
        from odpipe.export.run import ExportOptions
        from odpipe.export.run import run as run_export

        opts = ExportOptions(
            model_name=model_name,
            opset=opset,
            dynamic=dynamic,
            imgsz=imgsz,
            max_batch_size=max_batch_size,
            min_map50_95=min_map50_95,
            require_improvement=require_improvement,
            map_tolerance=map_tolerance,
            max_box_diff=max_box_diff,
            max_score_diff=max_score_diff,
            precision=precision.value,
            calibration_images=calibration_images,
            workflow_name=workflow_name,
            workflow_uid=workflow_uid,
        )
        run_export(opts, layout, weights=weights, manifest=dataset, metrics_path=metrics)
    except OdpipeError as exc:
        fail(exc)
