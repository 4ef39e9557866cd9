"""Lists from the API server over HTTPS with the enforcer's own client certificate."""

from __future__ import annotations

import json
import ssl
import urllib.request
from pathlib import Path

from .model import Json

PATHS = {
    "pods": "/api/v1/pods",
    "namespaces": "/api/v1/namespaces",
    "networkpolicies": "/apis/networking.k8s.io/v1/networkpolicies",
}


class Api:
    def __init__(self, server: str, pki: Path, identity: str) -> None:
        self.server = server
        self.context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.context.load_cert_chain(str(pki / f"{identity}.crt"), str(pki / f"{identity}.key"))

    def items(self, kind: str) -> list[Json]:
        with urllib.request.urlopen(self.server + PATHS[kind], context=self.context, timeout=10) as response:
            return list(json.load(response)["items"])
