"""PyTorch vs ONNX: the same preprocessed inputs through both, and batch-1 CPU latency of each."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from odpipe.export.inference import OnnxDetector, preprocess


def torch_model(weights: Path) -> Any:
    """The detection network in eval mode, fused as the export fuses it."""
    from ultralytics import YOLO

    net = YOLO(str(weights)).model
    net = net.fuse() if hasattr(net, "fuse") else net
    return net.float().eval()


def torch_forward(net: Any) -> Callable[[np.ndarray], np.ndarray]:
    import torch

    def run(tensor: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = net(torch.from_numpy(tensor))
        out = out[0] if isinstance(out, list | tuple) else out
        return out.numpy()

    return run


def tensor_parity(weights: Path, detector: OnnxDetector, images: list[Path], imgsz: int) -> dict[str, Any]:
    """Max absolute difference of box coordinates (pixels) and class scores over the given images."""
    run_torch = torch_forward(torch_model(weights))
    box_diff = score_diff = 0.0
    for path in images:
        tensor, _, _ = preprocess(path, imgsz)
        a, b = run_torch(tensor), detector.raw(tensor)
        if a.shape != b.shape:
            raise ValueError(f"output shapes differ: PyTorch {a.shape} vs ONNX {b.shape}")
        box_diff = max(box_diff, float(np.abs(a[:, :4] - b[:, :4]).max()))
        score_diff = max(score_diff, float(np.abs(a[:, 4:] - b[:, 4:]).max()))
    return {"images": len(images), "max_abs_box": box_diff, "max_abs_score": score_diff}


def paired_latency_rounds(
    runtimes: dict[str, Callable[[np.ndarray], Any]], tensor: np.ndarray, runs: int = 20, rounds: int = 4
) -> dict[str, list[list[float]]]:
    """Batch latencies (ms) of each runtime, measured in alternating blocks (one block per runtime per
    round) so that a noisy machine slows all alike. Each block starts with an untimed run and a pause:
    a runtime's worker threads keep spinning for a moment after it returns and would slow the next one."""
    per_block = max(1, -(-runs // rounds))
    times: dict[str, list[list[float]]] = {name: [] for name in runtimes}
    for fn in runtimes.values():
        fn(tensor)  # first-call set-up (allocations, kernel selection) stays out of the numbers
    for _ in range(rounds):
        for name, fn in runtimes.items():
            time.sleep(0.05)
            fn(tensor)
            block = []
            for _ in range(per_block):
                t0 = time.perf_counter()
                fn(tensor)
                block.append((time.perf_counter() - t0) * 1000)
            times[name].append(block)
    return times


def paired_latency_ms(
    runtimes: dict[str, Callable[[np.ndarray], Any]], tensor: np.ndarray, runs: int = 20, rounds: int = 4
) -> dict[str, float]:
    """Median of :func:`paired_latency_rounds` per runtime."""
    rounds_ms = paired_latency_rounds(runtimes, tensor, runs, rounds)
    return {name: median_of_blocks(blocks) for name, blocks in rounds_ms.items()}


def median_of_blocks(blocks: list[list[float]]) -> float:
    return statistics.median(t for block in blocks for t in block)


def cpu_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def latency(weights: Path, model: Path, image: Path, imgsz: int, runs: int = 20) -> dict[str, Any]:
    """Median batch-1 latency of both runtimes with the same number of CPU threads (Ultralytics' training
    leaves torch at one thread; onnxruntime would otherwise take every core), measured alternately."""
    import torch

    threads = cpu_threads()
    tensor, _, _ = preprocess(image, imgsz)
    forward = torch_forward(torch_model(weights))
    torch.set_num_threads(threads)  # after loading: Ultralytics may reset it
    ms = paired_latency_ms({"onnxruntime": OnnxDetector(model, threads=threads).raw, "pytorch": forward}, tensor, runs)
    return {
        "batch": 1,
        "imgsz": imgsz,
        "runs": runs,
        "threads": threads,
        "onnxruntime_ms": round(ms["onnxruntime"], 3),
        "pytorch_ms": round(ms["pytorch"], 3),
        "ratio": round(ms["onnxruntime"] / ms["pytorch"], 3),
    }
