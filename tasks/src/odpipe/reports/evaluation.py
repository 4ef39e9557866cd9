"""evaluation-report.html (train): COCO stats, per-class AP, precision-recall curves from COCOeval's own
precision array, a confusion matrix, training curves from results.csv and the worst validation images."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from odpipe.coco.evaluate import REPORT_CONF, EvalDetail
from odpipe.formats import contract
from odpipe.reports.confusion import confusion_matrix
from odpipe.reports.html import Page, Rendered
from odpipe.reports.images import PREDICTED, TRUTH, Drawn, add_image
from odpipe.reports.plots import add_plot, bars, curves, matrix
from odpipe.reports.write import render_report

TITLE = "odpipe evaluation report"
WORST = 8
CSV_CURVES = {
    "losses": ("train/box_loss", "train/cls_loss", "train/dfl_loss", "val/box_loss", "val/cls_loss", "val/dfl_loss"),
    "validation metrics": ("metrics/precision(B)", "metrics/recall(B)", "metrics/mAP50(B)", "metrics/mAP50-95(B)"),
}


def evaluation_report(
    metrics: dict[str, Any],
    detail: EvalDetail | None,
    gt: dict[str, Any],
    detections: list[dict[str, Any]],
    results_csv: Path | None,
    images_dir: Path,
) -> Rendered:
    """The page, from metrics.json, COCOeval's detail, the val COCO instances, the detections scored
    (COCO results) and Ultralytics' results.csv."""

    def build(page: Page) -> None:
        page.text(f"dataset {metrics.get('dataset_id', '?')}, run {metrics.get('run_id', '?')}", cls="meta")
        stats_tables(page, metrics)
        _pr_curves(page, detail, gt)
        _confusion(page, gt, detections)
        _training(page, results_csv)
        worst_images(page, detail, gt, detections, images_dir)

    return render_report(TITLE, build, contract.EVALUATION_REPORT)


def stats_tables(page: Page, metrics: dict[str, Any], prefix: str = "") -> None:
    page.heading("COCO metrics (val split)", f"{prefix}stats")
    page.table(["metric", "value"], [[k, float(v)] for k, v in metrics["stats"].items()], ident=f"{prefix}stats-table")
    page.heading("AP (0.50:0.95) per class", f"{prefix}per-class")
    per_class = metrics.get("per_class", {})
    rows = [[int(cid), c["name"], float(c["AP"])] for cid, c in per_class.items()]
    page.table(["COCO id", "class", "AP"], rows, ident=f"{prefix}per-class-table")
    if rows:
        add_plot(page, "AP per class", bars([r[1] for r in rows], {"AP": [max(r[2], 0.0) for r in rows]}, "AP", "AP"))


def _pr_curves(page: Page, detail: EvalDetail | None, gt: dict[str, Any]) -> None:
    page.heading("Precision-recall curves (COCOeval's precision, area all, 100 detections)", "pr")
    if detail is None:
        page.note("no detections: COCOeval has no precision-recall curve to show")
        return
    names = {int(c["id"]): str(c["name"]) for c in gt.get("categories", [])}
    r = detail.recall_thresholds
    for label, table in (("IoU 0.5", detail.precision_50), ("IoU 0.5:0.95 (mean)", detail.precision_50_95)):
        lines = {}
        for cid, ps in table.items():
            kept = [(x, p) for x, p in zip(r, ps, strict=True) if p > -1]
            if kept:
                lines[f"{names.get(cid, cid)} ({cid})"] = ([x for x, _ in kept], [p for _, p in kept])
        if not lines:
            page.note(f"{label}: no class has ground truth to draw a curve for")
            continue
        add_plot(page, f"precision-recall per class, {label}", curves(lines, "recall", "precision", label))


def _confusion(page: Page, gt: dict[str, Any], detections: list[dict[str, Any]]) -> None:
    page.heading(f"Confusion matrix (detections scored >= {REPORT_CONF}, IoU >= 0.5)", "confusion")
    cats = gt.get("categories", [])
    ids = [int(c["id"]) for c in cats]
    labels = [str(c["name"]) for c in cats] + ["background"]
    counts = confusion_matrix(gt, detections, ids, REPORT_CONF)
    rows = [[labels[i], *(int(v) for v in counts[i])] for i in range(len(labels))]
    page.table(["true \\ predicted", *labels], rows, ident="confusion-table")
    add_plot(page, "confusion matrix", matrix(counts, labels, labels, "confusion matrix"), size=(6.0, 5.0))


def read_results_csv(path: Path) -> list[dict[str, float]]:
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        out.append({k.strip(): float(v) for k, v in row.items() if k and v not in (None, "")})
    return out


def _training(page: Page, results_csv: Path | None) -> None:
    page.heading("Training curves (Ultralytics results.csv)", "training")
    if results_csv is None or not results_csv.exists():
        page.note("no results.csv: training curves unavailable")
        return
    rows = read_results_csv(results_csv)
    epochs = [r["epoch"] for r in rows]
    for title, columns in CSV_CURVES.items():
        lines = {c: (epochs, [r[c] for r in rows]) for c in columns if rows and all(c in r for r in rows)}
        if lines:
            add_plot(page, f"{title} per epoch", curves(lines, "epoch", title, title))
        else:
            page.note(f"results.csv has none of the columns {', '.join(columns)}")


def image_boxes(doc: dict[str, Any], detections: list[dict[str, Any]], conf: float) -> tuple[dict, dict]:
    """Per image id: its ground truth annotations and its detections scored >= conf."""
    truth: dict[int, list[dict[str, Any]]] = {}
    for a in doc.get("annotations", []):
        truth.setdefault(int(a["image_id"]), []).append(a)
    found: dict[int, list[dict[str, Any]]] = {}
    for d in detections:
        if d["score"] >= conf:
            found.setdefault(int(d["image_id"]), []).append(d)
    return truth, found


def worst_images(
    page: Page, detail: EvalDetail | None, gt: dict[str, Any], detections: list[dict[str, Any]], images_dir: Path
) -> None:
    page.heading(f"Worst validation images (lowest recall at IoU 0.5, score >= {REPORT_CONF})", "worst")
    page.text("Left: ground truth (green). Right: predictions (red) with their scores.", cls="meta")
    recall = detail.image_recall if detail else {}
    images = {int(i["id"]): i for i in gt.get("images", [])}
    ranked = sorted(
        (i for i in images if recall.get(i) is not None or not detail), key=lambda i: (recall.get(i) or 0.0, i)
    )
    names = {int(c["id"]): str(c["name"]) for c in gt.get("categories", [])}
    truth, found = image_boxes(gt, detections, REPORT_CONF)
    for image_id in ranked[:WORST]:
        img = images[image_id]
        path = images_dir / img["file_name"]
        shown = recall.get(image_id)
        label = f"recall {shown:.2f}" if shown is not None else "recall n/a"
        t = [Drawn(tuple(a["bbox"]), names.get(a["category_id"], "?"), TRUTH) for a in truth.get(image_id, [])]
        p = [
            Drawn(tuple(d["bbox"]), f"{names.get(d['category_id'], '?')} {d['score']:.2f}", PREDICTED)
            for d in found.get(image_id, [])
        ]
        page.group(True)
        add_image(page, path, t, f"{img['file_name']}: ground truth ({len(t)})")
        add_image(page, path, p, f"{img['file_name']}: predictions ({len(p)}), {label}")
        page.group(False)
