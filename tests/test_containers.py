"""The task images, built here and run as a kubelet would run them (`odpipe run --engine docker`).

Skipped, with the reason, where no container engine answers; `.ci/run` starts one. Proves from inside
the containers what the chart promises: uid 10001, a read-only root, a bounded /tmp, no privileges, and
that an OOM kill is reported as Argo reports it and goes through the retryStrategy.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from containers import build_images, engine
from odpipe.formats.contract import DATA_SUBDIR, MODEL, MODEL_CARD
from odpipe.local.chart import workflow_templates
from odpipe.local.executors.docker import OWNER_LABEL, DockerExecutor
from odpipe.local.podspec import PodContext, container_run
from test_run import _objects, _run, check_run_reports

from charts import WORKFLOWS, render

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
UID = 10001


@pytest.fixture(autouse=True)
def no_leftovers() -> Iterator[None]:
    """Every step container is removed when its step ends, whatever the outcome."""
    yield
    client = engine()
    assert not [c.name for c in client.containers.list(all=True, filters={"label": OWNER_LABEL})]


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    engine()
    return build_images()


class Inspector(threading.Thread):
    """Records `docker inspect` of every step container while a run goes on."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.client = engine()
        self.seen: dict[str, dict[str, Any]] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.3):
            for c in self.client.containers.list(filters={"label": f"{OWNER_LABEL}"}):
                if c.name not in self.seen:
                    self.seen[c.name] = c.attrs

    def __enter__(self) -> Inspector:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.join()


def test_synthetic_pipeline_publishes_v1_from_the_images(images: dict[str, str], tmp_path: Path) -> None:
    from odpipe.coco.synthetic import make_dataset

    make_dataset(tmp_path / "set", images=16, size=64, seed=3)
    state = tmp_path / "state"
    with Inspector() as inspector:
        code, out = _run(
            state, "--engine", "docker", "--annotations", str(tmp_path / "set/annotations.json"),
            "--images", str(tmp_path / "set/images"),
            "--model-name", "shapes", "--epochs", "3", "--imgsz", "64", "--batch", "8",
        )  # fmt: skip
    assert code == 0, out
    assert "engine docker" in out and f"model: s3://models/shapes/1/{MODEL}" in out
    assert {f"shapes/1/{MODEL}", f"shapes/1/{MODEL_CARD}", "shapes/config.pbtxt"} <= set(_objects(state, "models"))
    by_image = {attrs["Config"]["Image"]: attrs for attrs in inspector.seen.values()}
    tasks = {images[t] for t in ("prepare", "train", "export-deploy")}
    assert set(by_image) == tasks, f"saw containers of {sorted(by_image)}"
    for image, attrs in by_image.items():
        host = attrs["HostConfig"]
        assert attrs["Config"]["User"] == f"{UID}:{UID}", image
        assert host["ReadonlyRootfs"] is True, image
        assert host["CapDrop"] == ["ALL"] and "no-new-privileges:true" in host["SecurityOpt"], image
        assert host["Memory"] > 0 and host["NetworkMode"] == "host", image
        assert "/tmp" in host["Tmpfs"], image
    # every step's files on the datasets volume belong to the task user (the kubelet's fsGroup)
    owners = {p.stat().st_uid for p in (state / DATA_SUBDIR / "datasets").rglob("*")}
    assert owners == {UID}
    # the HTML reports drawn inside the images (matplotlib offline, read-only root) show the run's numbers
    check_run_reports(out, next((state / "runs").iterdir()), tmp_path, "docker")
    _serve_image_answers(images["serve"], state)


