"""The task images' sources without a container engine: Dockerfiles lint clean and agree with the chart,
and the build script explains a missing engine. tests/test_containers.py builds and runs the images."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "images"
TASKS = {"prepare": "prepare", "train": "train", "export-deploy": "export"}
# train and export-deploy share one Dockerfile (one torch layer), selected with --build-arg TASK
DOCKERFILES = {"prepare": "prepare", "train": "torch", "export-deploy": "torch"}
VALUES = yaml.safe_load((REPO / "charts/odpipe-workflows/values.yaml").read_text())
CHART_TASK_KEY = {"prepare": "prepare", "train": "train", "export-deploy": "exportDeploy"}


def _dockerfile(task: str) -> str:
    return (IMAGES / DOCKERFILES[task] / "Dockerfile").read_text()


@pytest.mark.parametrize("folder", sorted(set(DOCKERFILES.values())))
def test_hadolint_clean(folder: str) -> None:
    exe = Path(sys.executable).parent / "hadolint"
    proc = subprocess.run(
        [str(exe), "--failure-threshold", "info", str(IMAGES / folder / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("task", sorted(TASKS))
def test_dockerfile_agrees_with_the_chart(task: str) -> None:
    text = _dockerfile(task)
    uid = VALUES["workflow"]["podSecurityContext"]["runAsUser"]
    gid = VALUES["workflow"]["podSecurityContext"]["runAsGroup"]
    assert re.search(rf"^USER {uid}:{gid}$", text, re.M), "USER must be the chart's numeric runAsUser:runAsGroup"
    assert 'ENTRYPOINT ["odpipe"]' in text  # the chart's container command
    # the chart names images <registry>/<repository>; the build script tags <registry>/odpipe/<task>
    assert VALUES["tasks"][CHART_TASK_KEY[task]]["repository"] == f"odpipe/{task}"
    # only its own extra, pinned by the one constraints file the dev venv uses too
    if DOCKERFILES[task] == "torch":
        assert f'{task}) extra="{TASKS[task]}" ;;' in text
        assert 'tasks[$extra]"' in text
    else:
        assert f'CMD ["{task}", "--help"]' in text
        assert set(re.findall(r"tasks\[(\w+)\]", text)) == {TASKS[task]}
    assert "-c /opt/odpipe-build/constraints.txt" in text
    for label in ("source", "version", "revision"):
        assert f"org.opencontainers.image.{label}=" in text
    if task != "prepare":
        assert "ARG VARIANT=cpu" in text and "YOLO_OFFLINE=1" in text and "ODPIPE_FONT_FILE" in text
    assert "/artifacts/inputs /artifacts/outputs /data" in text


def test_build_script_explains_a_missing_engine() -> None:
    if shutil.which("podman") or shutil.which("buildah"):
        pytest.skip("podman or buildah is installed here: the script would use it")
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}  # a docker CLI with no engine
    proc = subprocess.run(
        ["bash", str(REPO / "tools/build-images.sh")], capture_output=True, text=True, env=env, check=False
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no container engine available" in proc.stderr and "tools/start-dockerd.sh" in proc.stderr


def test_serve_image_builds_like_the_others_without_torch() -> None:
    exe = Path(sys.executable).parent / "hadolint"
    path = IMAGES / "serve" / "Dockerfile"
    proc = subprocess.run(
        [str(exe), "--failure-threshold", "info", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = path.read_text()
    uid = VALUES["workflow"]["podSecurityContext"]["runAsUser"]
    gid = VALUES["workflow"]["podSecurityContext"]["runAsGroup"]
    assert re.search(rf"^USER {uid}:{gid}$", text, re.M)
    assert 'ENTRYPOINT ["odpipe"]' in text and 'CMD ["serve", "--help"]' in text
    assert set(re.findall(r"tasks\[(\w+)\]", text)) == {"serve"}
    assert "-c /opt/odpipe-build/constraints.txt" in text and ". /opt/odpipe-build/pip-env.sh" in text
    assert VALUES["serving"]["image"]["repository"] == "odpipe/serve"
    assert "images/serve/Dockerfile" in (REPO / "tools/build-images.sh").read_text()
    extras = re.search(r"^serve = \[(.*?)\]", (REPO / "tasks/pyproject.toml").read_text(), re.M | re.S)
    assert extras and "torch" not in extras.group(1) and "ultralytics" not in extras.group(1)
