"""`odpipe check-serve` (helm test): is a KServe v2 server ready, and each named model on it."""

from __future__ import annotations

import time

from odpipe.serve.launch import http_status


def readiness(url: str, model_names: list[str], timeout: float, interval: float = 2.0) -> dict[str, int | None]:
    """Each readiness URL with the last HTTP status it answered (None: no answer), polled until all say 200
    or ``timeout`` seconds passed."""
    base = url.rstrip("/")
    urls = [f"{base}/v2/health/ready", *(f"{base}/v2/models/{name}/ready" for name in model_names)]
    deadline = time.monotonic() + timeout
    while True:
        status = {u: http_status(u) for u in urls}
        if all(code == 200 for code in status.values()) or time.monotonic() >= deadline:
            return status
        time.sleep(interval)
