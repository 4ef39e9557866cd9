"""dataset-report.html (prepare): what the prepared dataset holds, from its manifest, the COCO
instances of each split and the validation report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from odpipe.reports.html import Page, add_drawn
from odpipe.reports.images import TRUTH, Drawn, add_image
from odpipe.reports.plots import Draw, add_plot, bars, figure_png, histograms
from odpipe.reports.write import render_report

TITLE = "odpipe dataset report"
SAMPLES = 6
# COCO's area ranges (pycocotools' areaRng): small < 32², medium < 96², large above.
SMALL, MEDIUM = 32**2, 96**2


def size_class(area: float) -> str:
    return "small" if area < SMALL else "medium" if area < MEDIUM else "large"


def sample_images(doc: dict[str, Any], n: int = SAMPLES) -> list[dict[str, Any]]:
    """The images a report shows for a split: those with boxes first, by file name (the dataset and the
    model report show the same ones)."""
    with_boxes = {int(a["image_id"]) for a in doc.get("annotations", [])}
    return sorted(doc.get("images", []), key=lambda i: (int(i["id"]) not in with_boxes, i["file_name"]))[:n]


def _boxes(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for a in doc.get("annotations", []) if not a.get("iscrowd")]


def dataset_report(
    manifest: dict[str, Any],
    findings: dict[str, Any],
    splits: dict[str, dict[str, Any]],
    root: Path,
    sampled: str | None = None,
    rendered: dict[str, bytes] | None = None,
) -> str:
    """The page. ``splits``: split name -> COCO instances of that split (file names under
    ``root/images/<split>``); ``findings``: report.json; ``sampled``: which images ``splits`` holds when
    not all of them (large sets); ``rendered``: the plots as `render_plots` made them, by caption (drawn
    here when absent)."""

    def plot(page: Page, caption: str) -> None:
        if rendered and caption in rendered:
            add_drawn(page, f"plot '{caption}'", lambda: rendered[caption], "image/png", caption)
        else:
            add_plot(page, caption, plots(manifest, splits)[caption])

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

    return render_report(TITLE, build)


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
        pairs = {(int(a["category_id"]), int(a["image_id"])) for a in _boxes(doc)}  # one pass over the boxes
        per_class: dict[int, int] = {int(c["coco_id"]): 0 for c in manifest["classes"]}
        for cid, _ in pairs:
            if cid in per_class:
                per_class[cid] += 1
        holding[split] = per_class
    rows = [[c["name"], c["coco_id"], *(holding[s][int(c["coco_id"])] for s in splits)] for c in manifest["classes"]]
    page.table(["class", "COCO id", *splits], rows, ident="class-images-table")


def _sizes(page: Page, splits: dict[str, dict[str, Any]]) -> None:
    page.heading("Box sizes (COCO small / medium / large)", "sizes")
    rows = []
    for split, doc in splits.items():
        by = {"small": 0, "medium": 0, "large": 0}
        for a in _boxes(doc):
            by[size_class(float(a["bbox"][2]) * float(a["bbox"][3]))] += 1
        rows.append([split, by["small"], by["medium"], by["large"]])
    page.table(["split", "small (< 32²)", "medium (< 96²)", "large"], rows, ident="sizes-table")
    page.text("Areas are box width x height in original pixels, as COCOeval bins them.", cls="meta")


BARS = "boxes per class and split"
AREAS = "box area distribution (log10 px²)"
RATIOS = "aspect ratio distribution (log10 w/h)"
PlotData = tuple[list[str], dict[str, list[int]], dict[str, list[float]], dict[str, list[float]]]


def plot_data(manifest: dict[str, Any], splits: dict[str, dict[str, Any]]) -> PlotData:
    """What the page's plots show: class names, boxes per class, box areas and aspect ratios per split."""
    counts: dict[str, Any] = manifest["splits"]
    names = [c["name"] for c in manifest["classes"]]
    series = {s: [counts[s]["per_class"].get(n, 0) for n in names] for s in counts}
    wh = {s: [(float(a["bbox"][2]), float(a["bbox"][3])) for a in _boxes(d)] for s, d in splits.items()}
    areas = {s: [w * h for w, h in pairs] for s, pairs in wh.items()}
    ratios = {s: [w / h for w, h in pairs if h > 0] for s, pairs in wh.items()}
    return names, series, areas, ratios


def _draws(data: PlotData) -> dict[str, Draw]:
    names, series, areas, ratios = data
    return {
        BARS: bars(names, series, "boxes", "boxes per class"),
        AREAS: histograms(areas, "area (px²)", "box area", log=True),
        RATIOS: histograms(ratios, "w/h", "aspect ratio", log=True),
    }


def plots(manifest: dict[str, Any], splits: dict[str, dict[str, Any]]) -> dict[str, Draw]:
    return _draws(plot_data(manifest, splits))


def warm_up_plots() -> None:
    """Import what drawing needs (a worker does this while prepare names the dataset)."""
    figure_png(lambda _fig: None, (1.0, 1.0))


def render_plots(data: PlotData) -> dict[str, bytes]:
    """The page's plots as PNG, by caption (for a worker process: matplotlib's import and drawing take
    ~1.4 s, which prepare overlaps with writing the dataset)."""
    return {caption: figure_png(draw) for caption, draw in _draws(data).items()}


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
        by_image: dict[int, list[dict[str, Any]]] = {}
        for a in doc.get("annotations", []):
            by_image.setdefault(int(a["image_id"]), []).append(a)
        for img in sample_images(doc):
            anns = by_image.get(int(img["id"]), [])
            drawn = [Drawn(tuple(a["bbox"]), names.get(a["category_id"], str(a["category_id"])), TRUTH) for a in anns]
            add_image(page, root / "images" / split / img["file_name"], drawn, f"{img['file_name']}: {len(anns)} boxes")
