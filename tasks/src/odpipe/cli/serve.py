"""`odpipe serve` and `odpipe check-serve`: their flags; the server is odpipe.serve.run."""

from __future__ import annotations

from typing import Annotated

import typer

from odpipe.cli.app import fail
from odpipe.common.errors import OdpipeError


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
        fail(exc)


def check_serve(
    url: Annotated[str, typer.Option(help="Base URL of odpipe serve, e.g. http://odpipe-serve:8080.")],
    model_name: Annotated[list[str], typer.Option("--model-name", help="A model that must be ready (repeatable).")],
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for readiness.")] = 120.0,
) -> None:
    """Check that odpipe serve (or any KServe v2 server) is ready, and every named model too (helm test)."""
    from odpipe.common.console import console
    from odpipe.serve.check import readiness

    status = readiness(url, model_name, timeout)
    for where, code in status.items():
        console.print(f"{'ok' if code == 200 else 'not ready':10} {where} ({code or 'no answer'})", markup=False)
    if not all(code == 200 for code in status.values()):
        raise typer.Exit(1)
