"""python -m e2e.scenarios: the scenarios of `make e2e` on the running cluster, and their summary."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

from e2e.cluster import netns, store
from e2e.cluster.images import load_cluster_images, load_docker_image, task_images
from e2e.cluster.up import is_up

from . import charts, data, faults, manual, speed, umbrella
from .fresh import fresh_cluster
from .summary import Report, print_summary

SCENARIOS: dict[str, Callable[[Report, Path], None]] = {"umbrella": umbrella.run, "manual": manual.run}
#: run only when named with --only (minutes each, measurements rather than checks)
EXTRA: dict[str, Callable[[Report, Path], None]] = {"speed": speed.run, "faults": faults.run}
app = typer.Typer(add_completion=False, help=__doc__)
console = Console()


def say(msg: str) -> None:
    console.print(msg, markup=False, highlight=False)


def load_images(r: Report) -> None:
    with r.step("load the cluster's and the odpipe images into the node") as note:
        load_cluster_images(r.say)
        images = task_images()
        loaded = [ref for ref in images.values() if load_docker_image(ref, log=r.say)]
        note[""] = f"{len(loaded)} loaded, {len(images) - len(loaded)} already there; {store.usage()}"


def run_one(name: str, r: Report, work: Path) -> None:
    try:
        with r.step(f"a cluster without an earlier run's namespaces, Argo CRDs or volumes ({name})"):
            fresh_cluster()
        {**SCENARIOS, **EXTRA}[name](r, work)
    except Exception as exc:
        say(f"FAILED ({name}): {exc}")
        if not r.failed:  # raised between steps
            r.failed.append(str(exc)[:200])
    finally:
        charts.unpack_umbrella()  # packed for this run only, never left behind


@app.command()
def main(
    only: list[str] = typer.Option(
        None, help=f"Scenarios to run (default: {', '.join(SCENARIOS)}, in order; also: {', '.join(EXTRA)})"
    ),
) -> None:
    """Run the scenarios in order on a fresh cluster state each, then print the summary."""
    if not is_up():
        say("no cluster is up: run `make cluster` first")
        raise typer.Exit(1)
    if not data.present():
        say(f"the bccd test set is not at {data.TESTDATA}: make e2e needs ../shared/testdata")
        raise typer.Exit(1)
    netns.enter()
    started = time.monotonic()
    reports: dict[str, Report] = {}
    work = Path(tempfile.mkdtemp(prefix="odpipe-e2e-"))
    try:
        first = reports.setdefault("images", Report(say))
        load_images(first)
        for name in only or list(SCENARIOS):
            run_one(name, reports.setdefault(name, Report(say)), work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_summary(reports, time.monotonic() - started)
    if any(r.failed for r in reports.values()):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
