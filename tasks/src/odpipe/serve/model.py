"""One loaded model version as a kserve.Model: parse, detect in a worker thread, answer."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from kserve import Model
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from odpipe.formats.triton_config import model_config
from odpipe.serve import images, request
from odpipe.serve.detector import Detections, Detector, Thresholds


def version_key(name: str, version: int) -> str:
    """The registry key of one version ('@' cannot occur in a model name, see export's NAME_RE)."""
    return f"{name}@{version}"


def split_key(key: str) -> tuple[str, int | None]:
    name, _, version = key.partition("@")
    return name, int(version) if version.isdigit() else None


class DetectorModel(Model):
    def __init__(
        self, name: str, version: int, detector: Detector, card: dict[str, Any], *, max_batch: int, default: Thresholds
    ) -> None:
        super().__init__(version_key(name, version))
        self.model_name = name
        self.version = version
        self.detector = detector
        self.card = card
        self.max_batch = max_batch
        self.default = default
        self.ready = True

    def load(self) -> bool:
        # kserve calls load() on a model that is not ready; a version is loaded once, by the watcher.
        return self.ready

    def get_input_types(self) -> list[dict[str, Any]]:
        return request.INPUTS_METADATA

    def get_output_types(self) -> list[dict[str, Any]]:
        raw = [
            {"name": t["name"], "datatype": "FP32", "shape": list(t["dims"])}
            for t in self.card.get("export", {}).get("outputs", [])
        ]
        return request.OUTPUTS_METADATA + raw

    def triton_config(self) -> dict[str, Any]:
        """What Triton answers on /v2/models/<name>/config for this version (see odpipe.formats.triton_config)."""
        return model_config(self.model_name, self.card)

    async def predict(  # type: ignore[override]
        self, payload: InferRequest, headers: dict[str, str] | None = None, response_headers: Any = None
    ) -> InferResponse:
        if not isinstance(payload, InferRequest):
            raise InvalidInput("this server speaks the v2 (Open Inference) protocol: POST /v2/models/<name>/infer")
        parsed = request.parse(
            payload, max_batch=self.max_batch, default=self.default, static_side=self.detector._static_side()
        )
        wanted = request.wanted(payload, parsed, self.detector.output_names)
        outputs = await asyncio.get_running_loop().run_in_executor(None, self._outputs, parsed, wanted)
        return InferResponse(
            response_id=payload.id or "",
            model_name=self.model_name,
            model_version=str(self.version),
            infer_outputs=outputs,
            use_binary_outputs=payload.use_binary_outputs,
            requested_outputs=payload.request_outputs,
        )

    def _outputs(self, parsed: request.Parsed, wanted: request.Wanted) -> list[InferOutput]:
        if parsed.tensor is None:
            return _detection_outputs(self.detector.detect_images(self._decoded(parsed), parsed.thresholds))
        raw = self.detector.raw(parsed.tensor)
        outputs = [InferOutput(n, list(raw.shape), "FP32", raw) for n in wanted.raw]
        if wanted.detections:
            outputs += _detection_outputs(self.detector.decode_raw(raw, parsed.thresholds))
        return outputs

    def _decoded(self, parsed: request.Parsed) -> list[np.ndarray]:
        decoded = []
        for i, data in enumerate(parsed.encoded or []):
            try:
                decoded.append(images.decode(data))
            except images.BadImage as exc:
                raise InvalidInput(f"input '{request.IMAGE}'[{i}]: {exc}") from exc
        return decoded


def _detection_outputs(results: list[Detections]) -> list[InferOutput]:
    batch, most = len(results), max((len(r.scores) for r in results), default=0)
    boxes = np.zeros((batch, most, 4), dtype=np.float32)
    scores = np.zeros((batch, most), dtype=np.float32)
    ids = np.full((batch, most), -1, dtype=np.int64)  # padding where an item has fewer detections
    for i, r in enumerate(results):
        k = len(r.scores)
        boxes[i, :k], scores[i, :k], ids[i, :k] = r.boxes, r.scores, r.category_ids
    counts = np.asarray([len(r.scores) for r in results], dtype=np.int64)
    return [
        InferOutput("boxes", list(boxes.shape), "FP32", boxes),
        InferOutput("scores", list(scores.shape), "FP32", scores),
        InferOutput("category_ids", list(ids.shape), "INT64", ids),
        InferOutput("num_detections", list(counts.shape), "INT64", counts),
    ]
