"""Triton's model configuration of a published model, built from its model card.

One dict, two forms: export-deploy writes it as `<name>/config.pbtxt` (what Triton reads from the
repository), and `odpipe serve` answers it as JSON on `GET /v2/models/<name>/config` (what Triton's HTTP
API answers). Clients written for Triton read it: Ultralytics' Triton client, for one, takes the tensor
names and datatypes from it and the model's class names from the `metadata` parameter, which is what
Ultralytics' Triton guide tells users to add to config.pbtxt by hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PLATFORM = "onnxruntime_onnx"
METADATA = "metadata"
# ONNX TensorProto element types -> Triton datatypes.
TYPES = {1: "TYPE_FP32", 10: "TYPE_FP16", 7: "TYPE_INT64", 6: "TYPE_INT32", 2: "TYPE_UINT8"}


def ultralytics_metadata(props: Mapping[str, str]) -> dict[str, str]:
    """The exported ONNX model's Ultralytics metadata (names, stride, imgsz, task, args...), without the
    bookkeeping onnxsim adds to the same table and the description (the training pod's scratch path)."""
    return {k: v for k, v in props.items() if not k.startswith("onnxsim.") and k != "description"}


def model_config(name: str, card: Mapping[str, Any]) -> dict[str, Any]:
    """Triton's ModelConfig (protobuf field names) for a model card written by export-deploy. With a
    dynamic batch the batch dimension is implicit (max_batch_size > 0)."""
    export = card["export"]
    dynamic = bool(export.get("dynamic_batch"))
    max_batch = int(card.get("options", {}).get("max_batch_size") or 0) if dynamic else 0

    def tensors(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "name": t["name"],
                "data_type": TYPES.get(int(t["elem_type"]), "TYPE_FP32"),
                "dims": list(t["dims"][1:] if max_batch else t["dims"]),
            }
            for t in items
        ]

    config: dict[str, Any] = {
        "name": name,
        "platform": PLATFORM,
        "max_batch_size": max_batch,
        "input": tensors(export["inputs"]),
        "output": tensors(export["outputs"]),
    }
    metadata = export.get(METADATA)
    if metadata:
        # Ultralytics reads this value with ast.literal_eval: a Python dict literal of strings.
        config["parameters"] = {METADATA: {"string_value": repr(dict(metadata))}}
    return config


def _quote(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def to_pbtxt(config: Mapping[str, Any]) -> str:
    """The protobuf text format of `model_config`'s dict (the subset of fields it writes)."""

    def tensors(kind: str, items: list[dict[str, Any]]) -> str:
        blocks = [
            f"  {{\n    name: {_quote(t['name'])}\n    data_type: {t['data_type']}\n"
            f"    dims: [ {', '.join(str(d) for d in t['dims'])} ]\n  }}"
            for t in items
        ]
        return f"{kind} [\n" + ",\n".join(blocks) + "\n]\n"

    text = (
        f"name: {_quote(config['name'])}\nplatform: {_quote(config['platform'])}\n"
        f"max_batch_size: {config['max_batch_size']}\n"
        + tensors("input", config["input"])
        + tensors("output", config["output"])
    )
    for key, value in config.get("parameters", {}).items():
        value_text = _quote(value["string_value"])
        text += f"parameters {{\n  key: {_quote(key)}\n  value: {{ string_value: {value_text} }}\n}}\n"
    return text
