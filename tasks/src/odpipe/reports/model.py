"""model-report.html (export-deploy): the card's facts, PyTorch vs ONNX, latency, sample images through
the ONNX model, and the previously deployed version on the same dataset."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from odpipe.coco.evaluate import REPORT_CONF
from odpipe.formats import contract
from odpipe.reports.dataset import sample_images
from odpipe.reports.evaluation import image_boxes
from odpipe.reports.html import Page, Rendered
from odpipe.reports.images import PREDICTED, Drawn, add_image
from odpipe.reports.plots import add_plot, bars
from odpipe.reports.write import render_report

TITLE = "odpipe model report"


def _get(doc: dict[str, Any], *path: str) -> Any:
    for key in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)  # type: ignore[assignment]
    return doc


def model_report(
    card: dict[str, Any],
    gt: dict[str, Any],
    detections: list[dict[str, Any]],
    images_dir: Path,
    previous: dict[str, Any] | None,
) -> Rendered:
    """The page, from the published card, the val COCO instances, the ONNX model's detections on them
    and the previous deployed card on the same dataset (None when there is none)."""

    def build(page: Page) -> None:
        _facts(page, card)
        _parity(page, card)
        _latency(page, card)
        _samples(page, gt, detections, images_dir)
        _previous(page, card, previous)

    title = f"{TITLE}: {card.get('name', '?')} version {card.get('version', '?')}"
    return render_report(title, build, contract.MODEL_REPORT)


def _facts(page: Page, card: dict[str, Any]) -> None:
    page.heading("Model card", "card")
    rows = [
        ("name", card.get("name")),
        ("version", card.get("version")),
        ("model", card.get("uri")),
        ("dataset id", card.get("dataset_id")),
        ("created", card.get("created_at")),
        ("precision", card.get("precision")),
        ("sha256", card.get("sha256")),
        ("input size", _get(card, "export", "imgsz")),
        ("opset", _get(card, "export", "opset")),
        ("dynamic batch", _get(card, "export", "dynamic_batch")),
        ("epochs trained", _get(card, "training", "epochs_done")),
        ("training run", _get(card, "training", "run_id")),
        ("workflow", _get(card, "workflow", "name")),
        ("image", _get(card, "images", "image")),
        ("classes", ", ".join(f"{c['name']} ({c['coco_id']})" for c in card.get("classes", []))),
    ]
    page.table(["fact", "value"], [list(r) for r in rows], ident="card-table")


def _parity(page: Page, card: dict[str, Any]) -> None:
    page.heading("PyTorch vs ONNX (COCO on the val split)", "parity")
    train, onnx = _get(card, "metrics", "train") or {}, _get(card, "metrics", "onnx") or {}
    rows = [[k, float(train[k]), float(onnx[k]), float(onnx[k]) - float(train[k])] for k in train if k in onnx]
    page.table(["metric", "PyTorch", f"ONNX ({card.get('precision', '?')})", "delta"], rows, ident="parity-table")
    if rows:
        names = [r[0] for r in rows]
        add_plot(
            page,
            "PyTorch vs ONNX",
            bars(
                names,
                {"PyTorch": [max(r[1], 0.0) for r in rows], "ONNX": [max(r[2], 0.0) for r in rows]},
                "value",
                "COCO metrics (-1, undefined, drawn as 0)",
            ),
        )
    gate = _get(card, "parity", "map50_95") or {}
    tensor = _get(card, "parity", "tensor") or {}
    page.heading("Parity", "tensor")
    page.table(
        ["check", "value"],
        [
            ["mAP50-95 delta (ONNX - PyTorch)", gate.get("delta")],
            ["mAP50-95 tolerance", gate.get("tolerance")],
            ["tensor parity images", tensor.get("images")],
            ["max |box| difference (px)", tensor.get("max_abs_box")],
            ["max |score| difference", tensor.get("max_abs_score")],
            ["compared", tensor.get("compared")],
        ],
        ident="tensor-table",
    )


def _latency(page: Page, card: dict[str, Any]) -> None:
    page.heading("Latency (batch 1, CPU)", "latency")
    latency = card.get("latency") or {}
    page.table(
        ["measure", "value"],
        [[k, v] for k, v in latency.items() if not isinstance(v, dict | list)],
        ident="latency-table",
    )


def _samples(page: Page, gt: dict[str, Any], detections: list[dict[str, Any]], images_dir: Path) -> None:
    page.heading(f"Validation images through the ONNX model (score >= {REPORT_CONF})", "samples")
    names = {int(c["id"]): str(c["name"]) for c in gt.get("categories", [])}
    _, found = image_boxes(gt, detections, REPORT_CONF)
    for img in sample_images(gt):
        dets = found.get(int(img["id"]), [])
        drawn = [
            Drawn(tuple(d["bbox"]), f"{names.get(d['category_id'], '?')} {d['score']:.2f}", PREDICTED) for d in dets
        ]
        add_image(page, images_dir / img["file_name"], drawn, f"{img['file_name']}: {len(dets)} detections")


def _previous(page: Page, card: dict[str, Any], previous: dict[str, Any] | None) -> None:
    page.heading("Against the previously deployed version", "previous")
    if previous is None:
        page.text(f"No earlier version of this model was deployed on dataset {card.get('dataset_id')}.")
        return
    before, now = _get(previous, "metrics", "onnx") or {}, _get(card, "metrics", "onnx") or {}
    page.text(f"version {previous.get('version')} (created {previous.get('created_at')}), same dataset")
    rows = [[k, float(before[k]), float(now[k]), float(now[k]) - float(before[k])] for k in now if k in before]
    page.table(
        ["metric (ONNX)", f"version {previous.get('version')}", f"version {card.get('version')}", "delta"],
        rows,
        ident="previous-table",
    )
