"""The few calls a task pod makes to the Kubernetes API, with its ServiceAccount's token (standard library
only: the task images carry no Kubernetes client)."""

from __future__ import annotations

import json
import os
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class KubeApi:
    server: str
    token: str
    context: ssl.SSLContext
    namespace: str

    @classmethod
    def in_cluster(cls) -> KubeApi:
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST"), os.environ.get("KUBERNETES_SERVICE_PORT", "443")
        if not host or not (SA_DIR / "token").exists():
            raise ApiError(0, f"not in a pod with a ServiceAccount token ({SA_DIR}/token, KUBERNETES_SERVICE_HOST)")
        host = f"[{host}]" if ":" in host else host
        context = ssl.create_default_context(cafile=str(SA_DIR / "ca.crt"))
        namespace = (SA_DIR / "namespace").read_text().strip()
        return cls(f"https://{host}:{port}", (SA_DIR / "token").read_text().strip(), context, namespace)

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=30) as resp:
                return dict(json.loads(resp.read()))
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("message", exc.reason)
            except ValueError:
                message = exc.reason
            raise ApiError(exc.code, f"{method} {path}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(0, f"{method} {self.server}{path}: {exc}") from None

    def configmap_path(self, name: str, namespace: str | None = None) -> str:
        return f"/api/v1/namespaces/{namespace or self.namespace}/configmaps/{name}"
