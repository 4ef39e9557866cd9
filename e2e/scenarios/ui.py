"""The Argo UI's side of a run, as a user reaches it: argo-server through `kubectl port-forward` (as
NOTES.txt says), logged in with a ServiceAccount token (client auth mode, as Argo's docs set one up).
It refuses a request without a token; it lists the workflow's steps; and each of the three HTML reports,
opened through its artifact server with Argo's own content policy, shows every picture: headless
Chromium screenshots each one, and a checking page on the same origin counts the pictures that loaded."""

from __future__ import annotations

import http.server
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from e2e.cluster.layout import LOCAL

from .browser import ARGO_ARTIFACT_CSP, CHECK_PATH, check_page, count_pictures, screenshot
from .kube import k, port_forward
from .summary import Report

SHOTS = LOCAL / "screenshots"
REPORTS = ("dataset-report", "evaluation-report", "model-report")
VIEWER = "odpipe-e2e-viewer"


def viewer_token(namespace: str, secret: str) -> str:
    """Argo's docs for client auth: a ServiceAccount, a Role, a RoleBinding, a token. Reading an artifact
    needs the artifact repository's Secret too (argo-server reads S3 as the caller in client mode)."""
    k("-n", namespace, "create", "serviceaccount", VIEWER)
    k("-n", namespace, "create", "role", VIEWER, "--verb=get,list,watch", "--resource=workflows.argoproj.io")
    k(
        "-n",
        namespace,
        "create",
        "role",
        f"{VIEWER}-s3",
        "--verb=get",
        "--resource=secrets",
        f"--resource-name={secret}",
    )
    for role in (VIEWER, f"{VIEWER}-s3"):
        k("-n", namespace, "create", "rolebinding", role, f"--role={role}", f"--serviceaccount={namespace}:{VIEWER}")
    return k("-n", namespace, "create", "token", VIEWER, "--duration=1h").strip()


def get(url: str, token: str | None) -> tuple[int, dict[str, str], bytes]:
    """A GET to argo-server; its https (Argo's release manifests run it --secure, self-signed) unverified."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    insecure = ssl.create_default_context()
    insecure.check_hostname, insecure.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(request, timeout=60, context=insecure) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


@contextmanager
def logged_in_proxy(upstream: str, token: str) -> Iterator[str]:
    """A loopback proxy that adds the token (as the UI's login cookie does) and passes argo-server's
    answers through with their headers, its content policy among them; CHECK_PATH is served here."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith(CHECK_PATH + "?src="):
                status, headers, body = (
                    200,
                    {"Content-Type": "text/html"},
                    check_page(self.path.split("?src=", 1)[1]).encode(),
                )
            else:
                status, headers, body = get(upstream + self.path, token)
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def report_nodes(wf: dict[str, Any]) -> dict[str, str]:
    """Each report artifact -> the id of the Pod node that wrote it."""
    out = {}
    for node in wf["status"]["nodes"].values():
        if node.get("type") == "Pod" and node.get("phase") == "Succeeded":
            for art in node.get("outputs", {}).get("artifacts", []):
                if art["name"] in REPORTS:
                    out[art["name"]] = node["id"]
    return out


def check_ui(r: Report, namespace: str, server: str, secret: str, workflow: str, *,
             server_namespace: str = "", scheme: str = "http") -> None:  # fmt: skip
    """`server` in `server_namespace` (default: the workflow's), answering `scheme`."""
    with r.step(f"Argo UI ({server}): argo-server refuses no token, lists the steps, shows each report") as note:
        token = viewer_token(namespace, secret)
        with port_forward(server_namespace or namespace, server, 2746) as port:
            base = f"{scheme}://127.0.0.1:{port}"
            status, _, _ = get(f"{base}/api/v1/workflows/{namespace}/{workflow}", None)
            if status not in (401, 403):
                raise RuntimeError(f"argo-server answered {status} to a request without a token")
            wf = _workflow(base, namespace, workflow, token)
            r.facts["ui steps"] = sorted(
                {n["displayName"] for n in wf["status"]["nodes"].values() if n["type"] == "Pod"}
            )
            if not {"prepare", "train", "export-deploy"} <= {s.split("(")[0] for s in r.facts["ui steps"]}:
                raise RuntimeError(f"the workflow shows steps {r.facts['ui steps']}")
            with logged_in_proxy(base, token) as proxy:
                seen = {name: _show_report(r, proxy, namespace, workflow, node, name, server)
                        for name, node in sorted(report_nodes(wf).items())}  # fmt: skip
        r.facts["ui reports"] = seen
        if sorted(seen) != sorted(REPORTS):
            raise RuntimeError(f"reports found: {sorted(seen)}")
        note[""] = ", ".join(f"{n}: {s['images']} pictures + {s['svgs']} charts, 0 broken" for n, s in seen.items())


def _workflow(base: str, namespace: str, name: str, token: str) -> dict[str, Any]:
    import json

    status, _, body = get(f"{base}/api/v1/workflows/{namespace}/{name}", token)
    if status != 200:
        raise RuntimeError(f"argo-server answered {status} with the viewer's token: {body[:300]!r}")
    return dict(json.loads(body))


def _show_report(
    r: Report, proxy: str, namespace: str, workflow: str, node: str, name: str, prefix: str
) -> dict[str, Any]:
    path = f"/artifact-files/{namespace}/workflows/{workflow}/{node}/outputs/{name}"
    status, headers, body = get(proxy + path, None)
    policy = headers.get("Content-Security-Policy", "")
    if status != 200 or policy != ARGO_ARTIFACT_CSP or b"<!DOCTYPE html>" not in body[:100]:
        raise RuntimeError(f"{name}: {status}, policy {policy!r}, {body[:120]!r}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{prefix}-{name}.png"
    profile = SHOTS / f".chromium-{prefix}-{name}"
    console = screenshot(proxy + path, shot, profile)
    seen = count_pictures(f"{proxy}{CHECK_PATH}?src={path}", profile)
    blocked = [line for line in console if "Content Security Policy" in line]
    if seen["broken"] or blocked or not seen["images"] + seen["svgs"]:
        raise RuntimeError(f"{name} in Argo's artifact view: {seen}, console {blocked[:2]}")
    r.screenshots.append(shot)
    return seen
