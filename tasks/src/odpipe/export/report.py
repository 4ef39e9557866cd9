"""model-report.html for one publish: rendered once from the final card (with its version), stored with
its model-report-files/ beside the model before the card (so a version never has a card without its
report, unless writing the report failed, which only warns) and written as the step's output artifact."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from odpipe.common.console import warn
from odpipe.common.jsonfile import read_json_object
from odpipe.formats.dataset_manifest import Dataset

if TYPE_CHECKING:
    from odpipe.reports.html import Rendered


class ModelReport:
    def __init__(self, repo: Any, name: str, dataset: Dataset, detections: list[dict[str, Any]]) -> None:
        self.dataset = dataset
        self.detections = detections
        self.rendered: Rendered | None = None
        try:  # the version deployed before this one on the same dataset
            self.previous = repo.latest_card(name, dataset.dataset_id)
        except Exception as exc:
            warn(f"model report: previous version unreadable ({type(exc).__name__}: {exc}); not compared")
            self.previous = None

    def __call__(self, card: dict[str, Any]) -> Rendered:
        from odpipe.formats import contract
        from odpipe.reports.model import TITLE, model_report
        from odpipe.reports.write import failed_page

        if self.rendered is None:
            try:
                gt = read_json_object(self.dataset.val_coco, "val COCO instances")
                self.rendered = model_report(card, gt, self.detections, self.dataset.val_images, self.previous)
            except Exception as exc:  # a report never fails its step
                self.rendered = failed_page(TITLE, exc, contract.MODEL_REPORT)
        return self.rendered

    def write_output(self, path: Path, card: dict[str, Any]) -> None:
        from odpipe.reports.model import TITLE
        from odpipe.reports.write import write_report

        write_report(path, TITLE, lambda: self(card))
