"""A small synthetic COCO detection set (coloured shapes on a plain background), made here, offline.

Used by `make demo`, the tests and the benchmarks: nothing is downloaded. Shapes are easy to learn, so a
from-scratch YOLO reaches a high mAP in ~100 epochs on a CPU.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from odpipe.formats import contract

CATEGORIES = [{"id": 1, "name": "square"}, {"id": 2, "name": "circle"}, {"id": 3, "name": "triangle"}]
_COLORS = {1: (220, 40, 40), 2: (40, 160, 40), 3: (40, 60, 220)}


def make_dataset(
    out: Path, *, images: int = 40, size: int = 128, max_objects: int = 3, seed: int = 0, image_format: str = "jpg"
) -> Path:
    """Write `images/` and `annotations.json` under `out`; returns the annotations path."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    img_dir = out / "images"
    img_dir.mkdir(parents=True, exist_ok=True)
    coco: dict[str, Any] = {"images": [], "annotations": [], "categories": CATEGORIES}
    ann_id = 0
    for i in range(1, images + 1):
        shade = rng.randint(200, 245)
        img = Image.new("RGB", (size, size), (shade, shade, shade))
        draw = ImageDraw.Draw(img)
        name = f"shape_{i:05d}.{image_format}"
        placed: list[tuple[int, int, int, int]] = []
        for _ in range(rng.randint(1, max_objects)):
            s = rng.randint(size // 6, size // 3)
            for _attempt in range(20):
                x, y = rng.randint(0, size - s), rng.randint(0, size - s)
                if all(x + s <= a or a + c <= x or y + s <= b or b + d <= y for a, b, c, d in placed):
                    break
            else:
                continue
            placed.append((x, y, s, s))
            cat = rng.choice(CATEGORIES)["id"]
            color = _COLORS[cat]
            if cat == 1:
                draw.rectangle([x, y, x + s - 1, y + s - 1], fill=color)
            elif cat == 2:
                draw.ellipse([x, y, x + s - 1, y + s - 1], fill=color)
            else:
                draw.polygon([(x + s / 2, y), (x, y + s - 1), (x + s - 1, y + s - 1)], fill=color)
            ann_id += 1
            coco["annotations"].append(
                {
                    "id": ann_id,
                    "image_id": i,
                    "category_id": cat,
                    "bbox": [x, y, s, s],
                    "area": s * s,
                    "iscrowd": 0,
                    "segmentation": [],
                }
            )
        img.save(img_dir / name, quality=95) if image_format == "jpg" else img.save(img_dir / name)
        coco["images"].append({"id": i, "file_name": name, "width": size, "height": size})
    path = out / contract.ANNOTATIONS
    path.write_text(json.dumps(coco))
    return path
