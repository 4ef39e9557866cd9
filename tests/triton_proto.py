"""Parse a config.pbtxt with Triton's own ModelConfig proto (tritonclient.grpc.model_config_pb2).

In a child interpreter: kserve registers the same `inference.*` gRPC protos as tritonclient.grpc, so the
two cannot be imported into one test process.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

_PARSE = """
import json, sys
from google.protobuf import json_format, text_format
from tritonclient.grpc import model_config_pb2
message = text_format.Parse(sys.stdin.read(), model_config_pb2.ModelConfig())
print(json.dumps(json_format.MessageToDict(message, preserving_proto_field_name=True)))
"""


def parse_config_pbtxt(text: str) -> dict[str, Any]:
    """Triton's JSON form of the configuration; dims as integers (protobuf's JSON writes int64 as strings)."""
    child = subprocess.run([sys.executable, "-c", _PARSE], input=text, capture_output=True, text=True)
    if child.returncode:
        raise ValueError(f"Triton's ModelConfig does not parse this config.pbtxt:\n{child.stderr}")
    parsed = json.loads(child.stdout)
    for tensor in parsed.get("input", []) + parsed.get("output", []):
        tensor["dims"] = [int(d) for d in tensor["dims"]]
    return parsed
