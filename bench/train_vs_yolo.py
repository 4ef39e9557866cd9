"""`odpipe train` vs plain `YOLO(...).train(...)`: same data, parameters and seed, each in a fresh process.

Prints the wall-time ratio of the training (odpipe's COCO evaluation is timed separately) and the peak
RSS of each. Target: ratio <= 1.05.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import measure, report

EPOCHS, IMGSZ, BATCH = 20, 128, 8


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="odpipe-bench-train-"))
    try:
        setup = measure(f"""
import os, sys
os.environ['ODPIPE_ROOT'] = {str(work / "root")!r}
from pathlib import Path
from odpipe.coco.synthetic import make_dataset
from odpipe.formats.contract import Layout
from odpipe.prepare.run import PrepareOptions
from odpipe.prepare.run import run as run_prepare
make_dataset(Path({str(work / "src")!r}), images=40, size=128, seed=0)
r = run_prepare(PrepareOptions(annotations={str(work / "src/annotations.json")!r}, images={str(work / "src/images")!r}),
                Layout.resolve())
print('DATA', r.dataset_dir / 'data.yaml')
""")
        data_yaml = next(line.split(" ", 1)[1] for line in setup.output.splitlines() if line.startswith("DATA "))
        common = dict(
            epochs=EPOCHS,
            imgsz=IMGSZ,
            batch=BATCH,
            device="cpu",
            workers=0,
            seed=0,
            patience=100,
            pretrained=False,
            amp=False,
            plots=False,
            save_period=-1,
        )
        plain_code = f"""
import time
from odpipe.ultralytics_env import import_ultralytics
import_ultralytics()
from ultralytics import YOLO
t = time.perf_counter()
YOLO('yolo11n.yaml').train(data={data_yaml!r}, project={str(work / "plain")!r}, name='t', exist_ok=True, **{common!r})
print('TRAIN', time.perf_counter() - t)
"""
        odpipe_code = f"""
import os, sys, json
os.environ['ODPIPE_ROOT'] = {str(work / "root")!r}
from odpipe.ultralytics_env import import_ultralytics
import_ultralytics()  # imported before the clock starts, as in the plain run
import ultralytics.models  # noqa
from odpipe.formats.contract import Layout
from odpipe.train.params import TrainParams
from odpipe.train.run import run as run_train
import uuid
layout = Layout.resolve()
r = run_train(TrainParams(epochs={EPOCHS}, imgsz={IMGSZ}, batch={BATCH}, device='cpu', workers=0, seed=0),
              layout, manifest=layout.output('dataset.json'), run_id='bench-' + uuid.uuid4().hex[:6])
print('TRAIN', r.metrics['train_time_s'])
print('EVAL', r.metrics['eval_time_s'])
print('MAP', r.metrics['stats']['AP'])
"""
        rows = []
        samples: dict[str, list] = {"plain": [], "odpipe": []}
        for _ in range(2):  # alternate, so drift on a noisy machine hits both
            samples["plain"].append(measure(plain_code))
            samples["odpipe"].append(measure(odpipe_code))

        def val(s, key):  # type: ignore[no-untyped-def]
            return float(next(line.split()[1] for line in s.output.splitlines() if line.startswith(key + " ")))

        plain_t = min(val(s, "TRAIN") for s in samples["plain"])
        ours_t = min(val(s, "TRAIN") for s in samples["odpipe"])
        eval_t = min(val(s, "EVAL") for s in samples["odpipe"])
        rows += [
            (
                "plain YOLO().train",
                f"{plain_t:.1f} s training, peak RSS {max(s.peak_rss_mb for s in samples['plain']):.0f} MB",
            ),
            (
                "odpipe train",
                f"{ours_t:.1f} s training (+{eval_t:.1f} s COCO evaluation), peak RSS "
                f"{max(s.peak_rss_mb for s in samples['odpipe']):.0f} MB",
            ),
            ("ratio odpipe/plain (training)", f"{ours_t / plain_t:.3f} (target <= 1.05)"),
            ("COCO mAP50-95 after training", f"{val(samples['odpipe'][-1], 'MAP'):.3f}"),
        ]
        report(f"train: {EPOCHS} epochs, 40 synthetic images, imgsz {IMGSZ}, CPU (best of 2, alternated)", rows)
        print(json.dumps({"plain_s": plain_t, "odpipe_s": ours_t, "eval_s": eval_t, "ratio": ours_t / plain_t}))
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
