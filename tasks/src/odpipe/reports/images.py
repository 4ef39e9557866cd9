"""Images with their boxes and class names drawn, scaled down and encoded for a data URI."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from odpipe.reports.html import Page, add_drawn

THUMB = 360  # longest side in pixels; small sets are upscaled so boxes and labels stay readable
TRUTH = (30, 160, 60)
PREDICTED = (220, 40, 40)


@dataclass(frozen=True)
class Drawn:
    """One box to draw: COCO xywh in original pixels, a label and a colour."""

    bbox: tuple[float, float, float, float]
    label: str
    color: tuple[int, int, int]


def boxed_jpeg(path: Path, boxes: list[Drawn]) -> bytes:
    from PIL import Image, ImageDraw, ImageFont

    with Image.open(path) as src:
        img = src.convert("RGB")
    scale = THUMB / max(img.size)
    img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default()
    for b in boxes:
        x, y, w, h = (v * scale for v in b.bbox)
        draw.rectangle([x, y, x + w, y + h], outline=b.color, width=2)
        if b.label:
            left, top, right, bottom = draw.textbbox((x, y), b.label, font=font)
            ty = max(0.0, y - (bottom - top) - 2)
            draw.rectangle([x, ty, x + right - left + 2, ty + bottom - top + 2], fill=b.color)
            draw.text((x + 1, ty), b.label, fill=(255, 255, 255), font=font)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=85)
    return buf.getvalue()


def add_image(page: Page, path: Path, boxes: list[Drawn], caption: str) -> bool:
    """The image with its boxes into the page; a failure becomes a note and a warning."""
    return add_drawn(page, f"image {path.name}", lambda: boxed_jpeg(path, boxes), "image/jpeg", caption)
