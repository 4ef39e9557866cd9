"""The `odpipe` command line: flags only, one module per command (or pair of commands); each calls its
step's run(). A subcommand imports only what its extra installs."""

from __future__ import annotations

import sys

from odpipe.cli import checks, export, local, prepare, serve, train
from odpipe.cli.app import app

__all__ = ["app", "main"]

#: every command, in the order `odpipe --help` lists them: the steps, the local runner, serving, checks
COMMANDS = (
    ("prepare", prepare.prepare),
    ("train", train.train),
    ("export-deploy", export.export_deploy),
    ("run", local.run),
    ("demo", local.demo),
    ("serve", serve.serve),
    ("check-serve", serve.check_serve),
    ("check-s3", checks.check_s3),
    ("check-inputs", checks.check_inputs),
)
for _name, _command in COMMANDS:
    app.command(_name)(_command)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
