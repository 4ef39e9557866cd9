"""The HTML reports on the synthetic set without training: dataset-report.html from a real prepare run,
the evaluation and model pages from real COCOeval runs on known detections. The same checks run on the
reports of the trained pipelines in test_run.py (synthetic and bccd)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from helpers import odpipe
from odpipe.coco.evaluate import evaluate_detailed
from odpipe.common.storage import Storage
from odpipe.formats import contract, model_card
from odpipe.reports.html import Rendered, fmt
from odpipe.reports.write import write_rendered
from report_check import (
    check_dataset_report,
    check_evaluation_report,
    check_model_report,
    chromium_render,
    column,
    parse,
    served_with_argo_policy,
)

from e2e.scenarios.browser import CHECK_PATH, count_pictures

CSV_HEADER = (
    "epoch,time,train/box_loss,train/cls_loss,train/dfl_loss,metrics/precision(B),metrics/recall(B),"
    "metrics/mAP50(B),metrics/mAP50-95(B),val/box_loss,val/cls_loss,val/dfl_loss,lr/pg0,lr/pg1,lr/pg2"
)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from odpipe.coco.synthetic import make_dataset

    src = tmp_path_factory.mktemp("src")
    make_dataset(src, images=16, size=96, seed=3)
    root = tmp_path_factory.mktemp("root")
    run = odpipe(root, "prepare", "--annotations", str(src / "annotations.json"), "--images", str(src / "images"))
    assert run.exit_code == 0, run.output
    assert "report: " in run.output and contract.DATASET_REPORT in run.output
    return root


def test_dataset_report_of_prepare(prepared: Path, tmp_path: Path) -> None:
    outputs = prepared / "artifacts/outputs"
    manifest = json.loads((outputs / contract.DATASET_MANIFEST).read_text())
    findings = json.loads((outputs / contract.REPORT).read_text())
    assert findings["findings"], "the synthetic set's ids 1..3 give a category-non-contiguous finding"
    check_dataset_report(outputs / contract.DATASET_REPORT, manifest, findings, tmp_path, "dataset-unit")


def _val(prepared: Path) -> tuple[dict[str, Any], Path]:
    manifest = json.loads((prepared / "artifacts/outputs" / contract.DATASET_MANIFEST).read_text())
    root = prepared / "data" / manifest["paths"]["root"]
    return json.loads((root / "val_coco.json").read_text()), root / "images" / "val"


def _detections(gt: dict[str, Any]) -> tuple[list[dict[str, Any]], int, int]:
    """Known detections: every box found except the first (missed), the second under the next class
    (confused), each found box also once more, shifted and low-scored; returns them, misses, confusions."""
    ids = [c["id"] for c in gt["categories"]]
    out = []
    for n, a in enumerate(gt["annotations"]):
        if n == 0:
            continue
        cid = ids[(ids.index(a["category_id"]) + 1) % len(ids)] if n == 1 else a["category_id"]
        out.append({"image_id": a["image_id"], "category_id": cid, "bbox": list(a["bbox"]), "score": 0.9})
        x, y, w, h = a["bbox"]
        out.append({"image_id": a["image_id"], "category_id": cid, "bbox": [x + w / 2, y, w, h], "score": 0.05})
    return out, 1, 1


def test_a_large_set_report_samples_images_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Above the box budget the report's per-class statistics come from every k-th image (bounded memory
    at COCO scale); the page says so and the per-split counts still come whole from the manifest."""
    from odpipe.coco.synthetic import make_dataset
    from odpipe.prepare import run as step

    monkeypatch.setattr(step, "REPORT_BOX_BUDGET", 10)
    make_dataset(tmp_path / "src", images=16, size=96, seed=3)
    run = odpipe(tmp_path / "root", "prepare", "--annotations", str(tmp_path / "src/annotations.json"),
                 "--images", str(tmp_path / "src/images"))  # fmt: skip
    assert run.exit_code == 0, run.output
    page = (run.outputs / contract.DATASET_REPORT).read_text()
    assert "computed on every " in page and "th image of each split (a large set)" in page
    images = column(parse(page), "splits-table")
    assert images == {split: str(c["images"]) for split, c in run.manifest()["splits"].items()}


