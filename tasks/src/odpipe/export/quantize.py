"""Optional int8 model: onnxruntime static quantization (QDQ), calibrated on the dataset's train images.

Weights are int8 per output channel, activations uint8 with ranges from the calibration images run
through the same letterbox as inference. The head's decode (everything between the last convolutions
and the output: DFL, anchors, strides, the concatenation of pixel boxes with 0..1 scores) stays float:
quantizing that concatenation with one scale destroys the scores.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from odpipe.common.atomic import copy_file
from odpipe.common.errors import InputError, OdpipeError
from odpipe.export.inference import preprocess
from odpipe.formats.dataset_manifest import image_files


def decode_nodes(model: Any) -> list[str]:
    """Names of the nodes after the last convolutions: walk back from the outputs, stopping at Conv."""
    graph = model.graph
    producer = {out: n for n in graph.node for out in n.output}
    seen: set[str] = set()
    stack = [o.name for o in graph.output]
    names: list[str] = []
    while stack:
        node = producer.get(stack.pop())
        if node is None or node.name in seen or node.op_type == "Conv":
            continue
        seen.add(node.name)
        names.append(node.name)
        stack.extend(node.input)
    return names


def calibration_images(folder: Path, limit: int) -> list[Path]:
    """Up to ``limit`` images, evenly spread over the sorted folder (deterministic)."""
    paths = image_files(folder)
    if not paths:
        raise InputError(f"{folder}: no images to calibrate the int8 model with")
    if len(paths) <= limit:
        return paths
    step = len(paths) / limit
    return [paths[int(i * step)] for i in range(limit)]


def quantize_int8(src: Path, dest: Path, images: list[Path], imgsz: int) -> dict[str, Any]:
    """Write the int8 model of ``src`` to ``dest``; returns what the model card records."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = onnx.load(str(src), load_external_data=False).graph.input[0].name

    class Reader(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self.batches: Iterator[dict[str, np.ndarray]] = ({input_name: preprocess(p, imgsz)[0]} for p in images)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.batches, None)

    work = Path(tempfile.mkdtemp(prefix="odpipe-int8-"))
    try:
        prepared = work / "prepared.onnx"
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        kept_float = decode_nodes(onnx.load(str(prepared)))
        out = work / "int8.onnx"
        quantize_static(
            str(prepared),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=kept_float,
        )
        model = onnx.load(str(out))
        onnx.checker.check_model(model, full_check=True)
        quantized = sum(1 for n in model.graph.node if n.op_type == "QuantizeLinear")
        if not quantized:
            raise OdpipeError(f"{src}: int8 quantization left no quantized node")
        copy_file(out, dest)
        return {
            "method": "onnxruntime static QDQ, MinMax calibration",
            "weights": "int8, per channel",
            "activations": "uint8, per tensor",
            "calibration_images": len(images),
            "float_nodes": len(kept_float),
            "quantize_nodes": quantized,
            "nodes": len(model.graph.node),
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
