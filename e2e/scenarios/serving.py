"""The serve Service: which version answers, one v2 inference, and requests in a loop during a swap."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from .kube import MODEL, kjson


def serve_url(namespace: str) -> str:
    svc = kjson("-n", namespace, "get", "svc", "-l", "app.kubernetes.io/component=serving")["items"][0]
    return f"{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"


def wait_serving_version(url: str, version: str, timeout: float = 300) -> float:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if client.is_model_ready(MODEL, version) and client.get_model_metadata(MODEL)["versions"][-1:] == [version]:
                return time.monotonic() - started
        except Exception:
            pass
        time.sleep(1)
    raise RuntimeError(f"the serve Service at {url} did not serve {MODEL} version {version} within {timeout:.0f} s")


def infer(url: str, image: Path) -> dict[str, Any]:
    import numpy as np
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url, network_timeout=60)
    item = httpclient.InferInput("image", [1], "BYTES")
    item.set_data_from_numpy(np.array([image.read_bytes()], dtype=np.object_))
    result = client.infer(MODEL, [item])
    n = int(result.as_numpy("num_detections")[0])
    return {"version": result.get_response()["model_version"], "detections": n,
            "top": [round(float(x), 3) for x in result.as_numpy("scores")[0, :3]]}  # fmt: skip


class Traffic(threading.Thread):
    """Requests in a loop while a new version is published: every answer's version, every failure."""

    def __init__(self, url: str, image: Path) -> None:
        super().__init__(daemon=True)
        self.url, self.image, self.stop = url, image, threading.Event()
        self.versions: list[str] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.versions.append(infer(self.url, self.image)["version"])
            except Exception as exc:
                self.failures.append(str(exc)[:200])
            self.stop.wait(0.5)