def _serve_image_answers(image: str, state: Path) -> None:
    """The serve image, read-only as uid 10001, serves the model just published over the v2 API."""
    import time

    from odpipe.local.run import _credentials
    from odpipe.local.s3server import S3Server
    from odpipe.serve.demo import detect_once, validation_image
    from odpipe.serve.launch import free_port, http_status

    port = free_port("127.0.0.1")
    with S3Server(state / "s3", _credentials(state / "s3")) as server:
        container = engine().containers.run(
            image, ["serve", "--model-name", "shapes", "--host", "127.0.0.1", "--port", str(port)],
            environment=server.env(), network_mode="host", user=f"{UID}:{UID}", read_only=True,
            tmpfs={"/tmp": "size=64m,mode=1777"}, cap_drop=["ALL"], security_opt=["no-new-privileges:true"],
            labels={OWNER_LABEL: str(os.getpid())}, detach=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 120
            while http_status(f"http://127.0.0.1:{port}/v2/health/ready") != 200:
                container.reload()
                assert container.status == "running" and time.monotonic() < deadline, container.logs().decode()
                time.sleep(1)
            answer = detect_once(f"127.0.0.1:{port}", "shapes", validation_image(state / DATA_SUBDIR, None))
        finally:
            container.remove(force=True)
    assert answer["version"] == "1" and answer["metadata"]["name"] == "shapes"
    assert len(answer["scores"]) == len(answer["category_ids"]) == len(answer["boxes"])


PROBE = r"""
import errno, json, os
out = {"uid": os.getuid(), "gid": os.getgid(), "groups": sorted(os.getgroups())}
try:
    open("/probe", "w")
    out["root"] = "writable"
except OSError as e:
    out["root"] = errno.errorcode[e.errno]
try:
    with open("/tmp/fill", "wb") as f:
        for _ in range(64):
            f.write(b"\0" * (1 << 20))
    out["tmp"] = "unbounded"
except OSError as e:
    out["tmp"] = errno.errorcode[e.errno]
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
for key in ("NoNewPrivs", "Seccomp", "CapEff"):
    out[key] = status[key].strip()
open("/data/probe-written", "w").write("ok")
try:
    import torch  # noqa
    out["torch"] = True
except ImportError:
    out["torch"] = False
print("PROBE " + json.dumps(out))
"""


def _chart_run(task: str, tmp_path: Path, *sets: str):
    docs = render(WORKFLOWS, sets=("s3.endpoint=127.0.0.1:9", "tests.enabled=false", *sets))
    templates = workflow_templates(docs)
    tpl = templates[f"odpipe-{task}"]["spec"]["templates"][0]
    ctx = PodContext(
        volumes={v["name"]: v for v in templates["odpipe-pipeline"]["spec"]["volumes"]},
        data_dir=tmp_path / DATA_SUBDIR,
        secrets={("odpipe-workflows-s3", "rootUser"): "u", ("odpipe-workflows-s3", "rootPassword"): "p"},
    )
    (tmp_path / DATA_SUBDIR).mkdir(exist_ok=True)
    scope = {"workflow.name": "probe", "workflow.uid": "uid", "pod.name": f"probe-{task}"}
    scope |= {f"inputs.parameters.{p['name']}": "x" for p in tpl["inputs"].get("parameters", [])}
    return container_run(tpl, scope, ctx, f"probe-{task}-{os.getpid()}", tmp_path / "pod", tmp_path / "log")


@pytest.mark.parametrize("task", ["prepare", "train"])
def test_inside_a_task_container(images: dict[str, str], tmp_path: Path, task: str) -> None:
    run = _chart_run(task, tmp_path, "workflow.tmpSizeLimit=8Mi")
    run = dataclasses.replace(run, command=["python"], args=["-c", PROBE])
    result = DockerExecutor(engine()).run(run)
    log = run.log_path.read_text()
    assert result.exit_code == 0, log
    probe = json.loads(next(line for line in log.splitlines() if line.startswith("PROBE "))[6:])
    assert probe["uid"] == UID and probe["gid"] == UID and UID in probe["groups"]
    assert probe["root"] == "EROFS"  # read-only root filesystem
    assert probe["tmp"] == "ENOSPC"  # /tmp bounded by the emptyDir's sizeLimit (8Mi)
    assert probe["NoNewPrivs"] == "1" and probe["Seccomp"] == "2" and int(probe["CapEff"], 16) == 0
    assert (tmp_path / DATA_SUBDIR / "probe-written").stat().st_uid == UID  # the volume is writable
    assert probe["torch"] is (task == "train")  # each image has only its own extra


def test_oom_kill_is_reported_as_argo_does_and_retried(images: dict[str, str], tmp_path: Path) -> None:
    from odpipe.coco.synthetic import make_dataset

    make_dataset(tmp_path / "set", images=8, size=64, seed=4)
    code, out = _run(
        tmp_path / "state", "--engine", "docker", "--annotations", str(tmp_path / "set/annotations.json"),
        "--images", str(tmp_path / "set/images"), "--model-name", "oom",
        "--set", "tasks.prepare.resources.limits.memory=20Mi", "--set", "tasks.prepare.resources.requests.memory=20Mi",
        "--set", "workflow.retryStrategy.backoff.duration=1s",
    )  # fmt: skip
    assert code == 137, out
    assert out.count("OOMKilled (exit code 137), retrying (retryStrategy)") == 2, out
    state = json.loads(next((tmp_path / "state/runs").glob("*/state.json")).read_text())
    prepare = state["results"]["prepare"]
    assert (prepare["reason"], prepare["exit_code"], prepare["attempts"]) == ("OOMKilled", 137, 3)


# What each torch image leaves out to stay within 10% of torch's closure (bench/images.py measures it).
_ABSENT = {"train": ["albumentations", "scipy"], "export-deploy": ["albumentations", "scipy", "polars"]}


@pytest.mark.parametrize("task", sorted(_ABSENT))
def test_torch_images_leave_out_what_their_task_never_imports(images: dict[str, str], task: str) -> None:
    probe = "import importlib.util as u, sys; print(*[m for m in sys.argv[1:] if u.find_spec(m)])"
    out = engine().containers.run(
        images[task],
        ["-c", probe, *_ABSENT[task], "ultralytics", "torch"],
        entrypoint="python",
        network_mode="none",
        remove=True,
        user="10001:10001",
        read_only=True,
    )
    assert out.decode().split() == ["ultralytics", "torch"]


# What each step imports at its start (its CLI command and its step's run())
_STEP_IMPORTS = {
    "prepare": ["odpipe.cli.app", "odpipe.prepare.run", "odpipe.check_inputs.run", "boto3"],
    "train": ["odpipe.cli.app", "odpipe.train.run", "torch", "ultralytics"],
    "export-deploy": ["odpipe.cli.app", "odpipe.export.run", "torch", "onnxruntime"],
}


@pytest.mark.parametrize("task", sorted(_STEP_IMPORTS))
def test_every_module_a_step_imports_comes_compiled(images: dict[str, str], task: str) -> None:
    """The pods' root filesystem is read-only, so Python cannot cache bytecode there: without the .pyc
    compiled at build it compiled every module it imported at every step start (train's imports: 3.8-4.2
    s without, 2.6 s with). Every imported module of the venv has its bytecode in the image."""
    probe = (
        "import importlib, importlib.util as u, sys\n"
        "for m in sys.argv[1:]: importlib.import_module(m)\n"
        "files = [f for f in (getattr(m, '__file__', None) for m in list(sys.modules.values()))\n"
        "         if f and f.startswith('/opt/venv/') and f.endswith('.py')]\n"
        "import os\n"
        "print(len(files), *[f for f in files if not os.path.exists(u.cache_from_source(f))])"
    )
    out = engine().containers.run(
        images[task],
        ["-c", probe, *_STEP_IMPORTS[task]],
        entrypoint="python",
        network_mode="none",
        remove=True,
        user="10001:10001",
        read_only=True,
        tmpfs={"/tmp": ""},
    )
    imported, *uncompiled = out.decode().split()
    assert int(imported) > 100 and not uncompiled, (imported, uncompiled[:5])
