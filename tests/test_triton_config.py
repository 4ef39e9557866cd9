"""odpipe/formats/triton_config.py: the model card -> Triton's model configuration, as config.pbtxt and JSON."""

from __future__ import annotations

import ast
import importlib.util
from typing import Any

import pytest
from odpipe.formats.triton_config import model_config, to_pbtxt, ultralytics_metadata
from triton_proto import parse_config_pbtxt

# find_spec, not an import: tritonclient.grpc and kserve (test_serve.py) cannot share one process
if importlib.util.find_spec("tritonclient") is None:
    pytest.skip("Triton's ModelConfig proto ships in tritonclient", allow_module_level=True)


def _card(dynamic: bool, metadata: dict[str, str] | None) -> dict[str, Any]:
    export: dict[str, Any] = {
        "dynamic_batch": dynamic,
        "inputs": [{"name": "images", "dims": [-1 if dynamic else 1, 3, 640, 640], "elem_type": 1}],
        "outputs": [{"name": "output0", "dims": [-1 if dynamic else 1, 84, 8400], "elem_type": 1}],
    }
    if metadata is not None:
        export["metadata"] = metadata
    return {"export": export, "options": {"max_batch_size": 8}}


def test_dynamic_batch_is_implicit_and_the_pbtxt_parses_to_the_same_dict() -> None:
    config = model_config("det", _card(True, None))
    assert config["max_batch_size"] == 8 and config["input"][0]["dims"] == [3, 640, 640]
    assert config["output"][0] == {"name": "output0", "data_type": "TYPE_FP32", "dims": [84, 8400]}
    assert "parameters" not in config
    assert parse_config_pbtxt(to_pbtxt(config)) == config


def test_static_batch_keeps_the_batch_dimension() -> None:
    config = model_config("det", _card(False, None))
    assert config["max_batch_size"] == 0 and config["input"][0]["dims"] == [1, 3, 640, 640]
    parsed = parse_config_pbtxt(to_pbtxt(config))
    assert "max_batch_size" not in parsed  # protobuf's JSON leaves out a field at its default, 0
    assert {**parsed, "max_batch_size": 0} == config


def test_metadata_survives_quotes_backslashes_and_unicode_for_ultralytics() -> None:
    props = {
        "stride": "32",
        "names": "{0: 'red \"cell\"', 1: 'back\\\\slash', 2: 'Zelle ü'}",
        "onnxsim.removed_nodes": "Concat (x)",
        "description": "trained on /tmp/pod/scratch",
    }
    metadata = ultralytics_metadata(props)
    assert set(metadata) == {"stride", "names"}
    parsed = parse_config_pbtxt(to_pbtxt(model_config("det", _card(True, metadata))))
    # what Ultralytics' Triton client does with it: ast.literal_eval of the string value, then of names
    read = ast.literal_eval(parsed["parameters"]["metadata"]["string_value"])
    assert read == metadata
    assert ast.literal_eval(read["names"]) == {0: 'red "cell"', 1: "back\\slash", 2: "Zelle ü"}


def test_a_config_that_is_not_triton_is_refused_by_the_parser() -> None:
    with pytest.raises(ValueError, match="does not parse"):
        parse_config_pbtxt('name: "x"\nno_such_field: 1\n')
