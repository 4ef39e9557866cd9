"""Requests in the protocol's binary tensor extension, BYTES included.

kserve 0.21 reads binary tensors and then turns them into JSON-style lists, which fails for BYTES that
are not UTF-8 (every JPEG) and costs a Python float per FP32 element. Here the same kserve types are
built with each input's raw bytes kept as they came (InferRequest's `raw_inputs`).
"""

from __future__ import annotations

from typing import Any

import orjson
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput


def _field(doc: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        raise InvalidInput(f"{where}: '{key}' is missing or not a {kind.__name__}")
    return value


def decode_binary_request(body: bytes, json_length: int, model_name: str) -> InferRequest:
    if not 0 < json_length <= len(body):
        raise InvalidInput(f"Inference-Header-Content-Length {json_length} does not fit a body of {len(body)} bytes")
    try:
        header = orjson.loads(body[:json_length])
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"request header is not JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise InvalidInput("request header is not a JSON object")
    inputs, raw = [], []
    offset = json_length
    for n, spec in enumerate(_field(header, "inputs", list, "request")):
        if not isinstance(spec, dict):
            raise InvalidInput(f"inputs[{n}]: not an object")
        name = _field(spec, "name", str, f"inputs[{n}]")
        where = f"input '{name}'"
        shape = _field(spec, "shape", list, where)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise InvalidInput(f"{where}: shape {shape} is not a list of non-negative integers")
        params = spec.get("parameters") or {}
        item = InferInput(name=name, shape=shape, datatype=str(_field(spec, "datatype", str, where)), parameters=params)
        size = params.get("binary_data_size") if isinstance(params, dict) else None
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(body):
                raise InvalidInput(f"{where}: binary_data_size {size!r} runs past the end of the body")
            raw.append(body[offset : offset + size])
            offset += size
        elif "data" in spec:
            item.data = spec["data"]
            raw.append(None)
        else:
            raise InvalidInput(f"{where}: neither 'data' nor 'binary_data_size'")
        inputs.append(item)
    if offset != len(body):
        raise InvalidInput(f"{len(body) - offset} bytes after the last binary input")
    outputs = header.get("outputs")
    requested = (
        [RequestedOutput(name=str(o.get("name")), parameters=o.get("parameters")) for o in outputs]
        if isinstance(outputs, list) and all(isinstance(o, dict) for o in outputs)
        else None
    )
    parameters = header.get("parameters")
    return InferRequest(
        model_name=model_name,
        infer_inputs=inputs,
        request_id=header.get("id"),
        raw_inputs=raw if any(r is not None for r in raw) else None,
        parameters=parameters if isinstance(parameters, dict) else None,
        request_outputs=requested,
    )
