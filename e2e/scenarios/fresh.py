"""Every scenario starts on a cluster as a new user finds it: no namespace of an earlier run, no Argo CRDs
or cluster roles, the local volumes that earlier runs released emptied and free again."""

from __future__ import annotations

import shutil
from pathlib import Path

from .kube import k, kjson

NAMESPACES = ("mlops", "argo", "minio", "odpipe")


def fresh_cluster() -> None:
    present = set(k("get", "namespaces", "-o", "name").split())
    for ns in NAMESPACES:
        if f"namespace/{ns}" in present:
            release_workflows(ns)
            k("delete", "namespace", ns, "--wait=true", "--timeout=300s")
    _delete_argo_cluster_objects()
    for pv in kjson("get", "pv")["items"]:
        if pv["status"].get("phase") == "Released":
            path = Path(pv["spec"]["local"]["path"])
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            k("patch", "pv", pv["metadata"]["name"], "--type=json", "-p", '[{"op":"remove","path":"/spec/claimRef"}]')


def release_workflows(namespace: str) -> None:
    """Workflows keep Argo's artifact-gc finalizer until their GC pods ran; with the namespace's own
    controller deleted first (the umbrella's), nothing would remove it and the namespace would never go
    (docs/unattended.md says what a user does; here the artifacts go with the volumes anyway)."""
    if not k("get", "crd", "workflows.argoproj.io", "--ignore-not-found", "-o", "name").strip():
        return
    for name in k("-n", namespace, "get", "workflows", "-o", "name").split():
        k("-n", namespace, "patch", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)


def _delete_argo_cluster_objects() -> None:
    """Argo's CRDs (kept on uninstall by design) and the cluster roles its manifests made."""
    for kind in ("crd", "clusterrole", "clusterrolebinding", "priorityclass"):
        names = k("get", kind, "-o", "name").split()
        ours = [n for n in names if "argo" in n.split("/", 1)[1] or "workflow-controller" in n]
        if ours:
            k("delete", *ours, "--wait=true", "--timeout=300s")
