"""`odpipe run` and `odpipe demo`: their flags; the local runner is odpipe.local.run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from odpipe.cli.app import Engine, fail
from odpipe.common.errors import OdpipeError

if TYPE_CHECKING:
    from odpipe.local.run import RunOptions


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
        fail(exc)
        return
    print_summary(summary, reports=reports)
    if summary.status != "Succeeded":
        print_failure(summary, options.log_lines)
        failed = [r.exit_code for r in summary.results.values() if r.status != "Succeeded"]
        raise typer.Exit(failed[0] if failed and failed[0] > 0 else 1)


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
    from odpipe.coco.synthetic import make_dataset
    from odpipe.common.console import console
    from odpipe.formats import contract

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
            fail(exc)
    from odpipe.local.run import latest_run, print_reports

    last = latest_run(state_dir.resolve())
    if last is not None:
        print_reports(last)
