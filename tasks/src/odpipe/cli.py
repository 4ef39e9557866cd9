"""The `odpipe` command line. Each subcommand imports only what its extra installs."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from odpipe import __version__
from odpipe.errors import OdpipeError
from odpipe.precision import Precision

if TYPE_CHECKING:
    from odpipe.local.run import RunOptions

app = typer.Typer(
    name="odpipe",
    help="Object-detection training pipeline: prepare a COCO dataset, train YOLO, export and deploy ONNX.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


class Engine(StrEnum):
    process = "process"
    docker = "docker"


InputsOpt = Annotated[
    Path | None,
    typer.Option(
        "--inputs-dir",
        help="Input artifacts folder [default: $ODPIPE_ROOT/artifacts/inputs].",
        rich_help_panel="Artifact contract",
    ),
]
OutputsOpt = Annotated[
    Path | None,
    typer.Option(
        "--outputs-dir",
        help="Output artifacts folder [default: $ODPIPE_ROOT/artifacts/outputs].",
        rich_help_panel="Artifact contract",
    ),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="The datasets volume [default: $ODPIPE_ROOT/data].", rich_help_panel="Artifact contract"
    ),
]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"odpipe {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """odpipe tasks. Paths follow the artifact contract; every path also has a flag."""


def _fail(exc: OdpipeError) -> None:
    from odpipe.console import console
    from odpipe.termination import record

    console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    record(str(exc))
    raise typer.Exit(exc.exit_code)


@app.command()
def prepare(
    annotations: Annotated[
        str | None,
        typer.Option(help="COCO instances JSON: a path or s3://bucket/key [default: inputs/annotations.json]."),
    ] = None,
    images: Annotated[
        str | None,
        typer.Option(
            help="Images: a folder or s3://bucket/prefix (synced into <data>/raw incrementally).",
            rich_help_panel="Images",
        ),
    ] = None,
    images_prefix: Annotated[
        str | None,
        typer.Option(
            help="Images under this prefix of the datasets bucket ($ODPIPE_DATASETS_BUCKET); empty = unset.",
            rich_help_panel="Images",
        ),
    ] = None,
    images_path: Annotated[
        str | None,
        typer.Option(help="Images at this path relative to the data volume; empty = unset.", rich_help_panel="Images"),
    ] = None,
    val_annotations: Annotated[
        str | None,
        typer.Option(help="A second COCO file for the val split (the first is then train).", rich_help_panel="Split"),
    ] = None,
    test_annotations: Annotated[
        str | None, typer.Option(help="A COCO file for a test split.", rich_help_panel="Split")
    ] = None,
    val_list: Annotated[
        Path | None,
        typer.Option(
            help="Split file: images (id, file name or stem, one per line) that go to val.", rich_help_panel="Split"
        ),
    ] = None,
    val_fraction: Annotated[
        float,
        typer.Option(
            min=0.0, max=0.95, help="Fraction of images for val when no split is given.", rich_help_panel="Split"
        ),
    ] = 0.2,
    seed: Annotated[
        int, typer.Option(help="Seed of the split, background choice and augmentation.", rich_help_panel="Split")
    ] = 0,
    background_ratio: Annotated[
        float,
        typer.Option(min=0.0, help="Images without boxes kept as background, as a fraction of the images with boxes."),
    ] = 0.1,
    bbox_tolerance: Annotated[
        float,
        typer.Option(
            min=0.0, help="Boxes outside the image by up to this fraction of its size are clipped; beyond, dropped."
        ),
    ] = 0.02,
    strict: Annotated[bool, typer.Option(envvar="ODPIPE_STRICT", help="Turn every warning into an error.")] = False,
    link_mode: Annotated[
        str, typer.Option(help="How images enter the dataset: hardlink (falls back to copy), symlink or copy.")
    ] = "hardlink",
    augment: Annotated[
        Path | None, typer.Option(help="Albumentations config (YAML) for offline augmentation of the train split.")
    ] = None,
    full_decode: Annotated[
        bool, typer.Option(help="Decode every image fully (slow) instead of checking headers and end markers.")
    ] = False,
    crowd_as_target: Annotated[
        bool,
        typer.Option(
            help="Train on iscrowd=1 boxes too (as Roboflow exports do); by default they are kept for evaluation only."
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="Processes that check images and write labels; 0: as many as the container's CPU limit (cgroup).",
        ),
    ] = 0,
    inputs_dir: InputsOpt = None,
    outputs_dir: OutputsOpt = None,
    data_dir: DataOpt = None,
) -> None:
    """Validate COCO instances + images and write a versioned YOLO dataset to <data>/datasets/<id>.

    Outputs dataset.json and report.json; output parameter dataset-id. Bad annotations are dropped with a
    warning; the run fails when the input is not COCO instances or nothing trainable remains.
    """
    from odpipe import contract
    from odpipe.contract import Layout

    if link_mode not in ("hardlink", "symlink", "copy"):
        raise typer.BadParameter("must be hardlink, symlink or copy", param_hint="--link-mode")
    layout = Layout.resolve(inputs_dir, outputs_dir, data_dir)
    if len([x for x in (images, images_prefix, images_path) if x]) != 1:
        raise typer.BadParameter("give exactly one of --images, --images-prefix, --images-path", param_hint="--images")
    if images_prefix:
        from odpipe.storage import Buckets, S3Uri

        images = str(S3Uri(Buckets.from_env().datasets, images_prefix.strip("/")))
    elif images_path:
        import os.path

        rel = os.path.normpath(images_path.lstrip("/"))  # lexically: a link on the volume may point elsewhere
        if rel == ".." or rel.startswith("../"):
            raise typer.BadParameter(f"{images_path!r} leaves the data volume", param_hint="--images-path")
        images = str(layout.data / rel)
    assert images is not None
    try:
        from odpipe.prepare.run import PrepareOptions
        from odpipe.prepare.run import run as run_prepare

        opts = PrepareOptions(
            annotations=annotations or str(layout.input(contract.ANNOTATIONS)),
            images=images,
            val_annotations=val_annotations,
            test_annotations=test_annotations,
            val_list=val_list,
            val_fraction=val_fraction,
            seed=seed,
            background_ratio=background_ratio,
            bbox_tolerance=bbox_tolerance,
            strict=strict,
            link_mode=link_mode,  # type: ignore[arg-type]
            augment=augment,
            full_decode=full_decode,
            crowd_as_target=crowd_as_target,
            workers=workers,
        )
        result = run_prepare(opts, layout)
    except OdpipeError as exc:
        _fail(exc)
        return
    from odpipe.prepare.summary import print_summary

    print_summary(result)


@app.command()
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
    from odpipe.contract import Layout
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
        _fail(exc)
        return
    from odpipe.console import console

    s = result.metrics["stats"]
    console.print(
        f"COCO mAP50-95={s['AP']:.4f} mAP50={s['AP50']:.4f} after {result.metrics['epochs_done']} epochs "
        f"on {result.metrics['device']}; run {result.run_dir}",
        markup=False,
    )


@app.command("export-deploy")
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
    from odpipe.contract import Layout
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
        _fail(exc)


@app.command()
def run(
    annotations: Annotated[
        str | None, typer.Option(help="COCO instances JSON: a path, or s3://<datasets bucket>/key with --s3-endpoint.")
    ] = None,
    images: Annotated[str | None, typer.Option(help="Images folder, or s3://<datasets bucket>/prefix.")] = None,
    model_name: Annotated[str | None, typer.Option(help="Model name in the model repository.")] = None,
    epochs: Annotated[int | None, typer.Option(min=1, help="Training epochs.")] = None,
    imgsz: Annotated[int | None, typer.Option(min=32, help="Training image size.")] = None,
    batch: Annotated[int | None, typer.Option(help="Training batch size.")] = None,
    model: Annotated[
        str | None, typer.Option(help="Model YAML (yolo11n.yaml, ...) or a .pt on the data volume.")
    ] = None,
    min_map50_95: Annotated[float | None, typer.Option("--min-map50-95", help="Quality gate threshold.")] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="Any pipeline parameter as name=value (as `argo submit -p`), repeatable."),
    ] = None,
    s3_endpoint: Annotated[
        str | None,
        typer.Option(
            help="Use this S3 (http(s)://host:port, credentials from "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) instead of the "
            "embedded server."
        ),
    ] = None,
    state_dir: Annotated[Path, typer.Option(help="Embedded S3 data, datasets volume and runs.")] = Path(".odpipe"),
    chart: Annotated[Path | None, typer.Option(help="The odpipe-workflows chart [default: found from here].")] = None,
    resume: Annotated[str | None, typer.Option(help="Resume this run (workflow name) from its failed step.")] = None,
    log_lines: Annotated[int, typer.Option(help="Log lines shown from a failed step.")] = 25,
    engine: Annotated[
        Engine,
        typer.Option(
            help="process: each step's command as a local process; docker: each step in the image its "
            "template names, with the template's securityContext, volumes, env and limits (make images)."
        ),
    ] = Engine.process,
    chart_set: Annotated[
        list[str] | None,
        typer.Option("--set", help="A chart value for the render, as helm --set key=value, repeatable."),
    ] = None,
) -> None:
    """Run the whole pipeline on this machine: the chart's own WorkflowTemplates, step by step, with an
    embedded S3 server (SeaweedFS on 127.0.0.1) and a local folder as the datasets volume."""
    from odpipe.local.run import RunOptions

    params: dict[str, str] = {}
    for item in param or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise typer.BadParameter(f"{item!r}: expected name=value", param_hint="--param")
        params[key] = value
    for key, value in (
        ("model-name", model_name),
        ("epochs", epochs),
        ("imgsz", imgsz),
        ("batch", batch),
        ("model", model),
        ("min-map50-95", min_map50_95),
    ):
        if value is not None:
            params[key] = str(value)
    if not resume and (not annotations or not images):
        raise typer.BadParameter("--annotations and --images are required (or --resume RUN)")
    options = RunOptions(
        annotations=annotations or "",
        images=images or "",
        parameters=params,
        state_dir=state_dir,
        s3_endpoint=s3_endpoint,
        chart=chart,
        resume=resume,
        log_lines=log_lines,
        engine=engine.value,
        chart_values=list(chart_set or []),
    )
    _run_pipeline(options, reports=True)


def _run_pipeline(options: RunOptions, *, reports: bool) -> None:
    """Walk the pipeline, print its summary (with the reports' paths when asked), exit non-zero on failure."""
    from odpipe.local.run import print_failure, print_summary
    from odpipe.local.run import run as run_local

    try:
        summary = run_local(options)
    except OdpipeError as exc:
        _fail(exc)
        return
    print_summary(summary, reports=reports)
    if summary.status != "Succeeded":
        print_failure(summary, options.log_lines)
        failed = [r.exit_code for r in summary.results.values() if r.status != "Succeeded"]
        raise typer.Exit(failed[0] if failed and failed[0] > 0 else 1)


@app.command()
def demo(
    state_dir: Annotated[Path, typer.Option(help="Where the demo keeps its data and S3 state.")] = Path(".odpipe/demo"),
    images: Annotated[int, typer.Option(min=8, help="Synthetic images to generate.")] = 40,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs (~1 s each on a CPU).")] = 100,
    engine: Annotated[Engine, typer.Option(help="process, or docker (the task images; make images).")] = Engine.process,
    serve: Annotated[
        bool, typer.Option(help="Then serve the model (odpipe serve) and send it one validation image.")
    ] = True,
) -> None:
    """Generate a small synthetic COCO set (coloured shapes, nothing downloaded), run the whole pipeline,
    then put the published model live with `odpipe serve` and send it one validation image; ends with the
    paths of the HTML reports (dataset, evaluation, model)."""
    from odpipe import contract
    from odpipe.console import console
    from odpipe.synthetic import make_dataset

    source = state_dir / "synthetic"
    annotations = source / contract.ANNOTATIONS
    if not annotations.exists():
        make_dataset(source, images=images, size=128, seed=0)
    console.print(f"synthetic COCO set: {annotations} with {images} images", markup=False)
    from odpipe.local.run import RunOptions

    parameters = {"model-name": "shapes", "epochs": str(epochs), "imgsz": "128", "batch": "8"}
    options = RunOptions(annotations=str(annotations), images=str(source / "images"), parameters=parameters,
                         state_dir=state_dir, log_lines=25, engine=engine.value)  # fmt: skip
    _run_pipeline(options, reports=False)  # the reports' paths come last, after the live model
    if serve:
        try:
            from odpipe.serve.demo import serve_demo
        except ImportError as exc:
            raise typer.BadParameter(f"the live model needs the [serve] extra ({exc}); or --no-serve") from exc
        try:
            serve_demo(state_dir, "shapes")
        except OdpipeError as exc:
            _fail(exc)
    from odpipe.local.run import latest_run, print_reports

    last = latest_run(state_dir.resolve())
    if last is not None:
        print_reports(last)


@app.command()
def serve(
    model_name: Annotated[
        list[str], typer.Option("--model-name", help="A model in the repository to serve (repeatable).")
    ],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "0.0.0.0",
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port (KServe v2 REST, /metrics).")] = 8080,
    latest: Annotated[
        int,
        typer.Option(min=1, help="Version policy: serve the latest N deployed versions.", rich_help_panel="Versions"),
    ] = 1,
    version: Annotated[
        list[int] | None,
        typer.Option(
            "--version",
            min=1,
            help="Version policy: serve exactly these versions instead (repeatable).",
            rich_help_panel="Versions",
        ),
    ] = None,
    poll_interval: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds between polls of the model repository.", rich_help_panel="Versions"),
    ] = 30.0,
    confidence: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Default score threshold (request parameter 'confidence').",
            rich_help_panel="Detection",
        ),
    ] = 0.25,
    iou: Annotated[
        float,
        typer.Option(min=0.0, max=1.0, help="Default NMS IoU (request parameter 'iou').", rich_help_panel="Detection"),
    ] = 0.45,
    max_detections: Annotated[
        int,
        typer.Option(
            min=1,
            max=300,
            help="Default detections per image (request parameter 'max_detections').",
            rich_help_panel="Detection",
        ),
    ] = 100,
    max_batch: Annotated[int, typer.Option(min=1, help="Most images per request.", rich_help_panel="Limits")] = 8,
    max_body_bytes: Annotated[
        int, typer.Option(min=1024, help="Largest request body; larger gets 413.", rich_help_panel="Limits")
    ] = 32 * 1024 * 1024,
    max_concurrency: Annotated[
        int, typer.Option(min=1, help="Inferences running at once.", rich_help_panel="Limits")
    ] = 8,
    max_queue: Annotated[
        int, typer.Option(min=0, help="Inferences waiting for a slot; beyond that 503.", rich_help_panel="Limits")
    ] = 64,
    grace_period: Annotated[
        int, typer.Option(min=0, help="Seconds to drain requests in flight after SIGTERM.", rich_help_panel="Limits")
    ] = 30,
    threads: Annotated[
        int | None, typer.Option(min=1, help="onnxruntime intra-op threads (default: onnxruntime's choice).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="debug (one line per request), info, warning.")] = "info",
) -> None:
    """Serve deployed models over the Open Inference Protocol (KServe v2 REST) from the S3 model repository.

    Loads the versions the policy selects from s3://$ODPIPE_MODELS_BUCKET/<name>/<version>/, polls for new
    ones and swaps them in without a failed request. Inputs: 'image' (BYTES, encoded JPEG/PNG per batch
    item) or 'images' (FP32 NCHW, the exported tensor). Outputs: 'boxes' (xyxy, original pixels),
    'scores', 'category_ids' (the dataset's COCO ids), 'num_detections'. S3 settings come from
    AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION.
    """
    try:
        from odpipe.serve.detector import Thresholds
        from odpipe.serve.policy import VersionPolicy
        from odpipe.serve.run import run as run_server
        from odpipe.serve.server import ServeOptions, configure_logging
    except ImportError as exc:
        raise typer.BadParameter(f"odpipe serve needs the [serve] extra ({exc})") from exc
    configure_logging(log_level)
    options = ServeOptions(
        names=model_name,
        host=host,
        port=port,
        policy=VersionPolicy(latest=latest, specific=tuple(version or ())),
        poll_interval=poll_interval,
        max_batch=max_batch,
        max_body_bytes=max_body_bytes,
        max_concurrency=max_concurrency,
        max_queue=max_queue,
        grace_period=grace_period,
        threads=threads,
        default=Thresholds(confidence, iou, max_detections),
    )
    try:
        run_server(options)
    except OdpipeError as exc:
        _fail(exc)


@app.command("check-serve")
def check_serve(
    url: Annotated[str, typer.Option(help="Base URL of odpipe serve, e.g. http://odpipe-serve:8080.")],
    model_name: Annotated[list[str], typer.Option("--model-name", help="A model that must be ready (repeatable).")],
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for readiness.")] = 120.0,
) -> None:
    """Check that odpipe serve (or any KServe v2 server) is ready, and every named model too (helm test)."""
    from odpipe.console import console
    from odpipe.serve.check import readiness

    status = readiness(url, model_name, timeout)
    for where, code in status.items():
        console.print(f"{'ok' if code == 200 else 'not ready':10} {where} ({code or 'no answer'})", markup=False)
    if not all(code == 200 for code in status.values()):
        raise typer.Exit(1)


@app.command("check-s3")
def check_s3(
    bucket: Annotated[list[str], typer.Option("--bucket", help="A bucket that must exist (repeatable).")],
) -> None:
    """Check the S3 endpoint answers with the configured credentials and the buckets exist (helm test)."""
    from odpipe.console import console
    from odpipe.storage import Storage

    try:
        storage = Storage(max_attempts=3)
        missing = [b for b in bucket if not storage.bucket_exists(b)]
    except OdpipeError as exc:
        _fail(exc)
        return
    for b in bucket:
        console.print(f"{'missing' if b in missing else 'ok':8} s3://{b} at {storage.endpoint_url}", markup=False)
    if missing:
        raise typer.Exit(3)


@app.command("check-inputs")
def check_inputs(
    annotations_key: Annotated[str, typer.Option(help="Key of the COCO instances JSON in the datasets bucket.")],
    images_prefix: Annotated[
        str, typer.Option(help="Prefix of the images in the datasets bucket (empty: images already on /data).")
    ] = "",
    credentials_from: Annotated[
        str,
        typer.Option(
            envvar="ODPIPE_CREDENTIALS_FROM",
            help="Where AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY come from, for the message (e.g. the Secret).",
        ),
    ] = "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)",
    memo_cache: Annotated[
        str,
        typer.Option(
            envvar="ODPIPE_MEMO_CACHE",
            help="Argo's train cache, NAMESPACE/CONFIGMAP (the workflow-controller's namespace): entries whose "
            "artifacts were collected are dropped, so that run trains again (empty: no cache).",
        ),
    ] = "",
) -> None:
    """Check the S3 endpoint, credentials, the three buckets and the run's inputs before the pipeline starts.

    Every problem is named with the chart value or parameter that sets it: exit 2, or 3 when S3 does not
    answer. With --memo-cache, the train cache is then pruned of entries whose weights are gone.
    """
    from odpipe.check_inputs.run import CheckOptions
    from odpipe.check_inputs.run import run as run_check
    from odpipe.console import console
    from odpipe.termination import record

    try:
        result = run_check(CheckOptions(annotations_key, images_prefix, credentials_from, memo_cache))
    except OdpipeError as exc:
        _fail(exc)
        return
    for p in result.problems:
        console.print(f"[bold red]error:[/] {p}", markup=True, highlight=False)
    if result.problems:
        record("\n".join(str(p) for p in result.problems))
        raise typer.Exit(result.exit_code)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
