"""The Typer app every command module registers on, the artifact-contract options they share, and the
one way a command fails (message, termination record, exit code)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from odpipe import __version__
from odpipe.common.errors import OdpipeError

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


def fail(exc: OdpipeError) -> None:
    from odpipe.common.console import console
    from odpipe.common.termination import record

    console.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
    record(str(exc))
    raise typer.Exit(exc.exit_code)
