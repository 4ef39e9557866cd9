"""Write a report so that it never fails its step: whatever the builder raises becomes a note on the
page and a warning in the log, and the page is written anyway (so Argo has a page to show; the chart
still declares the reports optional, so not even a failed write fails the step)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from odpipe.atomic import write_text
from odpipe.console import info, warn
from odpipe.reports.html import Page


def render_report(title: str, build: Callable[[Page], None]) -> str:
    page = Page(title)
    try:
        build(page)
    except Exception as exc:  # a report never fails its step
        message = f"the report is incomplete: {type(exc).__name__}: {exc}"
        warn(message)
        page.note(message)
    return page.render()


def failed_page(title: str, exc: Exception) -> str:
    """A page that only says why the report could not be built."""

    def build(page: Page) -> None:
        raise exc

    return render_report(title, build)


def write_report(path: Path, title: str, make: Callable[[], str]) -> Path | None:
    """Make and write a report's HTML; whatever ``make`` raises gives a page that says so. None (with a
    warning) when even writing the file failed."""
    try:
        try:
            html = make()
        except Exception as exc:  # a report never fails its step
            html = failed_page(title, exc)
        write_text(path, html)
    except Exception as exc:
        warn(f"report {path} not written: {type(exc).__name__}: {exc}")
        return None
    info(f"report: {path}")
    return path
