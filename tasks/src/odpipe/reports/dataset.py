"""dataset-report.html (prepare): what the prepared dataset holds, from its manifest, the COCO
instances of each split and the validation report."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from odpipe.formats import contract
from odpipe.reports.html import Page, Rendered, add_drawn
from odpipe.reports.images import TRUTH, Drawn, add_image
from odpipe.reports.svg import bar_chart, histogram_chart
from odpipe.reports.write import render_report

TITLE = "odpipe dataset report"
SAMPLES = 6
# COCO's area ranges (pycocotools' areaRng): small < 32², medium < 96², large above.
SMALL, MEDIUM = 32**2, 96**2


def size_class(area: float) -> str:
    return "small" if area < SMALL else "medium" if area < MEDIUM else "large"


def sample_images(doc: dict[str, Any], n: int = SAMPLES, with_boxes: set[int] | None = None) -> list[dict[str, Any]]:
    """The images a report shows for a split: those with boxes first, by file name (the dataset and the
    model report show the same ones). ``with_boxes``: the ids of images with boxes, when known."""
    if with_boxes is None:
        with_boxes = {int(a["image_id"]) for a in doc.get("annotations", [])}
    return sorted(doc.get("images", []), key=lambda i: (int(i["id"]) not in with_boxes, i["file_name"]))[:n]


@dataclass(frozen=True)
class SplitBoxes:
    """Every box of a split, columnar: its image id, COCO category id, x, y, w, h (rows of ``xywh``) and
    iscrowd. prepare hands these over as a split's "boxes"; a COCO document's annotations give the same."""

    image: npt.NDArray[np.int64]
    category: npt.NDArray[np.int64]
    xywh: npt.NDArray[np.float64]
    crowd: npt.NDArray[np.bool_]

    @classmethod
    def of(cls, doc: dict[str, Any]) -> SplitBoxes:
        if "boxes" in doc:
            return doc["boxes"]  # type: ignore[no-any-return]
        anns = doc.get("annotations", [])
        return cls(
            np.array([int(a["image_id"]) for a in anns], dtype=np.int64),
            np.array([int(a["category_id"]) for a in anns], dtype=np.int64),
            np.array([[float(v) for v in a["bbox"]] for a in anns], dtype=np.float64).reshape(-1, 4),
            np.array([bool(a.get("iscrowd")) for a in anns], dtype=bool),
        )

    def trainable(self) -> SplitBoxes:
        keep = ~self.crowd
        return SplitBoxes(self.image[keep], self.category[keep], self.xywh[keep], self.crowd[keep])


def dataset_report(
    manifest: dict[str, Any],
    findings: dict[str, Any],
    splits: dict[str, dict[str, Any]],
    root: Path,
    sampled: str | None = None,
) -> Rendered:
    """The page. ``splits``: split name -> COCO instances of that split (file names under
    ``root/images/<split>``); ``findings``: report.json; ``sampled``: which images ``splits`` holds when
    not all of them (large sets)."""
    data: list[PlotData] = []  # made by the first chart drawn: a failure there is a note, as any chart's

    def plot(page: Page, caption: str) -> None:
        def draw() -> bytes:
            data[:] = data or [plot_data(manifest, splits)]
            return charts(data[0])[caption]()

        add_drawn(page, f"plot '{caption}'", draw, "image/svg+xml", caption)

    def build(page: Page) -> None:
        page.text(f"dataset {manifest['dataset_id']}", cls="meta")
        _counts(page, manifest)
        plot(page, BARS)
        if sampled:
            page.note(f"Per-class and size statistics below are computed on {sampled} (a large set).")
        _images_per_class(page, manifest, splits)
        _sizes(page, splits)
        plot(page, AREAS)
        plot(page, RATIOS)
        _findings(page, findings)
        _samples(page, splits, root)

    return render_report(TITLE, build, contract.DATASET_REPORT)


def _counts(page: Page, manifest: dict[str, Any]) -> None:
    counts: dict[str, Any] = manifest["splits"]
    page.heading("Images and boxes per split", "splits")
    rows = [[s, c["images"], c["boxes"], c.get("crowd", 0), c["background"]] for s, c in counts.items()]
    page.table(["split", "images", "boxes", "crowd", "background"], rows, ident="splits-table")
    page.heading("Boxes per class", "classes")
    rows = [
        [c["index"], c["name"], c["coco_id"], *(counts[s]["per_class"].get(c["name"], 0) for s in counts)]
        for c in manifest["classes"]
    ]
    page.table(["index", "class", "COCO id", *counts], rows, ident="classes-table")


def _images_per_class(page: Page, manifest: dict[str, Any], splits: dict[str, dict[str, Any]]) -> None:
    page.heading("Images per class (images holding at least one box of the class)", "class-images")
    holding: dict[str, dict[int, int]] = {}
    for split, doc in splits.items():
        holding[split] = images_per_class(SplitBoxes.of(doc), [int(c["coco_id"]) for c in manifest["classes"]])
    rows = [[c["name"], c["coco_id"], *(holding[s][int(c["coco_id"])] for s in splits)] for c in manifest["classes"]]
    page.table(["class", "COCO id", *splits], rows, ident="class-images-table")


def _sizes(page: Page, splits: dict[str, dict[str, Any]]) -> None:
    page.heading("Box sizes (COCO small / medium / large)", "sizes")
    rows = []
    for split, doc in splits.items():
        by = size_counts(SplitBoxes.of(doc))
        rows.append([split, by["small"], by["medium"], by["large"]])
    page.table(["split", "small (< 32²)", "medium (< 96²)", "large"], rows, ident="sizes-table")
    page.text("Areas are box width x height in original pixels, as COCOeval bins them.", cls="meta")


def images_per_class(boxes: SplitBoxes, class_ids: list[int]) -> dict[int, int]:
    """How many images hold at least one (non-crowd) box of each class."""
    trainable = boxes.trainable()
    cids, which = np.unique(trainable.category, return_inverse=True)
    images, image = np.unique(trainable.image, return_inverse=True)
    pairs = np.unique(which.astype(np.int64) * max(len(images), 1) + image)  # one key per (class, image)
    held = np.bincount(pairs // max(len(images), 1), minlength=len(cids))
    per_class = dict.fromkeys(class_ids, 0)
    for cid, n in zip(cids.tolist(), held.tolist(), strict=True):
        if cid in per_class:
            per_class[cid] = n
    return per_class


def size_counts(boxes: SplitBoxes) -> dict[str, int]:
    """Non-crowd boxes per COCO size class, binned as size_class bins one area."""
    xywh = boxes.trainable().xywh
    area = xywh[:, 2] * xywh[:, 3]
    small = area < SMALL
    medium = ~small & (area < MEDIUM)
    return {"small": int(small.sum()), "medium": int(medium.sum()), "large": len(area) - int((small | medium).sum())}


BARS = "boxes per class and split"
AREAS = "box area distribution (log10 px²)"
RATIOS = "aspect ratio distribution (log10 w/h)"
Values = npt.NDArray[np.float64]
PlotData = tuple[list[str], dict[str, list[int]], dict[str, Values], dict[str, Values]]


def plot_data(manifest: dict[str, Any], splits: dict[str, dict[str, Any]]) -> PlotData:
    """What the page's plots show: class names, boxes per class, box areas and aspect ratios per split."""
    counts: dict[str, Any] = manifest["splits"]
    names = [c["name"] for c in manifest["classes"]]
    series = {s: [counts[s]["per_class"].get(n, 0) for n in names] for s in counts}
    xywh = {s: SplitBoxes.of(d).trainable().xywh for s, d in splits.items()}
    areas = {s: b[:, 2] * b[:, 3] for s, b in xywh.items()}
    ratios = {s: b[b[:, 3] > 0, 2] / b[b[:, 3] > 0, 3] for s, b in xywh.items()}
    return names, series, areas, ratios


