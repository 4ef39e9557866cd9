"""The task images without a container engine: Dockerfiles lint clean and agree with the chart, and each
image's extra installs into a fresh venv by itself and runs its real job there."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import shared_testdata
from odpipe.local.s3server import S3Server

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "images"
TASKS = {"prepare": "prepare", "train": "train", "export-deploy": "export"}
VALUES = yaml.safe_load((REPO / "charts/odpipe-workflows/values.yaml").read_text())
CHART_TASK_KEY = {"prepare": "prepare", "train": "train", "export-deploy": "exportDeploy"}


def _dockerfile(task: str) -> str:
    return (IMAGES / task / "Dockerfile").read_text()


@pytest.mark.parametrize("task", sorted(TASKS))
def test_hadolint_clean(task: str) -> None:
    exe = Path(sys.executable).parent / "hadolint"
    proc = subprocess.run(
        [str(exe), "--failure-threshold", "info", str(IMAGES / task / "Dockerfile")],
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
    assert f'CMD ["{task}", "--help"]' in text
    # the chart names images <registry>/<repository>; the build script tags <registry>/odpipe/<task>
    assert VALUES["tasks"][CHART_TASK_KEY[task]]["repository"] == f"odpipe/{task}"
    # only its own extra, pinned by the one constraints file the dev venv uses too
    extras = set(re.findall(r"tasks\[(\w+)\]", text))
    assert extras == {TASKS[task]}
    assert "-c /src/constraints.txt" in text
    for label in ("source", "version", "revision"):
        assert f"org.opencontainers.image.{label}=" in text
    if task != "prepare":
        assert "ARG VARIANT=cpu" in text and "YOLO_OFFLINE=1" in text and "ODPIPE_FONT_FILE" in text
    assert "/artifacts/inputs /artifacts/outputs /data" in text


def test_build_script_explains_a_missing_engine() -> None:
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    if shutil.which("podman") or shutil.which("buildah"):
        pytest.skip("a container engine is present here")
    proc = subprocess.run(
        ["bash", str(REPO / "tools/build-images.sh")], capture_output=True, text=True, env=env, check=False
    )
    if proc.returncode == 0:
        pytest.skip("a working docker engine is present here")
    assert proc.returncode == 2 and "no container engine available" in proc.stderr


# -- each extra in a fresh venv ---------------------------------------------------------------------
def _venv_key(extra: str) -> str:
    h = hashlib.sha256()
    for f in (REPO / "constraints.txt", REPO / "tasks/pyproject.toml"):
        h.update(f.read_bytes())
    return f"{extra}-{h.hexdigest()[:12]}"


def _extra_venv(extra: str) -> Path:
    """A venv with only odpipe[extra] (as its image installs it); its dependencies are built once per
    constraints/pyproject."""
    root = REPO / ".tools" / "extras"
    venv = root / _venv_key(extra)
    if (venv / ".complete").exists():
        # dependencies come from the cache; odpipe itself is reinstalled so the test runs this tree's code
        pip = [str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, "--no-deps", "--force-reinstall", str(REPO / "tasks")], check=True)
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", "-c", str(REPO / "constraints.txt")]
    if extra != "prepare":
        subprocess.run([*pip, "torch", "torchvision"], check=True)
    subprocess.run([*pip, f"{REPO / 'tasks'}[{extra}]"], check=True)
    if extra != "prepare":
        subprocess.run([*pip, "--force-reinstall", "--no-deps", "opencv-python-headless"], check=True)
    (venv / ".complete").write_text("ok")
    return venv


def _size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink()) / 1e6


def _odpipe(venv: Path, root: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ODPIPE_"))}
    full.update({"ODPIPE_ROOT": str(root), "ODPIPE_SCRATCH": str(root / "scratch"), **(env or {})})
    proc = subprocess.run(
        [str(venv / "bin/odpipe"), *args], capture_output=True, text=True, env=full, check=False, timeout=900, cwd=root
    )
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.slow
def test_each_extra_installs_alone_and_runs_its_job(tmp_path: Path) -> None:
    ann = shared_testdata("bccd", "voc2coco", "sample", "outputs", "bccd_val_cocoformat.json")
    images = shared_testdata("bccd", "BCCD_Dataset", "BCCD", "JPEGImages")
    sizes = {}

    prep = _extra_venv("prepare")
    sizes["prepare"] = _size_mb(prep)
    assert (
        subprocess.run([str(prep / "bin/python"), "-c", "import torch"], capture_output=True, check=False).returncode
        != 0
    ), "the prepare image must carry no torch"
    root = tmp_path / "root"
    root.mkdir()
    code, out = _odpipe(prep, root, "prepare", "--annotations", str(ann), "--images", str(images))
    assert code == 0, out
    manifest = json.loads((root / "artifacts/outputs/dataset.json").read_text())
    assert sum(s["boxes"] for s in manifest["splits"].values()) == 1138
    inputs = root / "artifacts/inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / "artifacts/outputs/dataset.json", inputs / "dataset.json")

    train = _extra_venv("train")
    sizes["train"] = _size_mb(train)
    code, out = _odpipe(
        train,
        root,
        "train",
        "--epochs",
        "1",
        "--imgsz",
        "128",
        "--batch",
        "8",
        "--workers",
        "0",
        "--device",
        "cpu",
        "--run-id",
        "image-test",
    )
    assert code == 0, out
    for name in ("best.pt", "metrics.json"):
        shutil.copy(root / "artifacts/outputs" / name, inputs / name)

    export = _extra_venv("export")
    sizes["export"] = _size_mb(export)
    with S3Server(tmp_path / "s3", buckets=("models",)) as server:
        code, out = _odpipe(export, root, "export-deploy", "--model-name", "bccd", env=server.env())
        assert code == 0, out
        assert "published bccd version 1" in out
        # int8 needs onnxruntime's quantization tools (and what they import) in the export image too;
        # a 1-epoch model's mAP says nothing about quantization, so the tolerance is opened
        code, out = _odpipe(
            export,
            root,
            "export-deploy",
            "--model-name",
            "bccd",
            "--precision",
            "int8",
            "--map-tolerance",
            "1",
            env=server.env(),
        )
        assert code == 0, out
        assert "int8: calibrating on" in out and "published bccd version 2" in out
    (REPO / ".tools" / "extras" / "sizes.json").write_text(json.dumps(sizes, indent=2))
    print(f"installed venv sizes (MB): {sizes}")
    assert sizes["prepare"] < 500, sizes
