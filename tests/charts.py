"""Rendering the charts offline with the real helm binary, for the chart and contract tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml
from odpipe.common.executables import executable

REPO = Path(__file__).resolve().parents[1]
CHARTS = REPO / "charts"
WORKFLOWS = CHARTS / "odpipe-workflows"
UMBRELLA = CHARTS / "odpipe"


def helm_bin() -> str:
    return executable("helm")


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([helm_bin(), *args], capture_output=True, text=True, check=False, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def render(
    chart: Path, *values: Path, sets: tuple[str, ...] = (), release: str = "odpipe", namespace: str = "mlops"
) -> list[dict[str, Any]]:
    args = ["template", release, str(chart), "--namespace", namespace]
    for v in values:
        args += ["-f", str(v)]
    for s in sets:
        args += ["--set", s]
    return [d for d in yaml.safe_load_all(helm(*args).stdout) if d]


def umbrella_offline(tmp: Path, real: dict[str, Path] | None = None) -> Path:
    """A copy of the umbrella whose charts/ holds the real odpipe-workflows and stand-ins for the two
    remote charts (same name and version, no templates), or the real packed charts named in `real`:
    renders offline and still exercises the umbrella's wiring into odpipe-workflows."""
    root = tmp / "umbrella"
    # not the charts/*.tgz a `make e2e` packed there (gitignored): this copy gets stand-ins of its own
    shutil.copytree(UMBRELLA, root / "odpipe", ignore=shutil.ignore_patterns("*.tgz"))
    shutil.copytree(WORKFLOWS, root / "odpipe-workflows")
    chart = root / "odpipe"
    deps = yaml.safe_load((chart / "Chart.yaml").read_text())["dependencies"]
    (chart / "charts").mkdir(exist_ok=True)
    helm("package", str(root / "odpipe-workflows"), "--destination", str(chart / "charts"))
    for dep in deps:
        if dep["repository"].startswith("file://"):
            continue
        if real and dep["name"] in real:  # a real packed chart, as `helm dependency build` lays it
            shutil.copy(real[dep["name"]], chart / "charts")
            continue
        stub = chart / "charts" / dep["name"]
        stub.mkdir()
        (stub / "Chart.yaml").write_text(
            yaml.safe_dump(
                {"apiVersion": "v2", "name": dep["name"], "version": dep["version"], "description": "offline stand-in"}
            )
        )
    return chart


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d.get("kind") == kind]
