"""The cluster's programs, built with `go build` from the modules under e2e/modules (each pins one
component in its go.mod) into a cache keyed by component, version and build inputs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .layout import CACHE, MODULES


def required_version(module_dir: Path, module: str) -> str:
    """The version go.mod requires of `module` (one source of truth: the go.mod, not this code)."""
    text = (module_dir / "go.mod").read_text()
    found = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.MULTILINE)
    if not found:
        raise ValueError(f"{module_dir / 'go.mod'}: no require line for {module}")
    return found.group(1)


def pseudo_time(version: str) -> str:
    """v0.0.0-20241121172154-1681e4497c09 -> 2024-11-21T17:21:54Z (MinIO's tags are these times)."""
    stamp = version.split("-")[-2][-14:]
    return f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[8:10]}:{stamp[10:12]}:{stamp[12:14]}Z"


def minio_release(version: str) -> str:
    return "RELEASE." + pseudo_time(version).replace(":", "-")


@dataclass(frozen=True)
class Component:
    name: str
    #: the module whose version this component is (the go.mod's require line); "" for our own code
    module: str
    packages: tuple[str, ...]
    ldflags: Callable[[str], list[str]] = lambda _v: []
    #: files the module embeds but its zip leaves out (Argo's UI), given placeholders in a source copy
    placeholders: dict[str, str] = field(default_factory=dict)
    #: source files the module's zip lacks, written here: e2e/modules/<name>/missing/<file>.in -> <path>
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def module_dir(self) -> Path:
        return MODULES / self.name

    @property
    def version(self) -> str:
        if not self.module:
            return "src-" + self.inputs_hash()[:12]
        return required_version(self.module_dir, self.module)

    def inputs_hash(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.module_dir.rglob("*")):
            if path.is_file():
                digest.update(path.name.encode() + b"\0" + path.read_bytes())
        digest.update(json.dumps(self.ldflags((self.module and self.version) or "")).encode())
        return digest.hexdigest()

    @property
    def out_dir(self) -> Path:
        return CACHE / "bin" / f"{self.name}-{self.version}-{self.inputs_hash()[:8]}"

    def binary(self, name: str) -> Path:
        return self.out_dir / name

    def built(self) -> bool:
        return (self.out_dir / ".complete").exists()


def _k8s_ldflags(version: str) -> list[str]:
    major, minor = version.lstrip("v").split(".")[:2]
    pkg = "k8s.io/component-base/version"
    return [
        f"-X {pkg}.gitVersion={version}",
        f"-X {pkg}.gitMajor={major}",
        f"-X {pkg}.gitMinor={minor}",
        f"-X {pkg}.gitTreeState=clean",
        f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
    ]


def _argo_ldflags(version: str) -> list[str]:
    # The controller names its executor image by this version (quay.io/argoproj/argoexec:<version>).
    pkg = "github.com/argoproj/argo-workflows/v4"
    return [f"-X {pkg}.version={version}", f"-X {pkg}.gitTag={version}", f"-X {pkg}.gitTreeState=clean"]


def _minio_ldflags(pkg: str) -> Callable[[str], list[str]]:
    def flags(version: str) -> list[str]:
        commit = version.split("-")[-1]
        return [
            f"-X {pkg}.Version={pseudo_time(version)}",
            f"-X {pkg}.ReleaseTag={minio_release(version)}",
            f"-X {pkg}.CommitID={commit}",
            f"-X {pkg}.ShortCommitID={commit}",
        ]

    return flags


