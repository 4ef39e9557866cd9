"""The container engine for the image tests: found, or a skip that says why; images built once."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
IMAGE_TASKS = ("prepare", "train", "export-deploy", "serve")


def engine() -> Any:
    """A Docker Engine API client, or a skip naming why none answers."""
    from odpipe.local.executors.docker import EngineUnavailable, docker_client

    try:
        return docker_client()
    except EngineUnavailable as exc:
        if os.environ.get("ODPIPE_REQUIRE_ENGINE") == "1":
            pytest.fail(f"ODPIPE_REQUIRE_ENGINE=1 but no container engine answers: {exc}")
        pytest.skip(f"no container engine here ({exc}); `make engine` (tools/start-dockerd.sh) starts one")


def build_images() -> dict[str, str]:
    """`make images` (tools/build-images.sh): cached layers make a rebuild of unchanged sources quick."""
    proc = subprocess.run(
        ["bash", str(REPO / "tools/build-images.sh"), *IMAGE_TASKS],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
        timeout=3000,
        env={k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    refs = {}
    for line in (REPO / ".build/images.env").read_text().splitlines():
        key, _, value = line.partition("=")
        if key in IMAGE_TASKS:
            refs[key] = value
    assert set(refs) == set(IMAGE_TASKS), refs
    return refs
