"""Helpers for running the odpipe CLI in-process and reading what it wrote."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odpipe.cli import app
from typer.testing import CliRunner


@dataclass
class Run:
    exit_code: int
    output: str
    root: Path

    @property
    def outputs(self) -> Path:
        return self.root / "artifacts" / "outputs"

    def report(self) -> dict[str, Any]:
        return json.loads((self.outputs / "report.json").read_text())

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.outputs / "dataset.json").read_text())

    def codes(self) -> dict[str, dict[str, Any]]:
        return {f["code"]: f for f in self.report()["findings"]}


def odpipe(root: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    runner = CliRunner()
    result = runner.invoke(
        app,
        list(args),
        env={"ODPIPE_ROOT": str(root), "COLUMNS": "200", **(env or {})},
        catch_exceptions=False,
    )
    return Run(result.exit_code, result.output, root)
