"""The chart, rendered: find it, render it with helm, and read what the runner needs from it."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from odpipe.common.errors import InputError
from odpipe.common.executables import find_executable
from odpipe.local.errors import ChartError

RELEASE = "odpipe"
NAMESPACE = "odpipe-local"
DEFAULT_REPOSITORY_ANNOTATION = "workflows.argoproj.io/default-artifact-repository"


def find_chart(explicit: Path | None) -> Path:
    candidates = [explicit] if explicit else []
    if os.environ.get("ODPIPE_CHART"):
        candidates.append(Path(os.environ["ODPIPE_CHART"]))
    for base in (Path.cwd(), Path(__file__).resolve()):
        for parent in (base, *base.parents):
            candidates.append(parent / "charts" / "odpipe-workflows")
    for c in candidates:
        if c and (c / "Chart.yaml").exists():
            return c
    raise InputError(
        "chart charts/odpipe-workflows not found: run from the odpipe repository, pass --chart, or set ODPIPE_CHART"
    )


def render_chart(
    chart: Path, endpoint: str, insecure: bool, overrides: list[str] | None = None
) -> list[dict[str, Any]]:
    """`helm template` with the S3 endpoint this run uses; `overrides` are `--set key=value` items."""
    helm = find_executable("helm")
    if not helm:
        raise InputError("helm not found (make setup installs it into the venv): odpipe run renders the chart with it")
    args = [helm, "template", RELEASE, str(chart), "--namespace", NAMESPACE]
    # memoize is Argo's controller's (a ConfigMap cache in its namespace): without one there is nothing to keep it
    settings = [f"s3.endpoint={endpoint}", f"s3.insecure={str(insecure).lower()}", "tests.enabled=false",
                "memoize.enabled=false"]  # fmt: skip
    for item in [*settings, *(overrides or [])]:
        args += ["--set", item]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise InputError(f"helm template {chart} failed:\n{proc.stderr.strip()}")
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@dataclass(frozen=True)
class ArtifactRepository:
    bucket: str
    key_format: str
    access_key: tuple[str, str]  # (Secret name, key)
    secret_key: tuple[str, str]


def artifact_repository(docs: list[dict[str, Any]]) -> ArtifactRepository:
    """The default artifact repository, read as Argo reads it: the ConfigMap with the annotation."""
    for doc in docs:
        annotations = doc.get("metadata", {}).get("annotations") or {}
        if doc.get("kind") == "ConfigMap" and DEFAULT_REPOSITORY_ANNOTATION in annotations:
            key = annotations[DEFAULT_REPOSITORY_ANNOTATION]
            if key not in (doc.get("data") or {}):
                raise ChartError(f"ConfigMap {doc['metadata']['name']}: the default repository key {key!r} is missing")
            s3 = (yaml.safe_load(doc["data"][key]) or {}).get("s3")
            if not s3:
                raise ChartError(f"ConfigMap {doc['metadata']['name']}/{key}: not an s3 artifact repository")
            return ArtifactRepository(
                bucket=s3["bucket"],
                key_format=s3.get("keyFormat", "{{workflow.name}}/{{pod.name}}"),
                access_key=(s3["accessKeySecret"]["name"], s3["accessKeySecret"]["key"]),
                secret_key=(s3["secretKeySecret"]["name"], s3["secretKeySecret"]["key"]),
            )
    raise ChartError(
        f"the rendered chart has no ConfigMap annotated {DEFAULT_REPOSITORY_ANNOTATION} "
        "(Argo's default artifact repository): odpipe run stores artifacts where Argo would, so it needs one"
    )


def workflow_templates(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d.get("kind") == "WorkflowTemplate"}


def task_env(template: dict[str, Any]) -> dict[str, str]:
    """Plain `value` env of a WorkflowTemplate's first container template (bucket names and the like)."""
    for tpl in template["spec"]["templates"]:
        if "container" in tpl:
            return {e["name"]: str(e["value"]) for e in tpl["container"].get("env", []) if "value" in e}
    raise ChartError(f"WorkflowTemplate {template['metadata']['name']} has no container template")