KUBERNETES = Component(
    "kubernetes",
    "k8s.io/kubernetes",
    tuple(
        f"k8s.io/kubernetes/cmd/{c}"
        for c in ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl")
    ),
    _k8s_ldflags,
)
ARGO = Component(
    "argo",
    "github.com/argoproj/argo-workflows/v4",
    tuple(f"github.com/argoproj/argo-workflows/v4/cmd/{c}" for c in ("workflow-controller", "argoexec", "argo")),
    _argo_ldflags,
    placeholders={
        "ui/dist/app/index.html": "<!doctype html><title>Argo Workflows</title>"
        "<p>This argo binary was built from its Go module, which does not carry the web UI.</p>\n"
    },
    missing={"signal_linux.go.in": "workflow/executor/osspecific/signal_linux.go"},
)
MINIO = Component(
    "minio", "github.com/minio/minio", ("github.com/minio/minio",), _minio_ldflags("github.com/minio/minio/cmd")
)
MC = Component("mc", "github.com/minio/mc", ("github.com/minio/mc",), _minio_ldflags("github.com/minio/mc/cmd"))
COREDNS = Component("coredns", "github.com/coredns/coredns", ("odpipe.dev/e2e/coredns",))
PAUSE = Component("pause", "", ("odpipe.dev/e2e/pause",))
#: Debian's etcd 3.4.23 lacks RequestWatchProgress, which the apiserver needs for watch-list streams
ETCD = Component("etcd", "go.etcd.io/etcd/server/v3", ("odpipe.dev/e2e/etcd",))

ALL = (KUBERNETES, ARGO, MINIO, MC, COREDNS, PAUSE, ETCD)


def module_source(component: Component) -> Path:
    """The module's source in the Go module cache, downloaded and extracted if missing.

    `go mod download`, not `go list -m -f {{.Dir}}`: on a cold cache a build of another package may have
    fetched only the module's go.mod, and `go list` then answers an empty Dir (found by a cold CI run).
    """
    out = subprocess.run(
        ["go", "mod", "download", "-json", component.module],
        cwd=component.module_dir,
        capture_output=True,
        text=True,
        check=False,
    )
    info = json.loads(out.stdout or "{}")
    source = Path(info.get("Dir") or "")
    if out.returncode != 0 or not info.get("Dir") or not source.is_dir():
        raise RuntimeError(
            f"{component.module}: no source in the Go module cache ({info.get('Error') or out.stderr.strip()})"
        )
    return source


def _source_copy(component: Component, work: Path) -> tuple[Path, list[str]]:
    """A writable copy of the module with its placeholders, built as the main module (its own go.mod
    and go.sum, so the dependency versions are upstream's). go build -overlay cannot do this: it
    refuses to replace files inside the module cache."""
    source = module_source(component)
    copy = work / "src"
    shutil.copytree(source, copy)
    subprocess.run(["chmod", "-R", "u+w", str(copy)], check=True)
    for rel, content in component.placeholders.items():
        (copy / rel).parent.mkdir(parents=True, exist_ok=True)
        (copy / rel).write_text(content)
    for name, rel in component.missing.items():
        target = copy / rel
        if target.exists():
            raise RuntimeError(f"{component.name}: {rel} is in the module now; drop missing/{name}")
        shutil.copyfile(component.module_dir / "missing" / name, target)
    return copy, ["./" + pkg.removeprefix(component.module).lstrip("/") for pkg in component.packages]


def build(component: Component, log: Callable[[str], None] = print) -> float:
    """Build the component's binaries unless the cache has them; returns the seconds spent."""
    if component.built():
        return 0.0
    started = time.monotonic()
    work = component.out_dir.with_name(component.out_dir.name + ".tmp")
    shutil.rmtree(work, ignore_errors=True)
    (work / "bin").mkdir(parents=True)
    ldflags = " ".join(["-s", "-w", *component.ldflags((component.module and component.version) or "")])
    cwd, packages = component.module_dir, list(component.packages)
    if component.placeholders:
        cwd, packages = _source_copy(component, work)
    cmd = ["go", "build", "-trimpath", f"-ldflags={ldflags}", "-o", str(work / "bin") + "/", *packages]
    env = {**os.environ, "CGO_ENABLED": "0", "GOFLAGS": "-mod=readonly"}
    log(f"building {component.name} {component.version} ({len(component.packages)} programs)")
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"go build of {component.name} failed:\n{proc.stderr[-4000:]}")
    shutil.rmtree(component.out_dir, ignore_errors=True)
    (work / "bin").rename(component.out_dir)
    shutil.rmtree(work, ignore_errors=True)
    seconds = time.monotonic() - started
    (component.out_dir / ".complete").write_text(f"{seconds:.0f}\n")
    return seconds


def build_all(log: Callable[[str], None] = print) -> dict[str, float]:
    return {c.name: build(c, log) for c in ALL}