def charts(data: PlotData) -> dict[str, Callable[[], bytes]]:
    """The page's plots as SVG, by caption (each drawn when called, so that one failing is a note)."""
    names, series, areas, ratios = data
    return {
        BARS: lambda: bar_chart(names, series, "boxes", "boxes per class"),
        AREAS: lambda: histogram_chart(areas, "area (px²)", "box area", log=True),
        RATIOS: lambda: histogram_chart(ratios, "w/h", "aspect ratio", log=True),
    }


def _findings(page: Page, findings: dict[str, Any]) -> None:
    page.heading("Validation findings", "findings")
    items = findings.get("findings", [])
    if not items:
        page.text("No findings: every image and box passed validation.")
        return
    rows = []
    for f in items:
        first = ", ".join(
            " ".join(f"{k}={v}" for k, v in ids.items() if k != "file") or str(ids.get("file", ""))
            for ids in f.get("first", [])
        )
        rows.append([f["level"], f["code"], f["count"], first, f["message"]])
    page.table(["level", "finding", "count", "first ids", "meaning"], rows, ident="findings-table")


def _samples(page: Page, splits: dict[str, dict[str, Any]], root: Path) -> None:
    for split, doc in splits.items():
        page.heading(f"Sample images: {split}", f"samples-{split}")
        names = {c["id"]: c["name"] for c in doc.get("categories", [])}
        boxes = SplitBoxes.of(doc)
        for img in sample_images(doc, with_boxes=set(boxes.image.tolist())):
            mine = np.flatnonzero(boxes.image == int(img["id"]))
            cats, places = boxes.category[mine].tolist(), boxes.xywh[mine].tolist()
            drawn = [Drawn(tuple(box), names.get(c, str(c)), TRUTH) for c, box in zip(cats, places, strict=True)]
            add_image(page, root / "images" / split / img["file_name"], drawn, f"{img['file_name']}: {len(mine)} boxes")
