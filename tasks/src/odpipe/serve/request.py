"""Check an inference request against what the detector takes; every problem is a 400 naming the input.

Inputs (one of): `image` BYTES [B] or [B, 1], one encoded JPEG/PNG per item; `images` FP32 [B, 3, H, W],
the exported tensor (RGB in [0, 1], H and W multiples of 32). Parameters: `confidence`, `iou` (0..1),
`max_detections` (1..300). Outputs: the detections by default; the graph's raw output (`output0`), as
Triton serving the same repository answers it, when a request for the `images` tensor names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest

from odpipe.serve.detector import STRIDE, Thresholds

IMAGE = "image"
IMAGES = "images"
MAX_SIDE = 4096
MAX_DETECTIONS_LIMIT = 300

INPUTS_METADATA = [
    {"name": IMAGE, "datatype": "BYTES", "shape": [-1]},
    {"name": IMAGES, "datatype": "FP32", "shape": [-1, 3, -1, -1]},
]
OUTPUTS_METADATA = [
    {"name": "boxes", "datatype": "FP32", "shape": [-1, -1, 4]},
    {"name": "scores", "datatype": "FP32", "shape": [-1, -1]},
    {"name": "category_ids", "datatype": "INT64", "shape": [-1, -1]},
    {"name": "num_detections", "datatype": "INT64", "shape": [-1]},
]


DETECTION_OUTPUTS = tuple(o["name"] for o in OUTPUTS_METADATA)


@dataclass(frozen=True)
class Parsed:
    encoded: list[bytes] | None  # `image`
    tensor: np.ndarray | None  # `images`
    thresholds: Thresholds

    @property
    def batch(self) -> int:
        return len(self.encoded) if self.encoded is not None else len(self.tensor)  # type: ignore[arg-type]


def _number(params: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidInput(f"parameter '{name}': {value!r} is not a number")
    try:
        number = float(value)
    except ValueError as exc:
        raise InvalidInput(f"parameter '{name}': {value!r} is not a number") from exc
    if not low <= number <= high:
        raise InvalidInput(f"parameter '{name}': {number} is outside [{low}, {high}]")
    return number


def thresholds(params: dict[str, Any] | None, default: Thresholds) -> Thresholds:
    params = dict(params or {})
    max_det = _number(params, "max_detections", default.max_detections, 1, MAX_DETECTIONS_LIMIT)
    if max_det != int(max_det):
        raise InvalidInput(f"parameter 'max_detections': {max_det} is not an integer")
    return Thresholds(
        confidence=_number(params, "confidence", default.confidence, 0.0, 1.0),
        iou=_number(params, "iou", default.iou, 0.0, 1.0),
        max_detections=int(max_det),
    )


def _as_numpy(item: InferInput) -> np.ndarray:
    try:
        return item.as_numpy()
    except InvalidInput:
        raise
    except Exception as exc:  # a reshape that does not fit, bytes that are not the datatype
        raise InvalidInput(
            f"input '{item.name}': data does not fit datatype {item.datatype} shape {list(item.shape)} ({exc})"
        ) from exc


def _batch(name: str, size: int, max_batch: int) -> None:
    if size < 1:
        raise InvalidInput(f"input '{name}': empty batch")
    if size > max_batch:
        raise InvalidInput(f"input '{name}': batch of {size} is more than this server's --max-batch {max_batch}")


def _encoded(item: InferInput, max_batch: int) -> list[bytes]:
    if item.datatype != "BYTES":
        raise InvalidInput(f"input '{IMAGE}': datatype {item.datatype}, expected BYTES (encoded JPEG/PNG)")
    shape = list(item.shape)
    if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
        raise InvalidInput(f"input '{IMAGE}': shape {shape}, expected [batch] or [batch, 1]")
    _batch(IMAGE, shape[0], max_batch)
    values = _as_numpy(item).reshape(-1)
    out = []
    for i, value in enumerate(values):
        if isinstance(value, str):
            value = value.encode("latin-1", errors="replace")
        if not isinstance(value, bytes | np.bytes_):
            raise InvalidInput(f"input '{IMAGE}'[{i}]: {type(value).__name__}, expected encoded image bytes")
        out.append(bytes(value))
    return out


def _tensor(item: InferInput, max_batch: int, static_side: int | None) -> np.ndarray:
    if item.datatype != "FP32":
        raise InvalidInput(f"input '{IMAGES}': datatype {item.datatype}, expected FP32")
    shape = list(item.shape)
    if len(shape) != 4 or shape[1] != 3:
        raise InvalidInput(f"input '{IMAGES}': shape {shape}, expected [batch, 3, height, width]")
    _batch(IMAGES, shape[0], max_batch)
    height, width = shape[2], shape[3]
    if static_side and (height, width) != (static_side, static_side):
        raise InvalidInput(f"input '{IMAGES}': shape {shape}, this model takes {static_side}x{static_side}")
    if not (STRIDE <= height <= MAX_SIDE and STRIDE <= width <= MAX_SIDE) or height % STRIDE or width % STRIDE:
        raise InvalidInput(
            f"input '{IMAGES}': shape {shape}, height and width must be multiples of {STRIDE} "
            f"between {STRIDE} and {MAX_SIDE}"
        )
    tensor = np.ascontiguousarray(_as_numpy(item), dtype=np.float32)
    if not np.isfinite(tensor).all():
        raise InvalidInput(f"input '{IMAGES}': contains NaN or infinity")
    return tensor


def parse(request: InferRequest, *, max_batch: int, default: Thresholds, static_side: int | None) -> Parsed:
    names = [i.name for i in request.inputs]
    unknown = [n for n in names if n not in (IMAGE, IMAGES)]
    if unknown:
        raise InvalidInput(
            f"unknown input {unknown[0]!r}: this model takes '{IMAGE}' (BYTES [batch], encoded JPEG/PNG) "
            f"or '{IMAGES}' (FP32 [batch, 3, height, width])"
        )
    if len(names) != 1:
        raise InvalidInput(f"inputs {names}: send exactly one of '{IMAGE}' or '{IMAGES}'")
    limits = thresholds(request.parameters if isinstance(request.parameters, dict) else None, default)
    item = request.inputs[0]
    if item.name == IMAGE:
        return Parsed(_encoded(item, max_batch), None, limits)
    return Parsed(None, _tensor(item, max_batch, static_side), limits)


@dataclass(frozen=True)
class Wanted:
    detections: bool
    raw: list[str]  # the graph outputs asked for by name


def wanted(request: InferRequest, parsed: Parsed, raw_names: list[str]) -> Wanted:
    """Which outputs to compute: no `outputs` in the request means the detections."""
    names = [o.name for o in request.request_outputs or []]
    unknown = [n for n in names if n not in DETECTION_OUTPUTS and n not in raw_names]
    if unknown:
        raise InvalidInput(
            f"unknown output {unknown[0]!r}: this model answers {', '.join(DETECTION_OUTPUTS)}, "
            f"or its raw output {', '.join(raw_names)} for the '{IMAGES}' tensor"
        )
    raw = [n for n in names if n in raw_names]
    if raw and parsed.tensor is None:
        raise InvalidInput(f"output {raw[0]!r}: the raw output is answered for the '{IMAGES}' tensor input only")
    return Wanted(detections=not names or any(n in DETECTION_OUTPUTS for n in names), raw=raw)
