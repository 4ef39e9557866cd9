"""The umbrella as the README installs it: on a cluster with no Argo, `helm install odpipe charts/odpipe`
deploys Argo Workflows through argo-helm's chart (the pinned argo-workflows, as `helm dependency build`
lays it), MinIO and odpipe-workflows; then `helm test`, the bccd set uploaded as NOTES.txt says, `argo
submit --from workflowtemplate/odpipe-pipeline --wait` run by the umbrella's own controller and executor,
serving v1 then v2 without a failed request, three mistakes named by check-inputs, `helm upgrade`, `helm
uninstall`, and `odpipe run` on the same data for the ratio."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from . import charts, data, disrupt
from .failures import run_failures
from .kube import MODEL, Target, helm, helm_install, k, kjson, objects, s3, s3_credentials
from .local import odpipe_run_seconds
from .memo import check_collected, check_memoized, memo_hit, output
from .netpol import check_network_policies, check_serving_policy
from .security import check_security
from .serving import Traffic, infer, serve_url, wait_serving_version
from .summary import Report
from .ui import check_ui
from .workflows import submit

TARGET = Target(namespace="mlops", release="odpipe", s3_service="odpipe-minio")
#: serving waits for the first model (its readiness needs a loaded version, which no install has), so
#: the install leaves it off and an upgrade turns it on after v1
INSTALL_SETS = ("--set", "odpipe-workflows.serving.enabled=false")
ARGO_CONTROLLER = f"{TARGET.release}-argo-workflows-workflow-controller"
WORKFLOW_SA = "odpipe-workflows-workflow"  # odpipe-workflows' fullname under a release named odpipe
WANT_ARTIFACTS = ("dataset.json", "report.json", "metrics.json", "model.onnx", "model-card.json")


def run(r: Report, work: Path) -> None:
    install(r, work)
    params = data.params()
    with r.step("argo submit --from workflowtemplate/odpipe-pipeline --wait (v1)") as note:
        wf1 = submit(TARGET, "odpipe-e2e-v1", params)
        r.facts["workflow v1"] = wf1
        note[""] = f"{wf1['status']['phase']} in {wf1['_wall']:.0f} s"
    check_artifacts(r, "odpipe-e2e-v1")
    check_ui(r, TARGET.namespace, f"{TARGET.release}-argo-workflows-server", TARGET.secret, "odpipe-e2e-v1")
    check_security(r, TARGET, r.facts["workflow v1"], WORKFLOW_SA)
    check_network_policies(r, TARGET, "odpipe-e2e-v1", (f"{TARGET.release}-argo-workflows-server", 2746))
    check_memoized(r, TARGET, wf1, "odpipe-e2e-v1-again", params)
    url = serve_v1(r)
    check_serving_policy(r, TARGET, charts.serving_clients())
    run_failures(r, TARGET, str(charts.UMBRELLA), charts.umbrella_values, params)
    swap_to_v2(r, url, params)
    scheduled_run(r, params)
    # the light form of `make faults-cluster`: the controller is deleted while this run trains
    check_collected(r, TARGET, r.facts["workflow v2"], "odpipe-e2e-v3", {**params, "epochs": "1"}, TARGET.namespace,
                    during=lambda wf: disrupt.delete_controller(TARGET.namespace, wf, "train"))  # fmt: skip
    upgrade_keeps_credentials(r)
    uninstall(r)
    with r.step("odpipe run on the same data (processes, embedded S3), for comparison") as note:
        r.facts["odpipe run seconds"] = odpipe_run_seconds(work, params)
        note[""] = f"{r.facts['odpipe run seconds']:.0f} s"


def install(r: Report, work: Path, *sets: str) -> None:
    with r.step("helm install odpipe charts/odpipe on a cluster without Argo (argo-helm's chart, MinIO)") as note:
        if k("get", "crd", "workflows.argoproj.io", "--ignore-not-found", "-o", "name").strip():
            raise RuntimeError("the Argo CRDs exist before the install: the scenario needs a cluster without Argo")
        charts.pack_umbrella(work)
        helm("install", TARGET.release, str(charts.UMBRELLA), "-n", TARGET.namespace, "--create-namespace",
             *charts.umbrella_values(), *INSTALL_SETS, *sets, "--wait", "--timeout", "10m")  # fmt: skip
        note[""] = argo_release_facts(r)
    with r.step("helm test") as note:
        helm("test", TARGET.release, "-n", TARGET.namespace, "--timeout", "10m")
        note[""] = "passed"
    with r.step("upload the bccd set to s3://datasets/bccd/") as note, s3(TARGET) as client:
        note[""] = f"{data.upload(client)} images + annotations.json"


def argo_release_facts(r: Report) -> str:
    """The umbrella's own Argo: argo-helm's chart at the pin, running the images built here."""
    deploy = kjson("-n", TARGET.namespace, "get", "deploy", ARGO_CONTROLLER)
    chart = deploy["metadata"]["labels"].get("helm.sh/chart", "?")
    image = deploy["spec"]["template"]["spec"]["containers"][0]["image"]
    pinned = f"argo-workflows-{charts.dependency('argo-workflows')['version']}"
    if chart != pinned:
        raise RuntimeError(f"the workflow-controller comes from {chart}, not the pinned {pinned}")
    app = charts.argo_app_version()
    built = image.rsplit(":", 1)[-1]
    note = "" if built == app else f"the pinned chart with the image built here ({built})"
    r.facts["argo chart"] = {"chart": chart, "appVersion": app, "image": image, "note": note}
    return f"{chart} (Argo {app}), controller image {image}"


def check_artifacts(r: Report, workflow: str) -> None:
    with r.step("artifacts and model in MinIO") as note:
        arts = objects(TARGET, "argo-artifacts", f"{workflow}/")
        models = objects(TARGET, "models", f"{MODEL}/")
        r.facts["artifacts v1"], r.facts["models after v1"] = arts, models
        want = [f"{MODEL}/1/model.onnx", f"{MODEL}/1/model-card.json", f"{MODEL}/config.pbtxt"]
        missing = [m for m in want if m not in models]
        names = {Path(a).name for a in arts}
        missing += [f"argo-artifacts/{workflow}/.../{a}" for a in WANT_ARTIFACTS if a not in names]
        if not any(a.endswith(".tgz") for a in arts):
            missing.append("a .tgz folder artifact")
        if missing:
            raise RuntimeError(f"missing in MinIO: {missing}")
        note[""] = f"{len(arts)} artifacts, {len(models)} model objects"


def serve_v1(r: Report) -> str:
    with r.step("helm upgrade --set serving.enabled=true: version 1 answers a v2 request through its Service") as note:
        helm_install(TARGET, charts.UMBRELLA, *charts.umbrella_values())
        url = serve_url(TARGET.namespace)
        wait_serving_version(url, "1")
        r.facts["answer v1"] = infer(url, data.sample_image())
        note[""] = json.dumps(r.facts["answer v1"])
    return url


def swap_to_v2(r: Report, url: str, params: dict[str, str]) -> None:
    with r.step("argo submit (v2) while requests flow: the server swaps without a failed request") as note:
        traffic = Traffic(url, data.sample_image())
        traffic.start()
        r.facts["workflow v2"] = submit(TARGET, "odpipe-e2e-v2", {**params, "epochs": "1"})
        wait_serving_version(url, "2")
        time.sleep(3)
        traffic.stop.set()
        traffic.join()
        r.facts["answer v2"] = infer(url, data.sample_image())
        counts = {v: traffic.versions.count(v) for v in sorted(set(traffic.versions))}
        r.facts["swap"] = {"answers by version": counts, "failed requests": len(traffic.failures)}
        if traffic.failures or "2" not in counts:
            raise RuntimeError(f"swap: {counts}, failures {traffic.failures[:3]}")
        note[""] = f"answers by version {counts}, 0 failed"


def scheduled_run(r: Report, params: dict[str, str]) -> None:
    """schedule.enabled with a schedule every minute: the CronWorkflow fires once, its run Succeeds; the
    schedule is then turned off again by the next upgrade."""
    with r.step(
        "helm upgrade --set schedule.enabled=true (every minute): the CronWorkflow fires, its run Succeeds memoized"
    ) as note:
        wanted = {**params, "epochs": "1"}
        sets = ["--set", "odpipe-workflows.schedule.enabled=true",
                "--set-json", 'odpipe-workflows.schedule.schedules=["* * * * *"]',
                "--set-json", f"odpipe-workflows.schedule.parameters={json.dumps(wanted)}"]  # fmt: skip
        helm_install(TARGET, charts.UMBRELLA, *charts.umbrella_values(), *sets)
        crons = kjson("-n", TARGET.namespace, "get", "cronworkflows", "-l", "app.kubernetes.io/component=schedule")
        cron = crons["items"][0]["metadata"]["name"]
        wf = wait_for_scheduled_run(cron, timeout=600)
        helm_install(TARGET, charts.UMBRELLA, *charts.umbrella_values())
        if wf["status"]["phase"] != "Succeeded":
            raise RuntimeError(f"the scheduled run {wf['metadata']['name']} {wf['status']['phase']}")
        got = {p["name"]: p.get("value") for p in wf["spec"]["arguments"]["parameters"]}
        # v2's dataset and parameters: train is a cache hit, the model stays version 2
        version = output(wf, "model-version")
        if not memo_hit(wf) or version != output(r.facts["workflow v2"], "model-version"):
            raise RuntimeError(f"the scheduled run: memoized {memo_hit(wf)}, model version {version}")
        r.facts["schedule"] = {"cron workflow": cron, "run": wf["metadata"]["name"], "parameters": got,
                               "train memoized": True, "model version": version}  # fmt: skip
        note[""] = f"{wf['metadata']['name']} Succeeded (epochs={got.get('epochs')}), train memoized, version {version}"


def wait_for_scheduled_run(cron: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = kjson("-n", TARGET.namespace, "get", "workflows", "-l", f"workflows.argoproj.io/cron-workflow={cron}")
        done = [w for w in runs["items"] if w.get("status", {}).get("phase") in ("Succeeded", "Failed", "Error")]
        if done:
            return dict(done[0])
        time.sleep(5)
    raise RuntimeError(f"CronWorkflow {cron} started no run that finished within {timeout:.0f} s")


def upgrade_keeps_credentials(r: Report) -> None:
    with r.step("helm upgrade keeps the generated S3 credentials and the models") as note:
        before, creds = objects(TARGET, "models"), s3_credentials(TARGET)
        helm_install(TARGET, charts.UMBRELLA, *charts.umbrella_values(), "--set", "odpipe-workflows.pipeline.epochs=3")
        if s3_credentials(TARGET) != creds:
            raise RuntimeError("helm upgrade changed the generated S3 credentials")
        after = objects(TARGET, "models")
        if not set(before) <= set(after):
            raise RuntimeError(f"models lost by the upgrade: {sorted(set(before) - set(after))}")
        note[""] = f"same credentials, {len(after)} model objects"


def uninstall(r: Report) -> None:
    with r.step("helm uninstall leaves the PVCs, the Secret, the buckets' data and Argo's CRDs") as note:
        ns = TARGET.namespace
        helm("uninstall", TARGET.release, "-n", ns, "--wait", "--timeout", "5m")
        kept = sorted(p["metadata"]["name"] for p in kjson("-n", ns, "get", "pvc")["items"])
        secret = k("-n", ns, "get", "secret", TARGET.secret, "-o", "name", check=False).strip()
        released = [pv for pv in kjson("get", "pv")["items"] if pv["spec"].get("claimRef", {}).get("namespace") == ns]
        on_disk = [str(Path(pv["spec"]["local"]["path"]) / "models") for pv in released
                   if (Path(pv["spec"]["local"]["path"]) / "models").exists()]  # fmt: skip
        crds = k("get", "crd", "-o", "name").split()
        argo_crds = sorted(c for c in crds if c.endswith(".argoproj.io"))
        r.facts["after uninstall"] = {"pvcs": kept, "secret": secret, "minio data on disk": on_disk,
                                      "argo crds kept": len(argo_crds)}  # fmt: skip
        if not any("datasets" in n for n in kept) or not secret or not on_disk or not argo_crds:
            raise RuntimeError(f"after uninstall: {r.facts['after uninstall']}")
        note[""] = f"PVCs {kept}, {secret}, models bucket on disk, {len(argo_crds)} Argo CRDs kept (crds.keep)"
