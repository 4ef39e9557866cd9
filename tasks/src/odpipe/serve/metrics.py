"""Prometheus metrics kserve does not already export (it has pre/predict/post-process histograms),
served on kserve's /metrics, and the one debug log line per request."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

log = logging.getLogger("odpipe.serve.requests")

REQUESTS = Counter("odpipe_serve_requests_total", "HTTP requests", ["model", "endpoint", "code"])
ERRORS = Counter(
    "odpipe_serve_request_errors_total", "HTTP requests answered 4xx or 5xx", ["model", "endpoint", "code"]
)
LATENCY = Histogram(
    "odpipe_serve_request_duration_seconds",
    "HTTP request latency, body read to last byte sent",
    ["model", "endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("odpipe_serve_inference_in_flight", "Inference requests admitted and not yet answered")
REJECTED = Counter("odpipe_serve_rejected_total", "Requests refused before the model saw them", ["reason"])
LOADED_VERSIONS = Gauge("odpipe_serve_loaded_versions", "Versions of a model loaded", ["model"])
VERSION_LOADED = Gauge("odpipe_serve_model_version_loaded", "1 for each loaded model version", ["model", "version"])
LOADS = Counter("odpipe_serve_model_loads_total", "Model version loads", ["model", "result"])
POLL_ERRORS = Counter("odpipe_serve_repository_poll_errors_total", "Failed polls of the S3 repository", ["model"])

_PATH = re.compile(r"^/v2/models/(?P<model>[^/@]+)(?:@\d+|/versions/\d+)?(?P<rest>/ready|/infer)?/?$")
_loaded: dict[str, set[str]] = {}


def set_loaded(name: str, versions: list[int]) -> None:
    now = {str(v) for v in versions}
    for gone in _loaded.get(name, set()) - now:
        VERSION_LOADED.remove(name, gone)
    for version in now:
        VERSION_LOADED.labels(name, version).set(1)
    _loaded[name] = now
    LOADED_VERSIONS.labels(name).set(len(now))


def classify(path: str, known: set[str]) -> tuple[str, str]:
    """(model, endpoint) labels with a bounded set of values: unknown names are not labels."""
    match = _PATH.match(path)
    if match:
        model = match["model"] if match["model"] in known else "unknown"
        return model, {"/infer": "infer", "/ready": "model_ready"}.get(match["rest"] or "", "model_metadata")
    if path.startswith("/v2/health/"):
        return "", path.rsplit("/", 1)[-1]
    if path == "/metrics":
        return "", "metrics"
    return "", "other"


class MetricsMiddleware:
    def __init__(self, app: Any, known: set[str]) -> None:
        self.app = app
        self.known = known

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            elapsed = time.perf_counter() - started
            model, endpoint = classify(scope["path"], self.known)
            REQUESTS.labels(model, endpoint, str(status)).inc()
            if status >= 400:
                ERRORS.labels(model, endpoint, str(status)).inc()
            LATENCY.labels(model, endpoint).observe(elapsed)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s %s %d %.1fms", scope["method"], scope["path"], status, elapsed * 1000)
