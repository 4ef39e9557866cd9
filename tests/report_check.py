"""Checks every HTML report must pass: strict HTML parse (stdlib html.parser with strict nesting checks:
html5lib is not installed), nothing remote, no script, no data: URI, SVG inline, raster pictures as files
in the report's files folder that decode, a headless Chromium render served with Argo's artifact policy
(`ARGO_ARTIFACT_CSP`) with no console message (a blocked or missing picture logs one), and the tables'
numbers for comparison with the JSON artifacts.

Screenshots go to $ODPIPE_SCREENSHOTS or .odpipe/screenshots/ (git-ignored) and their paths are printed.
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from odpipe.reports.html import fmt

from e2e.scenarios.browser import ARGO_ARTIFACT_CSP, CHECK_PATH, check_page, count_pictures

REPO = Path(__file__).resolve().parents[1]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]*)", re.IGNORECASE)
CHROMIUM = shutil.which("chromium")
SVG_ELEMENT = re.compile(r"<svg\b.*?</svg>", re.DOTALL)


@dataclass
class Parsed:
    errors: list[str] = field(default_factory=list)
    refs: list[str] = field(default_factory=list)  # every src, href and CSS url()
    images: list[str] = field(default_factory=list)  # img src values
    tables: dict[str, list[list[str]]] = field(default_factory=dict)  # table id -> rows of cell text
    scripts: int = 0
    doctype: bool = False


class _Strict(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = Parsed()
        self.stack: list[str] = []
        self.table: str | None = None
        self.cell: list[str] | None = None
        self.in_style = False

    def handle_decl(self, decl: str) -> None:
        self.out.doctype = self.out.doctype or decl.lower() == "doctype html"

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("src", "href"):
            if a.get(key) is not None:
                self.out.refs.append(str(a[key]))
        self.out.refs += CSS_URL.findall(a.get("style") or "")
        self.out.scripts += tag == "script"
        self.out.images += [str(a.get("src"))] if tag == "img" else []
        if tag == "table":
            self.table = a.get("id") or f"table-{len(self.out.tables)}"
            self.out.tables[self.table] = []
        elif tag == "tr" and self.table:
            self.out.tables[self.table].append([])
        elif tag in ("td", "th"):
            self.cell = []
        self.in_style = tag == "style"
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.out.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else 'nothing'}>")
            return
        self.stack.pop()
        if tag in ("td", "th") and self.table and self.cell is not None:
            self.out.tables[self.table][-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.table = None
        self.in_style = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)
        if self.in_style:
            self.out.refs += CSS_URL.findall(data)


def parse(html: str) -> Parsed:
    parser = _Strict()
    parser.feed(html)
    parser.close()
    if parser.stack:
        parser.out.errors.append(f"unclosed elements at the end: {parser.stack}")
    return parser.out


def decode_images(page: Path, srcs: list[str]) -> list[tuple[int, int]]:
    """The raster pictures a page links: each a file in its files folder (beside the page) that decodes."""
    from odpipe.formats.contract import report_files
    from PIL import Image

    sizes = []
    folder = report_files(page.name)
    for src in srcs:
        assert src.startswith(f"{folder}/") and "/" not in src[len(folder) + 1 :], f"{page}: picture at {src[:60]}"
        path = page.parent / src
        assert path.is_file(), f"{page}: links {src}, which is not there"
        with Image.open(path) as img:
            img.load()
            assert img.format.lower() == {"png": "png", "jpg": "jpeg"}[path.suffix[1:]], (src, img.format)
            sizes.append(img.size)
    return sizes


def inline_svgs(html: str) -> list[tuple[int, int]]:
    return [svg_size(m.group(0).encode()) for m in SVG_ELEMENT.finditer(html)]


def svg_size(data: bytes) -> tuple[int, int]:
    """An SVG picture's size, after checking it is well-formed SVG that draws something."""
    root = ElementTree.fromstring(data)
    assert root.tag == "{http://www.w3.org/2000/svg}svg", root.tag
    assert root.findall(".//{http://www.w3.org/2000/svg}rect"), "an SVG plot without a single rect"
    return int(root.get("width", "0")), int(root.get("height", "0"))