def test_evaluation_report_numbers_and_curves(prepared: Path, tmp_path: Path) -> None:
    from odpipe.reports.evaluation import evaluation_report
    from pycocotools.cocoeval import COCOeval

    gt, images = _val(prepared)
    assert len(gt["annotations"]) >= 3
    detections, missed, confused = _detections(gt)
    metrics, detail = evaluate_detailed(gt, detections)
    assert detail is not None
    csv = tmp_path / "results.csv"
    csv.write_text(CSV_HEADER + "\n" + "\n".join(f"{e},{e},1,2,3,0.5,0.5,0.4,0.3,1,2,3,0,0,0" for e in (1, 2, 3)))
    page = tmp_path / contract.EVALUATION_REPORT
    write_rendered(page, evaluation_report(metrics, detail, gt, detections, csv, images))
    # stats, AP per class, 2 PR plots, confusion, 2 training plots, 2 images per worst image
    parsed = check_evaluation_report(page, metrics, tmp_path, "evaluation-unit")
    confusion = parsed.tables["confusion-table"]
    assert sum(int(r[-1]) for r in confusion[1:-1]) == missed  # truth found as nothing
    off_diagonal = sum(int(v) for i, r in enumerate(confusion[1:-1]) for j, v in enumerate(r[1:-1]) if i != j)
    assert off_diagonal == confused
    assert all(int(v) == 0 for v in confusion[-1][1:])  # the shifted copies score below REPORT_CONF
    # the curves are COCOeval's own precision array, not a recomputation
    from odpipe.coco.evaluate import _load_gt

    coco = _load_gt(gt)
    ev = COCOeval(coco, coco.loadRes(detections), iouType="bbox")
    ev.evaluate(), ev.accumulate()
    for k, cid in enumerate(ev.params.catIds):
        assert detail.precision_50[cid] == [float(v) for v in ev.eval["precision"][0, :, k, 0, -1]]
    worst = min(v for v in detail.image_recall.values() if v is not None)
    assert worst < 1.0 and f"recall {worst:.2f}" in page.read_text()


def _card(version: int, ap: float, dataset_id: str, classes: list[dict[str, Any]]) -> dict[str, Any]:
    stats = {"AP": ap, "AP50": ap + 0.1, "AR100": 0.5}
    card = model_card.build_card(
        dataset_id=dataset_id,
        classes=classes,
        metrics={"train": {**stats, "AP": ap + 0.001}, "onnx": stats, "per_class_onnx": {}},
        parity={
            "tensor": {"images": 4, "max_abs_box": 1.5e-5, "max_abs_score": 2e-7, "compared": "x"},
            "map50_95": {"pytorch": ap + 0.001, "onnx": ap, "delta": -0.001, "tolerance": 0.01},
        },
        latency={"batch": 1, "onnxruntime_ms": 4.25, "pytorch_ms": 12.5, "ratio": 0.34},
        precision="fp32",
        quantization=None,
        export={"imgsz": 96, "opset": 17, "dynamic_batch": True},
        training={"epochs_done": 3, "run_id": "r"},
        gate={},
        workflow={"name": "wf"},
        sha256="ab" * 32,
        options={},
    )
    return {**card, "name": "shapes", "version": version, "uri": f"s3://models/shapes/{version}/model.onnx"}


def test_model_report_numbers_and_previous_version(prepared: Path, tmp_path: Path) -> None:
    from odpipe.reports.model import model_report

    gt, images = _val(prepared)
    detections, _, _ = _detections(gt)
    classes = [{"index": i, "name": c["name"], "coco_id": c["id"]} for i, c in enumerate(gt["categories"])]
    previous, card = _card(1, 0.25, "d1", classes), _card(2, 0.5, "d1", classes)
    assert card["parity"]["tensor"]["max_abs_score"] < 1e-4 and fmt(2e-7) != fmt(0.0)  # tiny differences show
    page = tmp_path / contract.MODEL_REPORT
    write_rendered(page, model_report(card, gt, detections, images, previous))
    check_model_report(page, card, previous, tmp_path, "model-unit")
    write_rendered(page, model_report(card, gt, detections, images, None))
    check_model_report(page, card, None, tmp_path, "model-unit-first")


