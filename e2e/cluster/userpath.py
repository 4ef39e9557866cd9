"""`make e2e`: the README's path on the running cluster, step by step, as a platform team and an ML
engineer walk it: Argo from its release manifests, `helm install` of the umbrella with the bundled
MinIO, `helm test`, the bccd set uploaded as NOTES.txt says, `argo submit --from
workflowtemplate/odpipe-pipeline --wait`, serving v1 then v2 without a failed request, two failures a
user can make (a wrong secret key, a missing annotations key, a wrong bucket), `helm upgrade`, `helm
uninstall`; then `odpipe run` on the same data for comparison, and a summary. The clients, workflow,
serving and summary helpers live in modules of their own beside this one."""

from __future__ import annotations

import base64
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import components as c
from . import netns
from .clients import (
    ARGO_NS,
    MODEL,
    NS,
    RELEASE,
    helm,
    k,
    list_objects,
    port_forward,
    s3_client,
    s3_credentials,
    sh,
)
from .images import load_cluster_images, load_docker_image
from .layout import REPO
from .serving import Traffic, infer, serve_url, wait_serving_version
from .summary import Report, print_summary
from .up import is_up
from .workflows import failure_messages, pod_steps, submit

TESTDATA = REPO.parent / "shared" / "testdata" / "bccd"
BCCD_JSON = TESTDATA / "voc2coco" / "sample" / "outputs" / "bccd_train_cocoformat.json"
BCCD_IMAGES = TESTDATA / "BCCD_Dataset" / "BCCD" / "JPEGImages"
#: small enough for two runs on 2 CPUs, large enough to give a model the quality gate can measure
TRAIN_PARAMS = {"epochs": "2", "imgsz": "320", "batch": "8"}
UMBRELLA = REPO / "charts" / "odpipe"
#: serving waits for the first model (its readiness needs a loaded version, which no install has), so
#: the install leaves it off and an upgrade turns it on after v1
INSTALL_SETS = ("--set", "odpipe-workflows.serving.enabled=false")


def task_images() -> dict[str, str]:
    env = REPO / ".build" / "images.env"
    if not env.exists():
        raise SystemExit("no task images: run `make images` first")
    refs = dict(line.split("=", 1) for line in env.read_text().splitlines() if "=" in line)
    return {k: v for k, v in refs.items() if not k.endswith("_build_seconds")}


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


def upload_bccd(s3: Any) -> int:
    doc = json.loads(BCCD_JSON.read_text())
    names = sorted({Path(img["file_name"]).name for img in doc["images"]})
    s3.upload_file(str(BCCD_JSON), "datasets", "bccd/annotations.json")
    for name in names:
        s3.upload_file(str(BCCD_IMAGES / name), "datasets", f"bccd/images/{name}")
    return len(names)


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
        helm("install", RELEASE, str(UMBRELLA), "-n", NS, "--create-namespace", *helm_values(), *INSTALL_SETS,
             "--wait", "--timeout", "10m")  # fmt: skip
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