def screenshot_dir() -> Path:
    out = Path(os.environ.get("ODPIPE_SCREENSHOTS") or REPO / ".odpipe" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


@contextlib.contextmanager
def served_with_argo_policy(root: Path) -> Iterator[str]:
    """`root` over HTTP on 127.0.0.1, every answer carrying Argo's artifact policy; yields the base URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def do_GET(self) -> None:
            if self.path.startswith(CHECK_PATH + "?src="):  # the checking page: no policy, its script runs
                body = check_page(urllib.parse.unquote(self.path.split("?src=", 1)[1])).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                super(http.server.SimpleHTTPRequestHandler, self).end_headers()
                self.wfile.write(body)
                return
            super().do_GET()

        def end_headers(self) -> None:
            self.send_header("Content-Security-Policy", ARGO_ARTIFACT_CSP)
            self.send_header("X-Frame-Options", "SAMEORIGIN")
            super().end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def chromium_render(page: Path | str, shot: Path, profile: Path, size: str = "1280,4000") -> list[str]:
    """Render the page (a file, or a URL) headless to a PNG; returns the console lines Chromium logged
    (none expected: a picture the policy blocks, or one that is missing, logs one)."""
    if CHROMIUM is None:
        pytest.skip("chromium not installed (Debian package `chromium`; .ci/run installs it)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars"]
    flags += [f"--user-data-dir={profile}", f"--screenshot={shot}", f"--window-size={size}"]
    flags += ["--enable-logging=stderr", "--v=0"]
    proc = subprocess.run(
        [CHROMIUM, *flags, page if isinstance(page, str) else page.resolve().as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0 and shot.exists(), proc.stderr[-2000:]
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def check_report(path: Path, tmp: Path, name: str, min_images: int) -> Parsed:
    """Every check but the numbers (which the caller compares); returns the parsed page."""
    html = path.read_text(encoding="utf-8")
    parsed = parse(html)
    assert parsed.doctype, f"{path}: no <!DOCTYPE html>"
    assert not parsed.errors, f"{path}: {parsed.errors[:5]}"
    assert parsed.scripts == 0, f"{path}: has a script (must read with JavaScript off)"
    remote = [r for r in parsed.refs if REMOTE.match(r)]
    assert not remote and not re.search(r"(src|href)\s*=\s*[\"']?\s*https?:", html, re.I), f"{path}: remote {remote}"
    assert "data:" not in html, f"{path}: a data: URI (Argo's artifact policy blocks every one)"
    assert all(r.startswith("#") or r in parsed.images for r in parsed.refs), f"{path}: refers outside itself"
    sizes = decode_images(path, parsed.images) + inline_svgs(html)
    assert len(sizes) >= min_images, f"{path}: {len(sizes)} images, expected at least {min_images}"
    shot = tmp / f"{name}.png"
    with served_with_argo_policy(path.parent) as base:
        console = chromium_render(f"{base}/{path.name}", shot, tmp / f"chromium-{name}")
        seen = count_pictures(f"{base}{CHECK_PATH}?src=/{path.name}", tmp / f"chromium-check-{name}")
    assert not seen["broken"] and seen["images"] + seen["svgs"] == len(sizes), f"{path}: the browser saw {seen}"
    assert not console, f"{path}: console messages {console}"
    from PIL import Image, ImageStat

    with Image.open(shot) as img:
        assert img.size == (1280, 4000)
        assert max(ImageStat.Stat(img.convert("L")).stddev) > 20, "the screenshot is blank"
    kept = screenshot_dir() / f"{name}.png"
    shutil.copyfile(shot, kept)
    print(f"screenshot of {path}: {kept}")
    return parsed


def column(parsed: Parsed, table: str, key: int = 0, value: int = 1) -> dict[str, str]:
    rows = parsed.tables[table][1:]  # after the header
    return {r[key]: r[value] for r in rows}


def check_dataset_report(path: Path, manifest: dict[str, Any], findings: dict[str, Any], tmp: Path, name: str) -> None:
    """dataset-report.html: the checks every report passes, and its numbers equal dataset.json's and
    report.json's."""
    splits = manifest["splits"]
    parsed = check_report(path, tmp, name, min_images=3 + min(6, splits["val"]["images"]))
    rows = {r[0]: r[1:] for r in parsed.tables["splits-table"][1:]}
    for split, c in splits.items():
        assert rows[split] == [fmt(c["images"]), fmt(c["boxes"]), fmt(c.get("crowd", 0)), fmt(c["background"])]
    classes = parsed.tables["classes-table"]
    assert classes[0][3:] == list(splits)
    for row, cls in zip(classes[1:], manifest["classes"], strict=True):
        assert row[:3] == [fmt(cls["index"]), cls["name"], fmt(cls["coco_id"])]
        assert row[3:] == [fmt(splits[s]["per_class"][cls["name"]]) for s in splits]
    images = {r[0]: r[2:] for r in parsed.tables["class-images-table"][1:]}
    for index, cls in enumerate(manifest["classes"]):  # a class's images: at least 1 per box, at most its boxes
        for split, shown in zip(splits, images[cls["name"]], strict=True):
            boxes = splits[split]["per_class"][cls["name"]]
            assert min(boxes, 1) <= int(shown) <= min(boxes, splits[split]["images"]), (index, split)
    for row in parsed.tables["sizes-table"][1:]:  # small + medium + large = every box of the split
        assert sum(int(v) for v in row[1:]) == splits[row[0]]["boxes"]
    shown = column(parsed, "findings-table", 1, 2) if findings["findings"] else {}
    assert shown == {f["code"]: fmt(f["count"]) for f in findings["findings"]}


def check_evaluation_report(path: Path, metrics: dict[str, Any], tmp: Path, name: str) -> Parsed:
    """evaluation-report.html: the checks every report passes, and its numbers equal metrics.json's.
    Images: AP bars, 2 PR plots (when there are detections), confusion, 2 training plots, one pair."""
    plots = 1 + (2 if metrics["detections"] else 0) + 1 + 2 + 2
    parsed = check_report(path, tmp, name, min_images=plots)
    assert column(parsed, "stats-table") == {k: fmt(v) for k, v in metrics["stats"].items()}
    assert column(parsed, "per-class-table", 0, 2) == {cid: fmt(c["AP"]) for cid, c in metrics["per_class"].items()}
    return parsed


def check_model_report(path: Path, card: dict[str, Any], previous: dict[str, Any] | None, tmp: Path, name: str) -> None:
    """model-report.html: the checks every report passes, and its numbers equal model-card.json's."""
    parsed = check_report(path, tmp, name, min_images=2)
    facts = column(parsed, "card-table")
    assert facts["version"] == fmt(card["version"]) and facts["sha256"] == card["sha256"]
    assert facts["dataset id"] == card["dataset_id"]
    train, onnx = card["metrics"]["train"], card["metrics"]["onnx"]
    for row in parsed.tables["parity-table"][1:]:
        assert row[1:] == [fmt(train[row[0]]), fmt(onnx[row[0]]), fmt(onnx[row[0]] - train[row[0]])]
    assert len(parsed.tables["parity-table"]) == 1 + len(onnx)
    tensor = column(parsed, "tensor-table")
    assert tensor["max |box| difference (px)"] == fmt(card["parity"]["tensor"]["max_abs_box"])
    assert tensor["max |score| difference"] == fmt(card["parity"]["tensor"]["max_abs_score"])
    assert tensor["mAP50-95 delta (ONNX - PyTorch)"] == fmt(card["parity"]["map50_95"]["delta"])
    latency = column(parsed, "latency-table")
    assert latency == {k: fmt(v) for k, v in card["latency"].items() if not isinstance(v, dict | list)}
    if previous is None:
        assert "previous-table" not in parsed.tables
    else:
        rows = column(parsed, "previous-table")
        before = previous["metrics"]["onnx"]
        assert rows == {k: fmt(before[k]) for k in onnx if k in before}
