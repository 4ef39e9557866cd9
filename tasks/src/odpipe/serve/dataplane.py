"""kserve's DataPlane with what odpipe serving adds: readiness that waits for the models, per-version
metadata, 404s that say which versions exist, and request decoding that answers 400, never 500."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kserve.constants.constants import INFERENCE_CONTENT_LENGTH_HEADER
from kserve.errors import InvalidInput, ModelNotFound
from kserve.model import BaseKServeModel
from kserve.model_repository import ModelRepository
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.model_repository_extension import ModelRepositoryExtension

from odpipe.serve.binary import decode_binary_request
from odpipe.serve.model import split_key


class ServingDataPlane(DataPlane):
    def __init__(self, registry: ModelRepository, is_ready: Callable[[], bool]) -> None:
        super().__init__(model_registry=registry)
        self._is_ready = is_ready

    async def ready(self) -> bool:
        return self._is_ready()

    def _require(self, key: str) -> BaseKServeModel:
        model = self._model_registry.get_model(key)
        if model is not None:
            return model
        name, version = split_key(key)
        if version is None and "@" in key:
            raise ModelNotFound(f"{name!r} version {key.partition('@')[2]!r} (versions are positive integers)")
        if version is None:
            raise ModelNotFound(f"{name!r} (this server serves {self._names() or 'no models yet'})")
        raise ModelNotFound(f"{name!r} version {version} (loaded versions: {self._versions(name) or 'none'})")

    def _versions(self, name: str) -> list[int]:
        keys = map(split_key, list(self._model_registry.get_models()))
        return sorted(v for n, v in keys if n == name and v is not None)

    def _names(self) -> list[str]:
        return sorted({split_key(k)[0] for k in self._model_registry.get_models()})

    def get_model_from_registry(self, name: str) -> BaseKServeModel:
        return self._require(name)

    async def get_model(self, name: str) -> BaseKServeModel:
        return self._require(name)

    async def model_ready(self, model_name: str, disable_predictor_health_check: bool = False) -> bool:
        return bool(self._require(model_name).ready)

    async def model_metadata(self, model_name: str) -> dict[str, Any]:
        self._require(model_name)
        name, version = split_key(model_name)
        metadata = await super().model_metadata(model_name)
        versions = [str(version)] if version is not None else [str(v) for v in self._versions(name)]
        return {**metadata, "name": name, "versions": versions, "platform": "onnxruntime_onnx"}

    def decode(self, body: Any, headers: Any, protocol_version: str = "v2", model_name: str | None = None) -> Any:
        length = (headers or {}).get(INFERENCE_CONTENT_LENGTH_HEADER)
        try:
            if isinstance(body, bytes) and length is not None:
                try:
                    json_length = int(length)
                except ValueError as exc:
                    raise InvalidInput(f"Inference-Header-Content-Length {length!r} is not an integer") from exc
                return decode_binary_request(body, json_length, model_name or ""), {}
            return super().decode(body, headers, protocol_version=protocol_version, model_name=model_name)
        except InvalidInput:
            raise
        except Exception as exc:  # kserve's own decoding raises KeyError, TypeError... on malformed requests
            raise InvalidInput(f"malformed inference request: {type(exc).__name__}: {exc}") from exc


class PolledRepositoryExtension(ModelRepositoryExtension):
    """The repository is polled and the version policy decides what is loaded; no load/unload by API."""

    async def load(self, model_name: str) -> None:
        raise NotImplementedError(f"load {model_name!r}: models load from the S3 repository by the version policy")

    async def unload(self, model_name: str) -> None:
        raise NotImplementedError(f"unload {model_name!r}: models unload from the S3 repository by the version policy")
