"""Poll the S3 model repository and keep the registry on the version policy: load (download, verify,
warm up) a new version before it takes traffic, re-point the unversioned name in one dict assignment,
and only then drop versions that left the policy. Requests in flight keep the object they resolved."""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from kserve.model_repository import ModelRepository as Registry

from odpipe.common.errors import OdpipeError
from odpipe.common.storage import sha256_file
from odpipe.export.repository import ModelRepository
from odpipe.formats import contract
from odpipe.serve import metrics
from odpipe.serve.detector import Detector, Thresholds
from odpipe.serve.model import DetectorModel, version_key
from odpipe.serve.policy import VersionPolicy

log = logging.getLogger("odpipe.serve")


@dataclass
class WatcherOptions:
    names: list[str]
    policy: VersionPolicy
    max_batch: int = 8
    default: Thresholds = field(default_factory=Thresholds)
    threads: int | None = None


class RepositoryWatcher:
    def __init__(self, repository: ModelRepository, registry: Registry, options: WatcherOptions, scratch: Path) -> None:
        self.repository = repository
        self.registry = registry
        self.options = options
        self.scratch = scratch
        self.loaded: dict[str, dict[int, DetectorModel]] = {name: {} for name in options.names}
        self.failed: set[tuple[str, int]] = set()
        self.polled = False  # one whole poll done: every version the policy selected was tried
        self._lock = threading.Lock()  # one poll at a time

    def ready(self) -> bool:
        """A whole poll is done and every model has at least one version loaded."""
        return self.polled and all(self.loaded[name] for name in self.options.names)

    def poll(self) -> None:
        with self._lock:
            for name in self.options.names:
                try:
                    deployed = self.repository.deployed(name)
                except OdpipeError as exc:
                    metrics.POLL_ERRORS.labels(name).inc()
                    log.warning("model %s: cannot list s3://%s/%s/: %s", name, self.repository.bucket, name, exc)
                    continue
                self._apply(name, self.options.policy.select(deployed))
            self.polled = True

    def _apply(self, name: str, wanted: set[int]) -> None:
        current = self.loaded[name]
        for version in sorted(wanted - set(current)):
            if (name, version) in self.failed:
                continue
            model = self._load(name, version)
            if model is None:
                self.failed.add((name, version))
                continue
            current[version] = model
            self.registry.update(model, version_key(name, version))
            self._point_name(name)
            log.info("model %s version %d loaded (%s)", name, version, self.options.policy.describe())
        for version in sorted(set(current) - wanted):
            model = current.pop(version)
            self._point_name(name)
            with contextlib.suppress(KeyError):
                self.registry.unload(version_key(name, version))
            log.info("model %s version %d unloaded (%s)", name, version, self.options.policy.describe())
        metrics.set_loaded(name, sorted(current))

    def _point_name(self, name: str) -> None:
        current = self.loaded[name]
        if current:
            self.registry.update(current[max(current)], name)
        else:
            self.registry.get_models().pop(name, None)

    def _load(self, name: str, version: int) -> DetectorModel | None:
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-{version}-", dir=self.scratch))
        try:
            card = self.repository.card(name, version)
            onnx = folder / contract.MODEL
            self.repository.storage.download_file(self.repository.bucket, f"{name}/{version}/{contract.MODEL}", onnx)
            want = card.get("sha256")
            if want and sha256_file(onnx) != want:
                raise OdpipeError(f"model.onnx sha256 does not match its card ({want})")
            detector = Detector(onnx, card, threads=self.options.threads)
            detector.warm_up()
        except Exception as exc:
            metrics.LOADS.labels(name, "failed").inc()
            log.error("model %s version %d: not loaded: %s", name, version, exc)
            return None
        finally:
            shutil.rmtree(folder, ignore_errors=True)  # onnxruntime holds the model in memory
        metrics.LOADS.labels(name, "loaded").inc()
        return DetectorModel(
            name, version, detector, card, max_batch=self.options.max_batch, default=self.options.default
        )
