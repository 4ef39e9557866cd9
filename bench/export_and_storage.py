"""export-deploy's numbers: onnxruntime (simplified) vs PyTorch batch-1 CPU latency (target ratio <= 0.5),
onnxsim's effect on node count and latency, and S3 upload/download throughput through odpipe's storage
module vs raw boto3 on the same server and file (target >= 0.9)."""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import report

ROUNDS = 9


def _checkpoint(work: Path) -> Path:
    """A real YOLO checkpoint: one epoch on synthetic data (latency does not depend on the weights)."""
    from odpipe.coco.synthetic import make_dataset
    from odpipe.formats import contract
    from odpipe.formats.contract import Layout
    from odpipe.prepare.run import PrepareOptions
    from odpipe.prepare.run import run as run_prepare
    from odpipe.train.params import TrainParams
    from odpipe.train.run import run as run_train

    os.environ["ODPIPE_ROOT"] = str(work / "root")
    make_dataset(work / "src", images=12, size=64, seed=0)
    layout = Layout.resolve()
    run_prepare(
        PrepareOptions(annotations=str(work / "src" / contract.ANNOTATIONS), images=str(work / "src/images")), layout
    )
    run_train(
        TrainParams(epochs=1, imgsz=64, batch=4, device="cpu", workers=0),
        layout,
        manifest=layout.output(contract.DATASET_MANIFEST),
        run_id="bench",
    )
    return layout.output(contract.BEST_WEIGHTS)


def latency_section(work: Path) -> None:
    import numpy as np
    import torch
    from odpipe.export.inference import OnnxDetector
    from odpipe.export.onnx_export import export_onnx
    from odpipe.export.parity import (
        cpu_threads,
        median_of_blocks,
        paired_latency_rounds,
        torch_forward,
        torch_model,
    )
    from odpipe.export.quantize import quantize_int8
    from odpipe.formats.dataset_manifest import image_files

    weights = _checkpoint(work)
    threads = cpu_threads()
    rows = []
    for imgsz in (320, 640):
        tensor = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
        # what export-deploy publishes (dynamic batch, onnxsim, odpipe's graph passes) and its ablations
        variants = {
            "deployed": export_onnx(weights, work / f"d{imgsz}.onnx", imgsz=imgsz, opset=None, dynamic=True),
            "no passes": export_onnx(
                weights, work / f"n{imgsz}.onnx", imgsz=imgsz, opset=None, dynamic=True, optimize=False
            ),
            "raw export": export_onnx(
                weights, work / f"r{imgsz}.onnx", imgsz=imgsz, opset=None, dynamic=True, simplify=False, optimize=False
            ),
        }
        calibration = image_files(work / "src/images")
        int8 = quantize_int8(variants["deployed"].path, work / f"q{imgsz}.onnx", calibration, imgsz)
        forward = torch_forward(torch_model(weights))
        torch.set_num_threads(threads)  # after loading: Ultralytics may reset it; both runtimes get the same cores
        runtimes = {"pytorch": forward} | {k: OnnxDetector(v.path, threads=threads).raw for k, v in variants.items()}
        runtimes["int8"] = OnnxDetector(work / f"q{imgsz}.onnx", threads=threads).raw
        blocks = paired_latency_rounds(runtimes, tensor, runs=80, rounds=10)
        ms = {k: median_of_blocks(v) for k, v in blocks.items()}
        pt, dep = ms["pytorch"], ms["deployed"]

        def per_round(name: str, blocks: dict[str, list[list[float]]] = blocks) -> str:
            # the blocks of one round ran back to back: their ratio sees the same machine load
            r = sorted(
                statistics.median(a) / statistics.median(b)
                for a, b in zip(blocks[name], blocks["pytorch"], strict=True)
            )
            return f"per-round ratio median {statistics.median(r):.2f} (range {r[0]:.2f}-{r[-1]:.2f})"

        rows += [
            (f"imgsz {imgsz}: PyTorch (fused, eval)", f"{pt:.2f} ms"),
            (
                f"imgsz {imgsz}: onnxruntime, deployed model",
                f"{dep:.2f} ms, {variants['deployed'].nodes_after} nodes -> ratio to PyTorch {dep / pt:.2f}; "
                f"{per_round('deployed')} (target <= 0.5)",
            ),
            (
                f"imgsz {imgsz}: onnxruntime, deployed with --precision int8",
                f"{ms['int8']:.2f} ms, {int8['quantize_nodes']} quantized tensors -> ratio to PyTorch "
                f"{ms['int8'] / pt:.2f}; {per_round('int8')}",
            ),
            (
                f"imgsz {imgsz}: onnxruntime, onnxsim only",
                f"{ms['no passes']:.2f} ms -> odpipe graph passes "
                f"{variants['deployed'].graph_passes} speed-up {ms['no passes'] / dep:.2f}x",
            ),
            (
                f"imgsz {imgsz}: onnxruntime, raw export",
                f"{ms['raw export']:.2f} ms, {variants['raw export'].nodes_after} nodes -> onnxsim speed-up "
                f"{ms['raw export'] / ms['no passes']:.2f}x",
            ),
        ]
    report(
        f"batch-1 CPU latency, yolo11n, dynamic batch, median of 80 in 10 alternating blocks ({threads} threads each)",
        rows,
    )


