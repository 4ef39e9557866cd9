"""Artifacts in and out of a step, as Argo's executor moves them.

Inputs are downloaded before the step starts; outputs are uploaded after it succeeds, to
`<keyFormat>/<file>` for `archive: none` files and `<keyFormat>/<artifact name>.tgz` otherwise. Paths are
the container's (`/artifacts/inputs/...`); `sandbox` maps them to the folder this machine uses for them.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odpipe.common.errors import InputError
from odpipe.common.storage import Storage
from odpipe.local.errors import UnsupportedArgo
from odpipe.local.placeholders import substitute

ARTIFACT_REF = "artifact:"  # how a task output artifact is passed to the next task's scope


@dataclass(frozen=True)
class ArtifactStore:
    """Where artifacts go: one storage client and the artifact repository's bucket."""

    storage: Storage
    bucket: str


def sandbox_path(root: Path, container_path: str) -> Path:
    return root / container_path.lstrip("/")


def fetch_inputs(
    store: ArtifactStore,
    pod: str,
    root: Path,
    template: dict[str, Any],
    scope: dict[str, str],
    sources: dict[str, str],
) -> list[str]:
    """Download the template's input artifacts into the sandbox; returns the container paths placed."""
    placed = []
    for art in template.get("inputs", {}).get("artifacts", []):
        dest = sandbox_path(root, art["path"])
        source = sources.get(art["name"])
        if source:
            ref = substitute(source, scope, f"{pod} artifact {art['name']}")
            if not ref.startswith(ARTIFACT_REF):
                raise InputError(f"{pod}: artifact {art['name']} from {source!r} is not a task output")
            bucket, key = store.bucket, ref[len(ARTIFACT_REF) :]
        elif "s3" in art:
            bucket = art["s3"].get("bucket") or store.bucket
            key = substitute(str(art["s3"]["key"]), scope, f"{pod} artifact {art['name']}")
        elif art.get("optional"):
            continue
        else:
            raise InputError(f"{pod}: input artifact {art['name']!r} has no source")
        if key.endswith(".tgz"):
            untar(store.storage.get_bytes(bucket, key), dest)
        else:
            store.storage.download_file(bucket, key, dest)
        placed.append(art["path"])
    return placed


def collect_outputs(
    store: ArtifactStore, pod: str, root: Path, template: dict[str, Any], key_prefix: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Read output parameters and upload output artifacts: (parameters, artifact name -> key)."""
    outputs = template.get("outputs", {})
    parameters: dict[str, str] = {}
    for p in outputs.get("parameters", []):
        path = p.get("valueFrom", {}).get("path")
        if not path:
            raise UnsupportedArgo(f"{pod}: output parameter {p['name']} without valueFrom.path")
        local = sandbox_path(root, path)
        if not local.exists():
            raise InputError(f"{pod}: output parameter {p['name']}: {path} was not written")
        parameters[p["name"]] = local.read_text().strip()
    artifacts: dict[str, str] = {}
    for art in outputs.get("artifacts", []):
        local = sandbox_path(root, art["path"])
        if not local.exists():
            if art.get("optional"):
                continue
            raise InputError(f"{pod}: output artifact {art['name']}: {art['path']} was not written")
        if "none" in art.get("archive", {}):
            key = f"{key_prefix}/{local.name}"
            if local.is_dir():  # as Argo's executor does: each file under the folder's key
                for path in sorted(p for p in local.rglob("*") if p.is_file()):
                    store.storage.upload_file(path, store.bucket, f"{key}/{path.relative_to(local).as_posix()}")
            else:
                store.storage.upload_file(local, store.bucket, key)
        else:
            key = f"{key_prefix}/{art['name']}.tgz"
            tgz = root / "staging" / f"{art['name']}.tgz"
            tgz.parent.mkdir(parents=True, exist_ok=True)
            tar_to(local, tgz)
            store.storage.upload_file(tgz, store.bucket, key)
        artifacts[art["name"]] = key
    return parameters, artifacts


def tar_to(source: Path, tgz: Path) -> None:
    """Argo's tgz: the file or folder as the archive's single top entry."""
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(source, arcname=source.name)


def untar(data: bytes, dest: Path) -> None:
    """Unpack an Argo tgz artifact to `dest` (its single top entry becomes `dest`)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
        tops = {m.name.split("/")[0] for m in members}
        if len(tops) != 1:
            raise InputError(f"artifact archive for {dest} has {len(tops)} top entries, expected 1")
        top = tops.pop()
        for m in members:
            m.name = dest.name + m.name[len(top) :]
        tar.extractall(dest.parent, members=members, filter="data")
