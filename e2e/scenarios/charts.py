"""The charts a scenario installs, laid out as `helm dependency build` would: argo-helm's real
argo-workflows chart (../shared/charts, the umbrella's pin), MinIO's chart from the minio module's
helm/minio, and odpipe-workflows packed from the tree; plus the image values of what was built here."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from e2e.cluster import components as c
from e2e.cluster.components import module_source
from e2e.cluster.images import task_images
from e2e.cluster.layout import REPO

from .kube import helm, sh

UMBRELLA = REPO / "charts" / "odpipe"
WORKFLOWS = REPO / "charts" / "odpipe-workflows"
SHARED_CHARTS = REPO.parent / "shared" / "charts"
CLUSTER_VALUES = REPO / "e2e" / "values-cluster.yaml"


def dependency(name: str) -> dict[str, str]:
    deps = yaml.safe_load((UMBRELLA / "Chart.yaml").read_text())["dependencies"]
    return next(d for d in deps if d["name"] == name)


def argo_chart() -> Path:
    """The argo-workflows chart the umbrella pins, as users download it."""
    path = SHARED_CHARTS / f"argo-workflows-{dependency('argo-workflows')['version']}.tgz"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: the umbrella scenario needs argo-helm's chart from ../shared/charts")
    return path


def argo_app_version() -> str:
    import tarfile

    with tarfile.open(argo_chart()) as tar:
        member = tar.extractfile("argo-workflows/Chart.yaml")
        assert member is not None
        return str(yaml.safe_load(member.read())["appVersion"])


def minio_chart(work: Path) -> Path:
    chart = work / "minio-chart"
    if not chart.exists():
        shutil.copytree(module_source(c.MINIO) / "helm" / "minio", chart)
        sh("chmod", "-R", "u+w", chart)
    return chart


def pack_umbrella(work: Path) -> list[Path]:
    """charts/odpipe/charts/ for this run only (gitignored, removed by `unpack_umbrella`)."""
    out = UMBRELLA / "charts"
    out.mkdir(exist_ok=True)
    unpack_umbrella()
    shutil.copy(argo_chart(), out)
    for chart in (minio_chart(work), WORKFLOWS):
        helm("package", str(chart), "--destination", str(out))
    return sorted(out.glob("*.tgz"))


def unpack_umbrella() -> None:
    for packed in (UMBRELLA / "charts").glob("*.tgz"):
        packed.unlink()


def odpipe_images(prefix: str = "odpipe-workflows.") -> list[str]:
    images = task_images()
    tag = images["prepare"].rsplit(":", 1)[1]
    registry = images["prepare"].split("/", 1)[0]
    return ["--set", f"{prefix}image.registry={registry}", "--set", f"{prefix}image.tag={tag}"]


def minio_images(prefix: str = "minio.") -> list[str]:
    return ["--set", f"{prefix}image.tag={c.minio_release(c.MINIO.version)}",
            "--set", f"{prefix}mcImage.tag={c.minio_release(c.MC.version)}"]  # fmt: skip


def argo_images() -> list[str]:
    """The pinned chart runs the Argo built here; when its appVersion is not the buildable one, the
    image tag says so (and the summary prints it)."""
    if argo_app_version() == c.ARGO.version:
        return []
    return ["--set", f"argo-workflows.images.tag={c.ARGO.version}"]


def serving_clients() -> dict[str, str]:
    """The labels e2e/values-cluster.yaml lets reach serve (serving.ingressFrom's pod selector)."""
    values = yaml.safe_load(CLUSTER_VALUES.read_text())
    return dict(values["odpipe-workflows"]["serving"]["ingressFrom"][0]["podSelector"]["matchLabels"])


def umbrella_values() -> list[str]:
    return ["-f", str(CLUSTER_VALUES), *minio_images(), *odpipe_images(), *argo_images()]
