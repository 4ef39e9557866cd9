"""Write a report so that it never fails its step: whatever the builder raises becomes a note on the
page and a warning in the log, and the page is written anyway (so Argo has a page to show; the chart
still declares the reports optional, so not even a failed write fails the step). Its pictures go to the
folder beside it first, so a page never links a picture that is not there yet."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from odpipe.common.atomic import write_text
from odpipe.common.console import info, warn
from odpipe.formats import contract
from odpipe.reports.html import Page, Rendered


def render_report(title: str, build: Callable[[Page], None], report_file: str) -> Rendered:
    """Build the page; `report_file` (contract.*_REPORT) names the folder its pictures go to."""
    page = Page(title, contract.report_files(report_file))
    try:
        build(page)
    except Exception as exc:  # a report never fails its step
        message = f"the report is incomplete: {type(exc).__name__}: {exc}"
        warn(message)
        page.note(message)
    return page.render()


def failed_page(title: str, exc: Exception, report_file: str) -> Rendered:
    """A page that only says why the report could not be built."""

    def build(page: Page) -> None:
        raise exc

    return render_report(title, build, report_file)


def write_rendered(path: Path, rendered: Rendered) -> None:
    """The pictures into `<report>-files/` beside the page, then the page."""
    files = path.parent / contract.report_files(path.name)
    shutil.rmtree(files, ignore_errors=True)
    if rendered.files:
        files.mkdir(parents=True)
        for name, data in rendered.files.items():
            (files / name).write_bytes(data)
    write_text(path, rendered.html)


def write_report(path: Path, title: str, make: Callable[[], Rendered]) -> Path | None:
    """Make and write a report; whatever ``make`` raises gives a page that says so. None (with a warning)
    when even writing the file failed."""
    try:
        try:
            rendered = make()
        except Exception as exc:  # a report never fails its step
            rendered = failed_page(title, exc, path.name)
        write_rendered(path, rendered)
    except Exception as exc:
        warn(f"report {path} not written: {type(exc).__name__}: {exc}")
        return None
    info(f"report: {path}")
    return path
