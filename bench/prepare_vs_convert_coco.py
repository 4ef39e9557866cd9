"""prepare vs Ultralytics' convert_coco on the same input: bccd train, and a generated 20k-image /
200k-box annotation file with real image files. Prints the time ratio and the peak RSS of each."""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import REPO, best_of, report

BCCD = REPO.parent / "shared" / "testdata" / "bccd"


def generate(out: Path, images: int, boxes_per_image: int) -> Path:
    """Real (tiny) JPEG files and a COCO file with `images * boxes_per_image` boxes."""
    from PIL import Image

    img_dir = out / "images"
    img_dir.mkdir(parents=True)
    rng = random.Random(0)
    seed_img = img_dir / "seed.jpg"
    Image.new("RGB", (64, 48), (120, 130, 140)).save(seed_img, quality=80)
    data = seed_img.read_bytes()
    seed_img.unlink()
    doc: dict[str, list[dict[str, object]]] = {
        "images": [],
        "annotations": [],
        "categories": [{"id": i, "name": f"c{i}"} for i in range(1, 11)],
    }
    ann = 0
    for i in range(1, images + 1):
        name = f"img_{i:06d}.jpg"

        (img_dir / name).write_bytes(data)
        doc["images"].append({"id": i, "file_name": name, "width": 64, "height": 48})
        for _ in range(boxes_per_image):
            ann += 1
            x, y = rng.uniform(0, 40), rng.uniform(0, 30)
            doc["annotations"].append(
                {
                    "id": ann,
                    "image_id": i,
                    "category_id": rng.randint(1, 10),
                    "bbox": [x, y, rng.uniform(2, 20), rng.uniform(2, 15)],
                    "iscrowd": 0,
                    "area": 1.0,
                }
            )
    ann_dir = out / "annotations"
    ann_dir.mkdir()
    path = ann_dir / "instances_gen.json"
    path.write_text(json.dumps(doc))
    return path


def inner(output: str) -> float:
    return float(next(line.split()[1] for line in output.splitlines() if line.startswith("INNER ")))


def run_case(label: str, ann: Path, images: Path, work: Path, repeats: int) -> dict[str, float]:
    convert_dir = work / f"cc_{label.split()[0]}_{ann.stat().st_size}"  # one folder per case: it converts all *.json
    convert_dir.mkdir(exist_ok=True)
    if not (convert_dir / ann.name).exists():
        doc = json.loads(ann.read_text())
        if any(isinstance(img["id"], str) for img in doc["images"]):
            # convert_coco fails on string image ids (bccd has them): give it integer ids, same content
            ids = {img["id"]: n for n, img in enumerate(doc["images"], 1)}
            for img in doc["images"]:
                img["id"] = ids[img["id"]]
            for a in doc["annotations"]:
                a["image_id"] = ids[a["image_id"]]
            print(f"{label}: convert_coco got a copy with integer image ids (it fails on string ids)")
        (convert_dir / ann.name).write_text(json.dumps(doc))
    convert = best_of(
        repeats,
        f"""
import os, tempfile
os.environ.setdefault('YOLO_OFFLINE', '1'); os.environ['YOLO_VERBOSE'] = 'false'
from odpipe.ultralytics_env import import_ultralytics
import_ultralytics()
from ultralytics.data.converter import convert_coco
import time
t = time.perf_counter()
convert_coco({str(convert_dir)!r}, tempfile.mkdtemp(dir={str(work)!r}) + '/out', cls91to80=False)
print('INNER', time.perf_counter() - t)
""",
    )
    # a fresh data volume per run, so prepare does all its work (no reuse, no hash cache)
    prepare = best_of(
        repeats,
        f"""
import os, sys, tempfile
root = tempfile.mkdtemp(dir={str(work)!r})
os.environ['ODPIPE_ROOT'] = root
from odpipe.contract import Layout
from odpipe.prepare.pipeline import PrepareOptions, run_prepare
import time
t = time.perf_counter()
run_prepare(PrepareOptions(annotations={str(ann)!r}, images={str(images)!r}, workers=2), Layout.resolve())
print('INNER', time.perf_counter() - t)
""",
    )
    ratio = prepare.wall_s / convert.wall_s
    c_in, p_in = inner(convert.output), inner(prepare.output)
    report(
        label,
        [
            (
                "convert_coco",
                f"{convert.wall_s:.2f} s process ({c_in:.2f} s in the call), peak RSS {convert.peak_rss_mb:.0f} MB",
            ),
            (
                "odpipe prepare",
                f"{prepare.wall_s:.2f} s process ({p_in:.2f} s in the call), peak RSS "
                f"{prepare.peak_rss_mb:.0f} MB (validates, reads and hashes every image, links them, "
                f"writes val COCO)",
            ),
            ("ratio prepare/convert_coco", f"{ratio:.2f} process, {p_in / c_in:.2f} in the call (target <= 1.0)"),
        ],
    )
    return {
        "convert_s": convert.wall_s,
        "prepare_s": prepare.wall_s,
        "ratio": ratio,
        "ratio_call": p_in / c_in,
        "convert_rss_mb": convert.peak_rss_mb,
        "prepare_rss_mb": prepare.peak_rss_mb,
    }


def main() -> int:
    quick = "--quick" in sys.argv
    work = Path(tempfile.mkdtemp(prefix="odpipe-bench-prepare-"))
    try:
        results = {}
        ann = BCCD / "voc2coco/sample/outputs/bccd_train_cocoformat.json"
        if ann.exists():
            results["bccd_train"] = run_case(
                "bccd train (205 images, 2805 boxes)", ann, BCCD / "BCCD_Dataset/BCCD/JPEGImages", work, 3
            )
        else:
            print(f"skipped bccd: {ann} not present")
        sizes = [(2000, 10)] if quick else [(2000, 10), (20000, 10)]
        for n_img, per in sizes:
            gen = generate(work / f"gen{n_img}", n_img, per)
            results[f"gen_{n_img}"] = run_case(
                f"generated {n_img} images / {n_img * per} boxes", gen, gen.parent.parent / "images", work, 1
            )
        if "gen_2000" in results and "gen_20000" in results:
            a, b = results["gen_2000"], results["gen_20000"]
            report(
                "memory growth 2k -> 20k images (10x the annotations)",
                [
                    ("prepare peak RSS", f"{a['prepare_rss_mb']:.0f} -> {b['prepare_rss_mb']:.0f} MB"),
                    ("convert_coco peak RSS", f"{a['convert_rss_mb']:.0f} -> {b['convert_rss_mb']:.0f} MB"),
                ],
            )
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
