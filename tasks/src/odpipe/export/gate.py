"""The quality gate: what export-deploy measured against the limits it was given. Pure: the caller
fetches the previously deployed card and raises."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateLimits:
    max_box_diff: float
    max_score_diff: float
    map_tolerance: float
    min_map50_95: float | None = None


@dataclass(frozen=True)
class Measured:
    max_abs_box: float  # PyTorch vs ONNX, pixels
    max_abs_score: float
    torch_ap: float  # COCO mAP50-95 on val
    onnx_ap: float


@dataclass(frozen=True)
class Deployed:
    """The newest deployed version on the same dataset (with --require-improvement)."""

    version: int
    ap: float
    dataset_id: str


def gate_problems(measured: Measured, limits: GateLimits, deployed: Deployed | None = None) -> list[str]:
    """Every reason not to publish; empty when the model passes."""
    m = measured
    problems = []
    if m.max_abs_box > limits.max_box_diff:
        problems.append(f"box difference {m.max_abs_box:.4g} px > {limits.max_box_diff}")
    if m.max_abs_score > limits.max_score_diff:
        problems.append(f"score difference {m.max_abs_score:.4g} > {limits.max_score_diff}")
    if abs(m.onnx_ap - m.torch_ap) > limits.map_tolerance:
        problems.append(f"ONNX mAP50-95 {m.onnx_ap:.4f} vs PyTorch {m.torch_ap:.4f}: |delta| > {limits.map_tolerance}")
    if limits.min_map50_95 is not None and m.onnx_ap < limits.min_map50_95:
        problems.append(f"mAP50-95 {m.onnx_ap:.4f} < --min-map50-95 {limits.min_map50_95}")
    if deployed is not None and m.onnx_ap <= deployed.ap:
        problems.append(
            f"mAP50-95 {m.onnx_ap:.4f} does not beat deployed version {deployed.version} "
            f"({deployed.ap:.4f}, same dataset {deployed.dataset_id})"
        )
    return problems
