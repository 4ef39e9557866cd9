"""The precisions export-deploy can publish a model in, defined once (CLI choices, options, card)."""

from __future__ import annotations

from enum import StrEnum


class Precision(StrEnum):
    fp32 = "fp32"  # float32: the exported, simplified graph
    int8 = "int8"  # onnxruntime static quantization, calibrated on train images


PRECISIONS: tuple[str, ...] = tuple(p.value for p in Precision)