def test_a_report_never_fails_its_step(prepared: Path, tmp_path: Path) -> None:
    """A plot or image that cannot be drawn, and a builder that raises, become notes; the page is written."""
    from odpipe.reports.evaluation import evaluation_report
    from odpipe.reports.write import write_report

    gt, images = _val(prepared)
    detections, _, _ = _detections(gt)
    metrics, detail = evaluate_detailed(gt, detections)
    gone = tmp_path / "no-images"
    html = evaluation_report(metrics, detail, gt, detections, tmp_path / "absent.csv", gone).html
    assert html.count('class="note"') >= 2 and "no results.csv" in html and "could not be drawn" in html
    assert "stats-table" in parse(html).tables  # the rest of the page is there
    bad = {**gt, "categories": [{"id": "x", "name": 1}]}  # breaks the confusion matrix
    html = evaluation_report(metrics, detail, bad, detections, None, images).html
    assert "the report is incomplete" in html and not parse(html).errors
    assert "stats-table" in parse(html).tables  # what was built before the failure stays

    from odpipe.reports.html import Page, add_drawn
    from odpipe.reports.plots import add_plot, curves
    from odpipe.reports.svg import histogram_chart

    page = Page("t", "t-files")
    bad_values = {"train": ["not a number"]}
    draw = lambda: histogram_chart(bad_values, "area", "areas")  # type: ignore[dict-item]  # noqa: E731
    assert not add_drawn(page, "plot 'areas'", draw, "image/svg+xml", "areas")
    assert not add_plot(page, "pr", curves({"a": ([0.0, 1.0], [1.0])}, "recall", "precision", "pr"))  # x, y lengths
    assert len(page.notes) == 2 and "plot 'areas' could not be drawn: ValueError" in page.notes[0]
    assert "plot 'pr' could not be drawn" in page.notes[1]
    assert "<img" not in page.render().html

    def broken() -> Rendered:
        raise ValueError("no data")

    out = write_report(tmp_path / "r.html", "title", broken)
    assert out is not None and "ValueError: no data" in out.read_text()


def test_the_browser_check_catches_console_errors(tmp_path: Path) -> None:
    """The check the reports pass can fail: a page with a script error is caught."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><title>t</title></head><body><script>throw new Error("boom")</script>')
    console = chromium_render(page, tmp_path / "bad.png", tmp_path / "profile", size="400,300")
    assert any("Uncaught Error: boom" in line for line in console), console
    assert parse(page.read_text()).errors  # and unclosed elements are caught by the parser
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_the_browser_check_catches_what_argos_policy_blocks(tmp_path: Path) -> None:
    """Served with Argo's artifact policy, a data: picture (what every report used to hold) and a picture
    missing from the files folder each log a console message, so the reports' check can fail."""
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="PNG")
    inline = base64.b64encode(buf.getvalue()).decode()
    pages = {
        "data-uri.html": f'<img src="data:image/png;base64,{inline}" alt="x">',
        "missing.html": '<img src="missing-files/001.png" alt="x">',
    }
    for name, body in pages.items():
        (tmp_path / name).write_text(f"<!DOCTYPE html><html><head><title>t</title></head><body>{body}</body></html>")
    with served_with_argo_policy(tmp_path) as base:
        console = chromium_render(f"{base}/data-uri.html", tmp_path / "d.png", tmp_path / "p-d", "400,300")
        assert any("Content Security Policy" in line for line in console), console
        for name in pages:
            seen = count_pictures(f"{base}{CHECK_PATH}?src=/{name}", tmp_path / f"p-{name}")
            assert seen["images"] == 1 and len(seen["broken"]) == 1, (name, seen)
    shutil.rmtree(tmp_path / "p-d", ignore_errors=True)


def test_publish_stores_the_report_between_model_and_card(s3: Storage, tmp_path: Path) -> None:
    """The report is rendered from the final card (with its version) after the model is stored and
    before the card; a report that fails to render or store leaves a complete version without it."""
    import os

    from odpipe.export.repository import ModelRepository

    bucket = os.environ["ODPIPE_MODELS_BUCKET"]
    repo = ModelRepository(s3, bucket)
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not really onnx")
    seen: dict[str, Any] = {}

    def report(card: dict[str, Any]) -> Rendered:
        seen["version"] = card["version"]
        seen["files"] = repo.versions("m").get(card["version"], set())
        html = '<!DOCTYPE html><html><head><title>r</title></head><body><img src="model-report-files/001.jpg">ok'
        return Rendered(html + "</body></html>", {"001.jpg": b"\xff\xd8 not really a jpeg"})

    first = repo.publish("m", model, {"x": 1}, 'name: "m"\n', {}, report=report)
    assert seen == {"version": 1, "files": {"claim.json", contract.MODEL}}  # model there, card not yet
    assert s3.get_bytes(bucket, f"m/1/{contract.MODEL_REPORT}").endswith(b"ok</body></html>")
    # its picture beside it, where the page's relative link points
    assert s3.get_bytes(bucket, f"m/1/{contract.report_files(contract.MODEL_REPORT)}/001.jpg").startswith(b"\xff\xd8")

    def broken(card: dict[str, Any]) -> Rendered:
        raise RuntimeError("cannot draw")

    second = repo.publish("m", model, {"x": 2}, 'name: "m"\n', {}, report=broken)
    assert (first.version, second.version) == (1, 2) and repo.deployed("m") == [1, 2]
    assert repo.versions("m")[2] == {"claim.json", contract.MODEL, contract.MODEL_CARD}