def _timed(fn: Callable[[], object]) -> float:
    os.sync()  # the previous transfer's dirty pages would otherwise be written back during this one
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def storage_section(work: Path) -> None:
    from boto3.s3.transfer import TransferConfig
    from odpipe.common.storage import Storage
    from odpipe.local.s3server import S3Server

    big = work / "blob.bin"
    with big.open("wb") as fh:
        for _ in range(256):
            fh.write(os.urandom(1024 * 1024))
    size_mb = big.stat().st_size / 1e6
    with S3Server(work / "s3", buckets=("bench",)) as server:
        os.environ.update(server.env())
        ours = Storage()
        raw = server.client()
        # the same multipart settings for both: the difference is odpipe's checksums and verification
        cfg = TransferConfig(
            multipart_threshold=ours.transfer.multipart_threshold, multipart_chunksize=ours.transfer.multipart_chunksize
        )
        steps: dict[str, dict[str, Callable[[int], object]]] = {
            "up": {
                "odpipe": lambda i: ours.upload_file(big, "bench", f"ours-{i}"),
                "boto3": lambda i: raw.upload_file(str(big), "bench", f"raw-{i}", Config=cfg),
            },
            "down": {
                "odpipe": lambda i: ours.download_file("bench", f"ours-{i}", work / "o.bin"),
                "boto3": lambda i: raw.download_file("bench", f"raw-{i}", str(work / "r.bin"), Config=cfg),
            },
        }
        times = {kind: {side: [] for side in sides} for kind, sides in steps.items()}
        for i in range(ROUNDS):
            for kind, sides in steps.items():
                order = list(sides) if i % 2 == 0 else list(sides)[::-1]  # neither side always goes first
                for side in order:
                    times[kind][side].append(_timed(lambda fn=sides[side], i=i: fn(i)))
    rows = []
    for kind, t in times.items():
        med = {side: size_mb / statistics.median(v) for side, v in t.items()}
        best = {side: size_mb / min(v) for side, v in t.items()}
        paired = sorted(b / o for o, b in zip(t["odpipe"], t["boto3"], strict=True))  # same round, same load
        rows.append(
            (
                f"{kind}load",
                f"median: odpipe {med['odpipe']:.0f} MB/s, boto3 {med['boto3']:.0f} MB/s -> ratio "
                f"{med['odpipe'] / med['boto3']:.2f}; best: {best['odpipe']:.0f} vs {best['boto3']:.0f} MB/s -> "
                f"{best['odpipe'] / best['boto3']:.2f}; per-round ratio median {statistics.median(paired):.2f} "
                f"(range {paired[0]:.2f}-{paired[-1]:.2f}) (target >= 0.9)",
            )
        )
    report(
        f"S3 throughput, {size_mb:.0f} MB file, SeaweedFS on 127.0.0.1, {ROUNDS} alternating rounds "
        "(odpipe: SHA-256 checksums, size + checksum verified)",
        rows,
    )


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="odpipe-bench-export-"))
    try:
        from odpipe.ultralytics_env import import_ultralytics

        import_ultralytics()
        if "--storage-only" not in sys.argv:
            latency_section(work)
        storage_section(work)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
