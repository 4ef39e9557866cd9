"""The model card (``model-card.json``, schema ``odpipe.model-card/v1``): the format export-deploy writes
beside each published model and reads back for ``--require-improvement``. Its artifact name is in
`odpipe.formats.contract`; its schema and fields are here.
"""

from __future__ import annotations

import os
import time
from typing import Any

from odpipe import __version__

SCHEMA = "odpipe.model-card/v1"

# Fields other code reads or adds (the model repository, the quality gate, `odpipe run`).
NAME = "name"
VERSION = "version"
URI = "uri"
DATASET_ID = "dataset_id"
METRICS = "metrics"
SHA256 = "sha256"
PRECISION = "precision"
WEIGHTS_SHA256 = "weights_sha256"  # under "training": the best.pt the model was exported from

# Variables the task image sets, recorded in the card.
ENV_IMAGE = "ODPIPE_IMAGE"
ENV_IMAGE_DIGEST = "ODPIPE_IMAGE_DIGEST"


def onnx_map50_95(card: dict[str, Any]) -> float:
    """COCO mAP50-95 of the published ONNX model on the val split."""
    return float(card[METRICS]["onnx"]["AP"])


def build_card(
    *,
    dataset_id: str,
    classes: list[dict[str, Any]],
    metrics: dict[str, Any],
    parity: dict[str, Any],
    latency: dict[str, Any],
    precision: str,
    quantization: dict[str, Any] | None,
    export: dict[str, Any],
    training: dict[str, Any],
    gate: dict[str, Any],
    workflow: dict[str, Any],
    sha256: str,
    options: dict[str, Any],
) -> dict[str, Any]:
    """A card as export-deploy publishes it (the repository adds name, version and uri)."""
    return {
        "schema": SCHEMA,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        DATASET_ID: dataset_id,
        "classes": classes,
        METRICS: metrics,
        "parity": parity,
        "latency": latency,
        PRECISION: precision,
        "quantization": quantization,
        "export": export,
        "training": training,
        "gate": gate,
        "workflow": workflow,
        "images": {"image": os.environ.get(ENV_IMAGE), "digest": os.environ.get(ENV_IMAGE_DIGEST)},
        "odpipe": __version__,
        SHA256: sha256,
        "options": options,
    }
