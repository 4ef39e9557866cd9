"""The clients of the cluster: kubectl, helm and argo binaries, and the `.cluster/bin` wrappers that run
them inside the namespace with the cluster's kubeconfig."""

from __future__ import annotations

from pathlib import Path

from . import components as c
from .layout import KUBECONFIG, LOCAL, NETNS_PATH, REPO


def kubectl_bin() -> Path:
    return c.KUBERNETES.binary("kubectl")


def kubectl() -> list[str]:
    return [str(kubectl_bin()), f"--kubeconfig={KUBECONFIG}"]


def helm_bin() -> Path:
    return REPO / ".venv" / "bin" / "helm"


def argo_bin() -> Path:
    return c.ARGO.binary("argo")


def write_wrappers() -> None:
    """`.cluster/bin/{kubectl,helm,argo}`: each runs inside the namespace with the cluster's kubeconfig."""
    bindir = LOCAL / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for name, target in (("kubectl", kubectl_bin()), ("helm", helm_bin()), ("argo", argo_bin())):
        wrapper = bindir / name
        wrapper.write_text(
            "#!/bin/sh\n"
            f"# {name} inside the odpipe cluster's network namespace (made by `make cluster`; needs root)\n"
            f'exec nsenter --net={NETNS_PATH} -- env KUBECONFIG="{KUBECONFIG}" "{target}" "$@"\n'
        )
        wrapper.chmod(0o755)
