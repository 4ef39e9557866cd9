"""Validation findings: collected per kind, written to report.json and summarised for a person."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["error", "warning", "info"]
FIRST_IDS = 10


@dataclass
class Finding:
    code: str
    level: Level
    message: str
    count: int = 0
    first: list[dict[str, Any]] = field(default_factory=list)


# What each kind of finding means; the message a person reads. `level` is the default policy;
# --strict raises every warning to an error.
KINDS: dict[str, tuple[Level, str]] = {
    "image-missing": ("warning", "image file not found under the images root; image and its boxes dropped"),
    "image-ambiguous": ("warning", "file name matches several files by basename; image and its boxes dropped"),
    "image-unreadable": ("warning", "image file unreadable or corrupt; image and its boxes dropped"),
    "image-size-mismatch": ("warning", "real image size differs from declared width/height; image dropped"),
    "image-duplicate-id": ("warning", "duplicate image id; every image with this id and its boxes dropped"),
    "image-duplicate-file": ("warning", "several images name the same file; later ones dropped"),
    "image-path-escapes": ("error", "file_name escapes the images root ('..'); image rejected"),
    "image-bad-field": ("warning", "image entry lacks a valid id, file_name, width or height; dropped"),
    "image-foreign-path": ("info", "file_name is an absolute path from elsewhere; resolved by basename"),
    "image-resolved-by-basename": ("info", "file_name's subfolders not found; resolved by basename"),
    "image-background": ("info", "image has no boxes; kept as background up to --background-ratio"),
    "image-background-dropped": ("info", "background image over --background-ratio; not used"),
    "annotation-unknown-image": ("warning", "annotation's image_id is not an image (or its image was dropped)"),
    "annotation-unknown-category": ("warning", "annotation's category_id is not in categories; dropped"),
    "annotation-duplicate-id": ("warning", "duplicate annotation id; exact copies dropped, others renumbered"),
    "annotation-bad-bbox": ("warning", "bbox is not 4 finite numbers; dropped"),
    "annotation-empty-bbox": ("warning", "bbox has zero or negative width/height; dropped"),
    "annotation-bbox-clipped": ("info", "bbox slightly outside the image; clipped"),
    "annotation-bbox-outside": ("warning", "bbox outside the image beyond the tolerance; dropped"),
    "annotation-bad-field": ("warning", "annotation lacks a valid id, image_id or category_id; dropped"),
    "annotation-crowd": ("info", "iscrowd=1: not a training target, kept for evaluation"),
    "category-duplicate-id": ("warning", "duplicate category id; later entries ignored"),
    "category-duplicate-name": ("warning", "duplicate category name; disambiguated with its id"),
    "category-bad-field": ("warning", "category lacks a valid integer id or a name; ignored"),
    "category-no-boxes": ("info", "category has no boxes; kept as a class, reported"),
    "category-id-zero": ("info", "category id 0 (allowed; class indices are remapped)"),
    "category-non-contiguous": ("info", "category ids are not 0..n-1; mapped to contiguous class indices"),
}


class Report:
    def __init__(self, *, strict: bool = False) -> None:
        self.strict = strict
        self._findings: dict[str, Finding] = {}
        self.counts: dict[str, Any] = defaultdict(int)

    def add(self, code: str, file: str, **ids: Any) -> None:
        level, message = KINDS[code]
        if self.strict and level == "warning":
            level = "error"
        finding = self._findings.get(code)
        if finding is None:
            finding = self._findings[code] = Finding(code, level, message)
        finding.count += 1
        if len(finding.first) < FIRST_IDS:
            finding.first.append({"file": file, **ids})

    def fatal(self, code: str, file: str, message: str, **ids: Any) -> None:
        """A finding that fails the run whatever the policy (e.g. nothing trainable remains)."""
        self._findings[code] = Finding(code, "error", message, 1, [{"file": file, **ids}])

    @property
    def findings(self) -> list[Finding]:
        order = {"error": 0, "warning": 1, "info": 2}
        return sorted(self._findings.values(), key=lambda f: (order[f.level], f.code))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.errors,
            "strict": self.strict,
            "errors": sum(f.count for f in self.errors),
            "warnings": sum(f.count for f in self.warnings),
            "counts": dict(self.counts),
            "findings": [
                {"code": f.code, "level": f.level, "message": f.message, "count": f.count, "first": f.first}
                for f in self.findings
            ],
        }

    def summary_lines(self) -> list[str]:
        """A plain-text summary (also what the error message shows): one line per finding kind."""
        lines = []
        for f in self.findings:
            ids = ", ".join(_describe(x) for x in f.first[:3])
            more = f" (+{f.count - 3} more)" if f.count > 3 else ""
            lines.append(f"{f.level.upper():7} {f.code} x{f.count}: {f.message}; first: {ids}{more}")
        return lines


def _describe(ids: dict[str, Any]) -> str:
    parts = [f"{k}={v!r}" for k, v in ids.items() if k != "file"]
    return f"{ids.get('file', '?')}[{' '.join(parts)}]"
