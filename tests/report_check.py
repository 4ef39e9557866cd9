"""Checks every HTML report must pass: strict HTML parse (stdlib html.parser with strict nesting checks:
html5lib is not installed), nothing remote, no script, images that decode, a headless Chromium render
with no console message, and the tables' numbers for comparison with the JSON artifacts.

Screenshots go to $ODPIPE_SCREENSHOTS or .odpipe/screenshots/ (git-ignored) and their paths are printed.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
REMOTE = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)
CSS_URL = re.compile(r"url\(\s*['\"]?([^'\")]*)", re.IGNORECASE)
CHROMIUM = shutil.which("chromium")


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


def decode_images(srcs: list[str]) -> list[tuple[int, int]]:
    from PIL import Image

    sizes = []
    for src in srcs:
        m = re.match(r"data:(image/(png|jpeg));base64,(.*)$", src, re.DOTALL)
        assert m, f"image not inline: {src[:60]}"
        with Image.open(io.BytesIO(base64.b64decode(m.group(3), validate=True))) as img:
            img.load()
            assert img.format.lower() == {"png": "png", "jpeg": "jpeg"}[m.group(2)]
            sizes.append(img.size)
    return sizes


def screenshot_dir() -> Path:
    out = Path(os.environ.get("ODPIPE_SCREENSHOTS") or REPO / ".odpipe" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out


def chromium_render(page: Path, shot: Path, profile: Path, size: str = "1280,4000") -> list[str]:
    """Render the page headless to a PNG; returns the console lines Chromium logged (none expected)."""
    if CHROMIUM is None:
        pytest.skip("chromium not installed (Debian package `chromium`; .ci/run installs it)")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--hide-scrollbars"]
    flags += [f"--user-data-dir={profile}", f"--screenshot={shot}", f"--window-size={size}"]
    flags += ["--enable-logging=stderr", "--v=0"]
    proc = subprocess.run(
        [CHROMIUM, *flags, page.resolve().as_uri()],
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
    assert all(r.startswith(("data:", "#")) for r in parsed.refs), f"{path}: refers outside itself"
    sizes = decode_images(parsed.images)
    assert len(sizes) >= min_images, f"{path}: {len(sizes)} images, expected at least {min_images}"
    shot = tmp / f"{name}.png"
    console = chromium_render(path, shot, tmp / f"chromium-{name}")
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
