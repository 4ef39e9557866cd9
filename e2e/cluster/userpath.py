"""`make e2e`: the README's path on the running cluster, step by step, as a platform team and an ML
engineer walk it: Argo from its release manifests, `helm install` of the umbrella with the bundled
MinIO, `helm test`, the bccd set uploaded as NOTES.txt says, `argo submit --from
workflowtemplate/odpipe-pipeline --wait`, serving v1 then v2 without a failed request, two failures a
user can make (a wrong bucket, a wrong secret key), `helm upgrade`, `helm uninstall`; then `odpipe run`
on the same data for comparison, and a summary."""

from __future__ import annotations

import base64
import json
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import components as c
from . import netns
from .images import load_cluster_images, load_docker_image
from .layout import LOCAL, REPO
from .up import argo_bin, helm_bin, is_up, kubectl

NS = "mlops"
RELEASE = "odpipe"
ARGO_NS = "argo"
TESTDATA = REPO.parent / "shared" / "testdata" / "bccd"
BCCD_JSON = TESTDATA / "voc2coco" / "sample" / "outputs" / "bccd_train_cocoformat.json"
BCCD_IMAGES = TESTDATA / "BCCD_Dataset" / "BCCD" / "JPEGImages"
MODEL = "bccd"
#: small enough for two runs on 2 CPUs, large enough to give a model the quality gate can measure
TRAIN_PARAMS = {"epochs": "2", "imgsz": "320", "batch": "8"}
UMBRELLA = REPO / "charts" / "odpipe"


def task_images() -> dict[str, str]:
    env = REPO / ".build" / "images.env"
    if not env.exists():
        raise SystemExit("no task images: run `make images` first")
    refs = dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line)
    return {k: v for k, v in refs.items() if not k.endswith("_build_seconds")}


@dataclass
class Report:
    say: Callable[[str], None]
    steps: list[tuple[str, float, str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, str]]:
        self.say(f"== {name}")
        note: dict[str, str] = {"": ""}
        started = time.monotonic()
        try:
            yield note
        except Exception as exc:
            self.steps.append((name, time.monotonic() - started, f"FAILED: {exc}"))
            self.failed.append(name)
            raise
        self.steps.append((name, time.monotonic() - started, note[""]))


