"""The readable summary prepare prints at the end."""

from __future__ import annotations

from rich.table import Table

from odpipe.common.console import console
from odpipe.prepare.run import PrepareResult


def print_summary(result: PrepareResult) -> None:
    m = result.manifest
    table = Table(title=f"dataset {result.dataset_id}" + (" (reused)" if result.reused else ""))
    table.add_column("split")
    table.add_column("images", justify="right")
    table.add_column("boxes", justify="right")
    table.add_column("background", justify="right")
    for split, c in m["splits"].items():
        table.add_row(split, str(c["images"]), str(c["boxes"]), str(c["background"]))
    console.print(table)
    r = result.report
    classes = ", ".join(f"{c['index']}={c['name']} (coco {c['coco_id']})" for c in m["classes"])
    console.print(f"classes: {classes}", markup=False)
    console.print(f"{sum(f.count for f in r.warnings)} warning(s); dataset at {result.dataset_dir}", markup=False)
