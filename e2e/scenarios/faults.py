"""Faults on the real cluster (`make faults-cluster`): on the umbrella's install, a workflow runs and, at a
point that matters, a pod is deleted: the train pod mid-epoch, Argo's workflow-controller mid-workflow,
MinIO while train's executor uploads its outputs, the export-deploy pod while it publishes. Each case is
tried, survived (the workflow Succeeds, or fails naming what it lacks) and lost (objects in MinIO before
the fault that are gone or changed after it) as `make faults` counts them, into .faults/cluster.jsonl and
the same table. ODPIPE_FAULTS_FULL=1 repeats each case at more points."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from e2e.cluster.layout import REPO
from e2e.cluster.tools import kubectl

from . import data, umbrella
from .kube import MODEL, argo, k, kjson, list_objects, s3
from .summary import Report

TARGET = umbrella.TARGET
LOG = REPO / ".faults" / "cluster.jsonl"
#: every case trains (no memo), retries come 5 s after a failure (the chart's default backoff is 30 s)
SETS = ("--set", "odpipe-workflows.memoize.enabled=false",
        "--set", "odpipe-workflows.workflow.retryStrategy.backoff.duration=5s")  # fmt: skip
EPOCHS = "4"
Fault = Callable[[str, str], str]  # (workflow, point) -> what was done


def run(r: Report, work: Path) -> None:
    umbrella.install(r, work, *SETS)
    with r.step("upload the bccd set to s3://datasets/bccd/") as note, s3(TARGET) as client:
        note[""] = f"{data.upload(client)} images + annotations.json"
    LOG.parent.mkdir(exist_ok=True)
    LOG.unlink(missing_ok=True)
    full = os.environ.get("ODPIPE_FAULTS_FULL", "") not in ("", "0")
    cases: list[tuple[str, Fault, list[str]]] = [
        ("cluster: train pod deleted mid-epoch", delete_train_mid_epoch, ["2", "3"] if full else ["2"]),
        ("cluster: workflow-controller deleted mid-workflow", delete_controller,
         ["train", "export-deploy"] if full else ["train"]),
        ("cluster: MinIO deleted while train's outputs upload", delete_minio_at_upload, ["train"]),
        ("cluster: export-deploy pod deleted while it publishes", delete_export_at_publish, ["publish"]),
    ]  # fmt: skip
    for n, (fault, action, points) in enumerate(cases):
        for i, point in enumerate(points):
            with r.step(f"{fault} ({point})") as note:
                note[""] = try_case(r, fault, f"odpipe-fault-{n}-{i}", action, point)
    rows = subprocess.run([str(REPO / ".venv/bin/python"), str(REPO / "tools/faults_table.py"), str(LOG)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    r.facts["faults on the cluster"] = rows.stdout.splitlines()
    r.say(rows.stdout + rows.stderr)
    if rows.returncode:
        raise RuntimeError(f"faults on the cluster not survived: {rows.stderr.strip()}")


def try_case(r: Report, fault: str, name: str, action: Fault, point: str) -> str:
    before = snapshot()
    models = versions()
    params = [arg for key, value in data.params(epochs=EPOCHS).items() for arg in ("-p", f"{key}={value}")]
    argo("submit", "-n", TARGET.namespace, "--from", "workflowtemplate/odpipe-pipeline", "--name", name, *params)
    done = action(name, point)
    argo("wait", "-n", TARGET.namespace, name, timeout=1800)
    wf = json.loads(argo("get", "-n", TARGET.namespace, name, "-o", "json"))
    phase = wf["status"]["phase"]
    after = snapshot()
    lost = [key for key, etag in before.items() if after.get(key) != etag]
    new = [v for v in versions() if v not in models]
    whole = all(files >= {"model.onnx", "model-card.json"} for v, files in versions().items() if v in new)
    survived = phase == "Succeeded" and whole and len(new) == 1
    record(fault, survived, len(lost), f"{name}: {done}; {phase}; new versions {sorted(new)}")
    r.facts[f"fault {name}"] = {"fault": fault, "done": done, "phase": phase, "lost": lost[:5], "new": sorted(new)}
    if not survived:
        raise RuntimeError(f"{fault}: {phase}, new model versions {sorted(new)}: {wf['status'].get('message', '')}")
    return f"{done}; {phase}, version {sorted(new)[0]}, {len(lost)} objects lost"


def record(fault: str, survived: bool, lost: int, note: str) -> None:
    line = {"fault": fault, "tried": 1, "survived": int(survived), "lost": lost, "note": note}
    with LOG.open("a") as fh:
        fh.write(json.dumps(line) + "\n")


def snapshot() -> dict[str, str]:
    """Every object in the three buckets with its ETag (its content's digest for a simple upload)."""
    out: dict[str, str] = {}
    with s3(TARGET) as client:
        for bucket in ("argo-artifacts", "datasets", "models"):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                out.update({f"{bucket}/{o['Key']}": o["ETag"] for o in page.get("Contents", [])})
    return out


def versions() -> dict[int, set[str]]:
    with s3(TARGET) as client:
        keys = list_objects(client, "models", f"{MODEL}/")
    out: dict[int, set[str]] = {}
    for key in keys:
        parts = key.split("/")
        if len(parts) == 3 and parts[1].isdigit():
            out.setdefault(int(parts[1]), set()).add(parts[2])
    return out


def step_pod(workflow: str, step: str, timeout: float = 900) -> str:
    """The running pod of a step (its node name ends with the task's name)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = kjson("-n", TARGET.namespace, "get", "pods", "-l", f"workflows.argoproj.io/workflow={workflow}")
        for pod in pods["items"]:
            node = pod["metadata"].get("annotations", {}).get("workflows.argoproj.io/node-name", "")
            live = pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")
            if node.split(".")[-1].split("(")[0] == step and live:
                return str(pod["metadata"]["name"])
        time.sleep(1)
    raise RuntimeError(f"{workflow}: no running {step} pod within {timeout:.0f} s")


def wait_log(pod: str, needle: str, timeout: float = 900) -> None:
    """Follow a pod's main log until a line holds `needle`."""
    proc = subprocess.Popen([*kubectl(), "-n", TARGET.namespace, "logs", "-f", pod, "-c", "main"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if needle in line:
                return
            if time.monotonic() > deadline:
                break
        raise RuntimeError(f"{pod}: no log line with {needle!r}")
    finally:
        proc.kill()


def delete_pod(pod: str) -> None:
    k("-n", TARGET.namespace, "delete", "pod", pod, "--wait=false")


def delete_train_mid_epoch(workflow: str, point: str) -> str:
    pod = step_pod(workflow, "train")
    wait_log(pod, f"epoch {point}/{EPOCHS}")
    delete_pod(pod)
    retry = step_pod(workflow, "train")
    wait_log(retry, "resuming after epoch")
    return f"deleted {pod} after epoch {point}; the retry resumed"


def delete_controller(workflow: str, point: str) -> str:
    step_pod(workflow, point)
    selector = "app.kubernetes.io/component=workflow-controller"
    k("-n", TARGET.namespace, "delete", "pod", "-l", selector, "--wait=false")
    return f"deleted the workflow-controller while {point} ran"


def delete_minio_at_upload(workflow: str, point: str) -> str:
    pod = step_pod(workflow, point)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:  # main has ended, wait (the executor) uploads the outputs
        status = kjson("-n", TARGET.namespace, "get", "pod", pod)["status"]
        main = next((c for c in status.get("containerStatuses", []) if c["name"] == "main"), {})
        if "terminated" in main.get("state", {}):
            break
        time.sleep(0.5)
    k("-n", TARGET.namespace, "delete", "pod", "-l", f"app=minio,release={TARGET.release}", "--wait=false")
    return f"deleted MinIO as {pod}'s main container ended"


def delete_export_at_publish(workflow: str, point: str) -> str:
    pod = step_pod(workflow, "export-deploy")
    wait_log(pod, "batch-1 CPU latency")  # the last measurement: the publish comes next
    delete_pod(pod)
    return f"deleted {pod} as it began to {point}"