def sh(*cmd: str | Path, input: str | None = None, check: bool = True, timeout: float = 900) -> str:
    proc = subprocess.run(
        [str(x) for x in cmd], input=input, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        shown = " ".join(str(x) for x in cmd[:6])
        raise RuntimeError(f"{shown} ... failed ({proc.returncode}):\n{proc.stderr[-3000:]}{proc.stdout[-2000:]}")
    return proc.stdout


def k(*args: str, check: bool = True, input: str | None = None, timeout: float = 300) -> str:
    return sh(*kubectl(), *args, check=check, input=input, timeout=timeout)


def helm(*args: str, timeout: float = 900) -> str:
    return sh(helm_bin(), f"--kubeconfig={LOCAL / 'kubeconfig'}", *args, timeout=timeout)


def argo(*args: str, check: bool = True, timeout: float = 1800) -> str:
    return sh(argo_bin(), f"--kubeconfig={LOCAL / 'kubeconfig'}", *args, check=check, timeout=timeout)


# ---------------------------------------------------------------- install


def install_argo(work: Path) -> None:
    """Argo's own release manifests (the module's manifests/, which install.yaml is made of), with the
    image tags of the binaries built here, applied server-side as its docs say (the full CRDs are too
    large for a client-side apply's annotation)."""
    from .components import module_source

    manifests = work / "argo-manifests"
    shutil.copytree(module_source(c.ARGO) / "manifests", manifests)
    sh("chmod", "-R", "u+w", manifests)
    v = c.ARGO.version
    (manifests / "kustomization.yaml").write_text(
        f"""apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {ARGO_NS}
resources: [cluster-install]
images:
  - {{name: quay.io/argoproj/workflow-controller, newTag: {v}}}
  - {{name: quay.io/argoproj/argocli, newTag: {v}}}
"""
    )
    k("create", "namespace", ARGO_NS, check=False)
    k("apply", "--server-side", "-k", str(manifests))
    for deploy in ("workflow-controller", "argo-server"):
        k("-n", ARGO_NS, "rollout", "status", f"deploy/{deploy}", "--timeout=300s")


def pack_charts(work: Path) -> list[Path]:
    """charts/odpipe/charts/ for this run: MinIO's chart from the minio module's helm/minio, our
    odpipe-workflows, and an empty stand-in for argo-workflows (turned off: Argo is installed above;
    helm refuses a chart whose listed dependency is missing even when its condition is off)."""
    from .components import module_source

    out = UMBRELLA / "charts"
    out.mkdir(exist_ok=True)
    for old in out.glob("*.tgz"):
        old.unlink()
    minio = work / "minio-chart"
    shutil.copytree(module_source(c.MINIO) / "helm" / "minio", minio)
    sh("chmod", "-R", "u+w", minio)
    stub = work / "argo-workflows"
    stub.mkdir()
    deps = {d["name"]: d["version"] for d in _chart_deps()}
    (stub / "Chart.yaml").write_text(
        f"apiVersion: v2\nname: argo-workflows\nversion: {deps['argo-workflows']}\n"
        "description: stand-in; Argo Workflows comes from its release manifests in make e2e\n"
    )
    for chart in (minio, stub, REPO / "charts" / "odpipe-workflows"):
        helm("package", str(chart), "--destination", str(out))
    return sorted(out.glob("*.tgz"))


def _chart_deps() -> list[dict[str, str]]:
    import yaml

    return list(yaml.safe_load((UMBRELLA / "Chart.yaml").read_text())["dependencies"])


def helm_values() -> list[str]:
    images = task_images()
    tag = images["prepare"].rsplit(":", 1)[1]
    registry = images["prepare"].split("/", 1)[0]
    return [
        "-f", str(REPO / "e2e" / "values-cluster.yaml"),
        "--set", f"minio.image.tag={c.minio_release(c.MINIO.version)}",
        "--set", f"minio.mcImage.tag={c.minio_release(c.MC.version)}",
        "--set", f"odpipe-workflows.image.registry={registry}",
        "--set", f"odpipe-workflows.image.tag={tag}",
    ]  # fmt: skip


# ---------------------------------------------------------------- S3


def s3_credentials() -> tuple[str, str]:
    secret = json.loads(k("-n", NS, "get", "secret", "odpipe-s3", "-o", "json"))["data"]
    return base64.b64decode(secret["rootUser"]).decode(), base64.b64decode(secret["rootPassword"]).decode()


@contextmanager
def port_forward(service: str, port: int) -> Iterator[int]:
    """kubectl port-forward, as NOTES.txt tells users (on the namespace's loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        local = s.getsockname()[1]
    proc = subprocess.Popen(
        [*kubectl(), "-n", NS, "port-forward", f"svc/{service}", f"{local}:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", local), timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        yield local
    finally:
        proc.terminate()
        proc.wait(10)


def s3_client(port: int) -> Any:
    import boto3
    from botocore.config import Config

    user, password = s3_credentials()
    return boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{port}",
        aws_access_key_id=user,
        aws_secret_access_key=password,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
    )


def list_objects(s3: Any, bucket: str, prefix: str = "") -> dict[str, int]:
    out: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out


def upload_bccd(s3: Any) -> int:
    doc = json.loads(BCCD_JSON.read_text())
    names = sorted({Path(img["file_name"]).name for img in doc["images"]})
    s3.upload_file(str(BCCD_JSON), "datasets", "bccd/annotations.json")
    for name in names:
        s3.upload_file(str(BCCD_IMAGES / name), "datasets", f"bccd/images/{name}")
    return len(names)


# ---------------------------------------------------------------- workflows


class PodWatch(threading.Thread):
    """Records the pods of one workflow while it runs (podGC deletes them once they succeed)."""

    def __init__(self, workflow: str) -> None:
        super().__init__(daemon=True)
        self.workflow, self.pods, self.stop = workflow, {}, threading.Event()  # type: dict[str, Any]

    def run(self) -> None:
        while not self.stop.is_set():
            out = k(
                "-n",
                NS,
                "get",
                "pods",
                "-l",
                f"workflows.argoproj.io/workflow={self.workflow}",
                "-o",
                "json",
                check=False,
            )
            try:
                for pod in json.loads(out or "{}").get("items", []):
                    spec = pod["spec"]
                    node_id = pod["metadata"].get("annotations", {}).get("workflows.argoproj.io/node-id")
                    self.pods[node_id or pod["metadata"]["name"]] = {
                        "name": pod["metadata"]["name"],
                        "images": {x["name"]: x["image"] for x in spec.get("containers", [])},
                        "init": {x["name"]: x["image"] for x in spec.get("initContainers", [])},
                        "phase": pod["status"].get("phase"),
                        "pvc": [
                            v["persistentVolumeClaim"]["claimName"]
                            for v in spec.get("volumes", [])
                            if "persistentVolumeClaim" in v
                        ],
                    }
            except (json.JSONDecodeError, KeyError):
                pass
            self.stop.wait(2)


def submit(name: str, params: dict[str, str], *, expect_success: bool = True) -> dict[str, Any]:
    args = ["submit", "-n", NS, "--from", "workflowtemplate/odpipe-pipeline", "--name", name, "--wait"]
    for key, value in params.items():
        args += ["-p", f"{key}={value}"]
    watch = PodWatch(name)
    watch.start()
    started = time.monotonic()
    argo(*args, check=False)
    wall = time.monotonic() - started
    watch.stop.set()
    watch.join()
    wf = json.loads(argo("get", "-n", NS, name, "-o", "json"))
    wf["_wall"], wf["_pods"] = wall, watch.pods
    phase = wf["status"]["phase"]
    if expect_success and phase != "Succeeded":
        raise RuntimeError(f"workflow {name} {phase}: {wf['status'].get('message', '')}\n{failure_messages(wf)}")
    return wf


def pod_steps(wf: dict[str, Any]) -> list[dict[str, Any]]:
    steps = []
    for node in wf["status"].get("nodes", {}).values():
        if node.get("type") != "Pod":
            continue
        start, end = node.get("startedAt"), node.get("finishedAt")
        seconds = _seconds(end) - _seconds(start) if start and end else None
        steps.append({"step": node.get("displayName"), "pod": node.get("id"), "phase": node.get("phase"),
                      "seconds": seconds, "message": node.get("message", ""), "started": start or ""})  # fmt: skip
    return sorted(steps, key=lambda s: (s["started"], s["pod"]))  # in the order they ran


def _seconds(stamp: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def failure_messages(wf: dict[str, Any]) -> str:
    return "\n".join(f"{s['step']}: {s['phase']}: {s['message']}" for s in pod_steps(wf) if s["phase"] != "Succeeded")


# ---------------------------------------------------------------- serving


def serve_url() -> str:
    svc = json.loads(k("-n", NS, "get", "svc", "-l", "app.kubernetes.io/component=serving", "-o", "json"))["items"][0]
    return f"{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"


def wait_serving_version(url: str, version: str, timeout: float = 300) -> float:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url)
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if client.is_model_ready(MODEL, version) and client.get_model_metadata(MODEL)["versions"][-1:] == [version]:
                return time.monotonic() - started
        except Exception:
            pass
        time.sleep(1)
    raise RuntimeError(f"the serve Service at {url} did not serve {MODEL} version {version} within {timeout:.0f} s")


def infer(url: str, image: Path) -> dict[str, Any]:
    import numpy as np
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url, network_timeout=60)
    item = httpclient.InferInput("image", [1], "BYTES")
    item.set_data_from_numpy(np.array([image.read_bytes()], dtype=np.object_))
    result = client.infer(MODEL, [item])
    n = int(result.as_numpy("num_detections")[0])
    return {"version": result.get_response()["model_version"], "detections": n,
            "top": [round(float(x), 3) for x in result.as_numpy("scores")[0, :3]]}  # fmt: skip


class Traffic(threading.Thread):
    """Requests in a loop while a new version is published: every answer's version, every failure."""

    def __init__(self, url: str, image: Path) -> None:
        super().__init__(daemon=True)
        self.url, self.image, self.stop = url, image, threading.Event()
        self.versions: list[str] = []
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.versions.append(infer(self.url, self.image)["version"])
            except Exception as exc:
                self.failures.append(str(exc)[:200])
            self.stop.wait(0.5)


# ---------------------------------------------------------------- the path


def run(say: Callable[[str], None]) -> bool:
    if not is_up():
        say("no cluster is up: run `make cluster` first")
        return False
    if not BCCD_JSON.exists():
        say(f"the bccd test set is not at {TESTDATA}: make e2e needs ../shared/testdata")
        return False
    netns.enter()
    report = Report(say)
    total = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="odpipe-e2e-"))
    try:
        _walk(report, work)
    except Exception as exc:
        say(f"FAILED: {exc}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
        for packed in (UMBRELLA / "charts").glob("*.tgz"):  # packed for this run only, never left behind
            packed.unlink()
    report.facts["total seconds"] = round(time.monotonic() - total)
    print_summary(report)
    return not report.failed


def fresh_namespace() -> None:
    """A second `make e2e` on the same cluster starts like the first: the last run's namespace (the
    PVC and Secret that uninstall keeps, the workflows) goes, and the volumes it released are emptied."""
    if k("get", "namespace", NS, "-o", "name", check=False).strip():
        k("delete", "namespace", NS, "--wait=true", "--timeout=300s")
    for pv in json.loads(k("get", "pv", "-o", "json"))["items"]:
        if pv["status"].get("phase") == "Released":
            path = Path(pv["spec"]["local"]["path"])
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
            k("patch", "pv", pv["metadata"]["name"], "--type=json", "-p", '[{"op":"remove","path":"/spec/claimRef"}]')


def _walk(r: Report, work: Path) -> None:
    images = task_images()
    with r.step("load the odpipe images into the node") as note:
        load_cluster_images(r.say)
        loaded = [ref for ref in images.values() if load_docker_image(ref)]
        note[""] = f"{len(loaded)} loaded, {len(images) - len(loaded)} already there"
    fresh_namespace()
    with r.step("install Argo Workflows from its release manifests") as note:
        install_argo(work)
        note[""] = f"Argo {c.ARGO.version}, namespace {ARGO_NS}"
    with r.step("helm install odpipe charts/odpipe (bundled MinIO)") as note:
        pack_charts(work)
        # serving waits for the first model: its readiness needs a loaded version, which no install has
        helm("install", RELEASE, str(UMBRELLA), "-n", NS, "--create-namespace", *helm_values(),
             "--set", "odpipe-workflows.serving.enabled=false", "--wait", "--timeout", "10m")  # fmt: skip
        note[""] = "deployed"
    with r.step("helm test") as note:
        helm("test", RELEASE, "-n", NS, "--timeout", "10m")
        note[""] = "passed"
    with port_forward(f"{RELEASE}-minio", 9000) as port:
        s3 = s3_client(port)
        with r.step("upload the bccd set to s3://datasets/bccd/") as note:
            note[""] = f"{upload_bccd(s3)} images + annotations.json"
    params = {
        "annotations-key": "bccd/annotations.json",
        "images-prefix": "bccd/images",
        "model-name": MODEL,
        **TRAIN_PARAMS,
    }
    with r.step("argo submit --from workflowtemplate/odpipe-pipeline --wait (v1)") as note:
        wf1 = submit("odpipe-e2e-v1", params)
        r.facts["workflow v1"] = wf1
        note[""] = f"{wf1['status']['phase']} in {wf1['_wall']:.0f} s"
    with port_forward(f"{RELEASE}-minio", 9000) as port:
        s3 = s3_client(port)
        with r.step("artifacts and model in MinIO") as note:
            arts = list_objects(s3, "argo-artifacts", "odpipe-e2e-v1/")
            models = list_objects(s3, "models", f"{MODEL}/")
            r.facts["artifacts v1"], r.facts["models after v1"] = arts, models
            want = [f"{MODEL}/1/model.onnx", f"{MODEL}/1/model-card.json", f"{MODEL}/config.pbtxt"]
            missing = [m for m in want if m not in models]
            names = {Path(a).name for a in arts}
            for art in ("dataset.json", "report.json", "metrics.json", "model.onnx", "model-card.json"):
                if art not in names:
                    missing.append(f"argo-artifacts/odpipe-e2e-v1/.../{art}")
            if not any(a.endswith(".tgz") for a in arts):
                missing.append("a .tgz folder artifact")
            if missing:
                raise RuntimeError(f"missing in MinIO: {missing}")
            note[""] = f"{len(arts)} artifacts, {len(models)} model objects"
    image = BCCD_IMAGES / sorted(p.name for p in BCCD_IMAGES.glob("*.jpg"))[0]
    with r.step("helm upgrade --set serving.enabled=true: version 1 answers a v2 request through its Service") as note:
        helm("upgrade", RELEASE, str(UMBRELLA), "-n", NS, *helm_values(), "--wait", "--timeout", "10m")
        url = serve_url()
        wait_serving_version(url, "1")
        r.facts["answer v1"] = infer(url, image)
        note[""] = json.dumps(r.facts["answer v1"])
    with port_forward(f"{RELEASE}-minio", 9000) as port:
        before = list_objects(s3_client(port), "models")
    _failures(r, params, before)
    with r.step("argo submit (v2) while requests flow: the server swaps without a failed request") as note:
        traffic = Traffic(url, image)
        traffic.start()
        wf2 = submit("odpipe-e2e-v2", {**params, "epochs": "1"})
        r.facts["workflow v2"] = wf2
        wait_serving_version(url, "2")
        time.sleep(3)
        traffic.stop.set()
        traffic.join()
        r.facts["answer v2"] = infer(url, image)
        counts = {v: traffic.versions.count(v) for v in sorted(set(traffic.versions))}
        r.facts["swap"] = {"answers by version": counts, "failed requests": len(traffic.failures)}
        if traffic.failures or "2" not in counts:
            raise RuntimeError(f"swap: {counts}, failures {traffic.failures[:3]}")
        note[""] = f"answers by version {counts}, 0 failed"
    with r.step("helm upgrade keeps the generated S3 credentials and the models") as note:
        creds = s3_credentials()
        helm(
            "upgrade",
            RELEASE,
            str(UMBRELLA),
            "-n",
            NS,
            *helm_values(),
            "--set",
            "odpipe-workflows.pipeline.epochs=3",
            "--wait",
            "--timeout",
            "10m",
        )
        if s3_credentials() != creds:
            raise RuntimeError("helm upgrade changed the generated S3 credentials")
        with port_forward(f"{RELEASE}-minio", 9000) as port:
            after = list_objects(s3_client(port), "models")
        if not set(before) <= set(after):
            raise RuntimeError(f"models lost by the upgrade: {sorted(set(before) - set(after))}")
        note[""] = f"same credentials, {len(after)} model objects"
    with r.step("helm uninstall leaves the PVCs, the Secret and the buckets' data") as note:
        helm("uninstall", RELEASE, "-n", NS, "--wait", "--timeout", "5m")
        pvcs = json.loads(k("-n", NS, "get", "pvc", "-o", "json"))["items"]
        kept = sorted(p["metadata"]["name"] for p in pvcs)
        secret = k("-n", NS, "get", "secret", "odpipe-s3", "-o", "name", check=False).strip()
        pvs = json.loads(k("get", "pv", "-o", "json"))["items"]
        released = [pv for pv in pvs if pv["spec"].get("claimRef", {}).get("namespace") == NS]
        on_disk = [
            str(Path(pv["spec"]["local"]["path"]) / "models")
            for pv in released
            if (Path(pv["spec"]["local"]["path"]) / "models").exists()
        ]
        r.facts["after uninstall"] = {"pvcs": kept, "secret": secret, "minio data on disk": on_disk}
        if not any("datasets" in n for n in kept) or not secret or not on_disk:
            raise RuntimeError(f"after uninstall: {r.facts['after uninstall']}")
        note[""] = f"PVCs {kept}, {secret}, models bucket on disk"
    with r.step("odpipe run on the same data (processes, embedded S3), for comparison") as note:
        r.facts["odpipe run seconds"] = _odpipe_run(work, params)
        note[""] = f"{r.facts['odpipe run seconds']:.0f} s"


def _failures(r: Report, params: dict[str, str], models_before: dict[str, int]) -> None:
    with r.step("a wrong secret key: the workflow fails naming it, nothing is lost") as note:
        secret = json.loads(k("-n", NS, "get", "secret", "odpipe-s3", "-o", "json"))
        good = secret["data"]["rootPassword"]
        wrong = base64.b64encode(b"not-the-password-" + base64.b64decode(good)[:8]).decode()
        k("-n", NS, "patch", "secret", "odpipe-s3", "--type=merge", "-p", json.dumps({"data": {"rootPassword": wrong}}))
        try:
            wf = submit("odpipe-e2e-wrong-key", params, expect_success=False)
        finally:
            k(
                "-n",
                NS,
                "patch",
                "secret",
                "odpipe-s3",
                "--type=merge",
                "-p",
                json.dumps({"data": {"rootPassword": good}}),
            )
        _expect_failure(r, wf, ("SignatureDoesNotMatch", "Secret odpipe-s3"), models_before, note)
    with r.step("annotations that are not in the bucket: the workflow fails naming the key") as note:
        missing = {**params, "annotations-key": "no-such-set/annotations.json"}
        wf = submit("odpipe-e2e-wrong-key-path", missing, expect_success=False)
        _expect_failure(r, wf, ("no-such-set/annotations.json", "parameter annotations-key"), models_before, note)
    with r.step("a wrong bucket (s3.buckets.datasets): the workflow fails naming it, nothing is lost") as note:
        wrong = ("--set", "odpipe-workflows.s3.buckets.datasets=no-such-bucket")
        helm("upgrade", RELEASE, str(UMBRELLA), "-n", NS, *helm_values(), *wrong, "--wait", "--timeout", "10m")
        try:
            wf = submit("odpipe-e2e-wrong-bucket", params, expect_success=False)
        finally:
            helm("upgrade", RELEASE, str(UMBRELLA), "-n", NS, *helm_values(), "--wait", "--timeout", "10m")
        # argoexec alone said "The specified bucket does not exist", without the name: check-inputs names it
        _expect_failure(r, wf, ("'no-such-bucket'", "s3.buckets.datasets"), models_before, note)


def _expect_failure(
    r: Report, wf: dict[str, Any], words: tuple[str, ...], models_before: dict[str, int], note: dict[str, str]
) -> None:
    phase = wf["status"]["phase"]
    text = f"{wf['status'].get('message', '')}\n{failure_messages(wf)}"
    r.facts[f"failure {wf['metadata']['name']}"] = text.strip()
    if phase == "Succeeded":
        raise RuntimeError(f"{wf['metadata']['name']} succeeded")
    missing = [w for w in words if w not in text]
    if missing:
        raise RuntimeError(f"{wf['metadata']['name']} failed without naming {missing}: {text}")
    ran = sorted({s["step"].split("(")[0] for s in pod_steps(wf)})  # retried pods read "check-inputs(1)"
    if ran != ["check-inputs"]:  # the pipeline stops before a step spends minutes
        raise RuntimeError(f"{wf['metadata']['name']}: steps {ran} ran, only check-inputs should have")
    with port_forward(f"{RELEASE}-minio", 9000) as port:
        after = list_objects(s3_client(port), "models")
    if after != models_before:
        raise RuntimeError(
            f"the failed workflow changed the model repository: {sorted(set(models_before) ^ set(after))}"
        )
    note[""] = f"{phase}: {text.strip().splitlines()[-1][:160]}"


def _odpipe_run(work: Path, params: dict[str, str]) -> float:
    images = work / "bccd-images"
    images.mkdir()
    for name in {Path(i["file_name"]).name for i in json.loads(BCCD_JSON.read_text())["images"]}:
        (images / name).symlink_to(BCCD_IMAGES / name)
    args = [str(REPO / ".venv" / "bin" / "odpipe"), "run", "--annotations", str(BCCD_JSON), "--images", str(images),
            "--state-dir", str(work / "local"), "--model-name", MODEL]  # fmt: skip
    for key in ("epochs", "imgsz", "batch"):
        args += ["-p", f"{key}={params[key]}"]
    started = time.monotonic()
    sh(*args, timeout=1800)
    return time.monotonic() - started


def print_summary(r: Report) -> None:
    say = r.say
    say("")
    say("== odpipe e2e summary")
    say(
        f"Kubernetes {c.KUBERNETES.version}, Argo Workflows {c.ARGO.version}, "
        f"MinIO {c.minio_release(c.MINIO.version)}, mc {c.minio_release(c.MC.version)}, CoreDNS {c.COREDNS.version}, "
        f"containerd {_version('containerd', '--version')}, runc {_version('runc', '--version')}, "
        f"etcd {_version('etcd', '--version')}"
    )
    for name, seconds, note in r.steps:
        say(f"  {seconds:7.1f} s  {name}: {note}")
    for key in ("workflow v1", "workflow v2"):
        wf = r.facts.get(key)
        if not wf:
            continue
        say(f"{key}: {wf['metadata']['name']} {wf['status']['phase']}, wall {wf['_wall']:.0f} s")
        for s in pod_steps(wf):
            pod = wf["_pods"].get(s["pod"], {})
            image = pod.get("images", {}).get("main", "?")
            name = pod.get("name", s["pod"])
            say(f"    {s['step']:16} {s['phase']:10} {s['seconds'] or 0:6.0f} s  pod {name}  image {image}")
            say(f"        init {sorted(pod.get('init', {}).values())}  pvc {pod.get('pvc')}")
    if "odpipe run seconds" in r.facts and "workflow v1" in r.facts:
        wall = r.facts["workflow v1"]["_wall"]
        local = r.facts["odpipe run seconds"]
        say(f"workflow v1 wall {wall:.0f} s against odpipe run {local:.0f} s on the same data: {wall / local:.2f}x")
    for key in ("answer v1", "answer v2", "swap", "after uninstall"):
        if key in r.facts:
            say(f"{key}: {json.dumps(r.facts[key])}")
    for key, value in r.facts.items():
        if key.startswith("failure "):
            say(f"{key}: {value.splitlines()[-1][:200] if value else ''}")
    for key in ("artifacts v1", "models after v1"):
        for obj, size in sorted(r.facts.get(key, {}).items()):
            say(f"    {size:>10}  s3://{'argo-artifacts' if 'artifacts' in key else 'models'}/{obj}")
    say(
        f"total {r.facts.get('total seconds', 0)} s; "
        + ("FAILED: " + ", ".join(r.failed) if r.failed else "all steps passed")
    )


def _version(*cmd: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.split()
    except OSError:
        return "?"
    words = [w for w in out if any(ch.isdigit() for ch in w) and "." in w]
    return words[0] if words else "?"
