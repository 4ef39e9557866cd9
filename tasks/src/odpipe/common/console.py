"""Output for people: rich on a terminal, plain lines (one per event, no carriage returns) in logs."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from odpipe.common.jsonfile import write_json as _write_json

console = Console(stderr=True, highlight=False, soft_wrap=True)


def info(message: str) -> None:
    console.print(message, markup=False) if not console.is_terminal else console.print(message)


def warn(message: str) -> None:
    """A warning line in the log (something degraded, the step goes on)."""
    console.print(f"WARNING {message}", markup=False)


@contextlib.contextmanager
def progress(description: str, total: int | None) -> Iterator[Callable[..., None]]:
    """A progress bar on a TTY; in a log, one line at the start and one at the end. ``advance(n)`` counts n
    more done; ``advance(n, total=t)`` also sets the total (work discovered as it goes, like a listing)."""
    if not console.is_terminal:
        console.print(f"{description}: {total if total is not None else '?'} to do", markup=False)
        done = [0]

        def count(n: int, total: int | None = None) -> None:
            done[0] += n

        yield count
        console.print(f"{description}: done ({done[0]})", markup=False)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int, total: int | None = None) -> None:
            bar.update(task, advance=n, **({"total": total} if total is not None else {}))

        yield advance


def write_json(path: Path, doc: Any) -> None:
    """Kept for callers that import it from here (odpipe.local); the writer is `jsonfile.write_json`."""
    _write_json(path, doc)
