"""A minimal Kubernetes API server on 127.0.0.1 for `helm template --dry-run=server`, so the chart's
`lookup` of an existing Secret can be exercised offline (an upgrade render). It serves discovery for
the kinds odpipe renders, GET of the Secrets it is given and of any other objects given by their API path
(e.g. /apis/argoproj.io/v1alpha1/namespaces/mlops/workflowtemplates/odpipe-pipeline); everything else is 404."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RESOURCES = {
    "v1": [
        ("secrets", "Secret"),
        ("configmaps", "ConfigMap"),
        ("serviceaccounts", "ServiceAccount"),
        ("persistentvolumeclaims", "PersistentVolumeClaim"),
        ("pods", "Pod"),
        ("services", "Service"),
    ],
    "rbac.authorization.k8s.io/v1": [("roles", "Role"), ("rolebindings", "RoleBinding")],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy")],
    "argoproj.io/v1alpha1": [("workflowtemplates", "WorkflowTemplate")],
}


def _resource_list(gv: str, resources: dict[str, list[tuple[str, str]]]) -> dict[str, Any]:
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": gv,
        "resources": [
            {
                "name": n,
                "singularName": k.lower(),
                "namespaced": True,
                "kind": k,
                "verbs": ["get", "list", "create", "update", "patch", "delete"],
            }
            for n, k in resources[gv]
        ],
    }


@contextmanager
def fake_kube(
    tmp: Path,
    secrets: dict[tuple[str, str], dict[str, Any]],
    objects: dict[str, dict[str, Any]] | None = None,
    without: tuple[str, ...] = (),
) -> Iterator[Path]:
    """Serve until the block ends; yields a kubeconfig path. `without` leaves group-versions out of
    discovery (e.g. "argoproj.io/v1alpha1": a cluster where Argo's CRDs do not exist yet)."""
    served = {gv: kinds for gv, kinds in RESOURCES.items() if gv not in without}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0].rstrip("/")
            body: dict[str, Any] | None = None
            if path == "/version":
                body = {"major": "1", "minor": "35", "gitVersion": "v1.35.0"}
            elif path == "/api":
                body = {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
            elif path == "/apis":
                groups = sorted({gv.split("/")[0] for gv in served if "/" in gv})
                body = {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [
                        {
                            "name": g,
                            "versions": [
                                {"groupVersion": gv, "version": gv.split("/")[1]}
                                for gv in served
                                if gv.startswith(g + "/")
                            ],
                            "preferredVersion": {
                                "groupVersion": next(gv for gv in served if gv.startswith(g + "/")),
                                "version": next(gv for gv in served if gv.startswith(g + "/")).split("/")[1],
                            },
                        }
                        for g in groups
                    ],
                }
            elif path == "/api/v1":
                body = _resource_list("v1", served)
            elif path.startswith("/apis/") and path[len("/apis/") :] in served:
                body = _resource_list(path[len("/apis/") :], served)
            else:
                parts = path.split("/")
                if len(parts) == 7 and parts[1:3] == ["api", "v1"] and parts[5] == "secrets":
                    body = secrets.get((parts[4], parts[6]))
                else:
                    body = (objects or {}).get(path)
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(
                json.dumps(
                    body
                    if body is not None
                    else {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
                ).encode()
            )

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "fake",
                "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_address[1]}"}}],
                "users": [{"name": "fake", "user": {"token": "unused"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            }
        )
    )
    try:
        yield kubeconfig
    finally:
        server.shutdown()
        server.server_close()
