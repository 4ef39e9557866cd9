"""`make bench`: every benchmark in turn (each prints its ratios against a peer)."""

from __future__ import annotations

import subprocess
import sys

BENCHES = [
    "bench.prepare_vs_convert_coco",
    "bench.sync_at_scale",
    "bench.train_vs_yolo",
    "bench.export_and_storage",
    "bench.run_overhead",
    "bench.images",
    "bench.serve",
    "bench.cluster",
]

if __name__ == "__main__":
    failed = [b for b in BENCHES if subprocess.run([sys.executable, "-m", b], check=False).returncode != 0]
    sys.exit(1 if failed else 0)
