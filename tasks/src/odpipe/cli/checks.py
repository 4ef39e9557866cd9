"""`odpipe check-s3` (helm test) and `odpipe check-inputs` (which `odpipe prepare --check-inputs` runs
first in the pipeline): their flags."""

from __future__ import annotations

from typing import Annotated

import typer

from odpipe.cli.app import fail
from odpipe.common.errors import OdpipeError

# check-inputs' own flags, which `odpipe prepare --check-inputs` takes too (the pipeline runs it there)
CredentialsFromOpt = Annotated[
    str,
    typer.Option(
        envvar="ODPIPE_CREDENTIALS_FROM",
        help="Where AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY come from, for the message (e.g. the Secret) "
        "[default: the environment].",
        rich_help_panel="check-inputs",
    ),
]
MemoCacheOpt = Annotated[
    str,
    typer.Option(
        envvar="ODPIPE_MEMO_CACHE",
        help="Argo's train cache, NAMESPACE/CONFIGMAP (the workflow-controller's namespace): entries whose "
        "artifacts were collected are dropped, so that run trains again (empty: no cache).",
        rich_help_panel="check-inputs",
    ),
]
SweepPicturesOpt = Annotated[
    float | None,
    typer.Option(
        envvar="ODPIPE_SWEEP_REPORT_PICTURES_AFTER",
        help="Seconds: delete the report picture folders in the artifacts bucket whose report is gone "
        "(Argo's artifact GC leaves them) once their newest file is this old (unset: never).",
        rich_help_panel="check-inputs",
    ),
]


def check_s3(
    bucket: Annotated[list[str], typer.Option("--bucket", help="A bucket that must exist (repeatable).")],
) -> None:
    """Check the S3 endpoint answers with the configured credentials and the buckets exist (helm test)."""
    from odpipe.common.console import console
    from odpipe.common.storage import Storage

    try:
        storage = Storage(max_attempts=3)
        missing = [b for b in bucket if not storage.bucket_exists(b)]
    except OdpipeError as exc:
        fail(exc)
        return
    for b in bucket:
        console.print(f"{'missing' if b in missing else 'ok':8} s3://{b} at {storage.endpoint_url}", markup=False)
    if missing:
        raise typer.Exit(3)


def check_inputs(
    annotations_key: Annotated[str, typer.Option(help="Key of the COCO instances JSON in the datasets bucket.")],
    images_prefix: Annotated[
        str, typer.Option(help="Prefix of the images in the datasets bucket (empty: images already on /data).")
    ] = "",
    credentials_from: CredentialsFromOpt = "",
    memo_cache: MemoCacheOpt = "",
    sweep_report_pictures_after: SweepPicturesOpt = None,
) -> None:
    """Check the S3 endpoint, credentials, the three buckets and the run's inputs before a run starts.

    Every problem is named with the chart value or parameter that sets it: exit 2, or 3 when S3 does not
    answer. With --memo-cache, the train cache is then pruned of entries whose weights are gone; with
    --sweep-report-pictures-after, picture folders whose report was collected are deleted.
    """
    from odpipe.check_inputs.checks import CREDENTIALS_FROM_ENV
    from odpipe.check_inputs.run import CheckOptions
    from odpipe.check_inputs.run import run as run_check
    from odpipe.common.console import console
    from odpipe.common.termination import record

    try:
        options = CheckOptions(
            annotations_key, images_prefix, credentials_from or CREDENTIALS_FROM_ENV, memo_cache,
            sweep_pictures_after=sweep_report_pictures_after,
        )  # fmt: skip
        result = run_check(options)
    except OdpipeError as exc:
        fail(exc)
        return
    for p in result.problems:
        console.print(f"[bold red]error:[/] {p}", markup=True, highlight=False)
    if result.problems:
        record("\n".join(str(p) for p in result.problems))
        raise typer.Exit(result.exit_code)
