"""Faults on the real cluster (`make faults-cluster`): on the umbrella's install, a workflow runs and, at a
point that matters, something is killed: the prepare pod mid-sync, the train pod mid-epoch, the kubelet
and containerd processes mid-epoch, Argo's workflow-controller mid-workflow, MinIO while an executor
uploads or downloads an artifact, the export-deploy pod while it publishes, and the whole node (every
process and container stopped, then started again with etcd, the volumes and MinIO's data kept).

Each case is tried, survived and lost as `make faults` counts them, into .faults/cluster.jsonl and the
same table. Survived: the workflow Succeeds with exactly one new, whole model version and the dataset id
of every other run (a node restart may instead fail cleanly if a resubmit then completes). Lost: objects
in MinIO's three buckets, or files on the datasets volume, that existed before the fault and are gone or
changed after it. ODPIPE_FAULTS_FULL=1 repeats cases at more points; ODPIPE_FAULTS_ONLY=<part of a name>
runs only the cases it names."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from odpipe.export.repository import CLAIM
from odpipe.formats.contract import MODEL as MODEL_FILE
from odpipe.formats.contract import MODEL_CARD as CARD

from e2e.cluster import node
from e2e.cluster import processes as proc
from e2e.cluster.layout import REPO
from e2e.cluster.up import restart

from . import data, disrupt, umbrella
from .kube import MODEL, argo, kjson, list_objects, s3
from .memo import output
from .summary import Report

TARGET = umbrella.TARGET
LOG = REPO / ".faults" / "cluster.jsonl"
#: every case trains (no memo); the chart's default retries (2), coming 5 s after a failure (default 30 s)
SETS = ("--set", "odpipe-workflows.memoize.enabled=false",
        "--set", "odpipe-workflows.workflow.retryStrategy.limit=2",
        "--set", "odpipe-workflows.workflow.retryStrategy.backoff.duration=5s")  # fmt: skip
EPOCHS = "4"
#: what every publish rewrites (the model's serving config): it must still be there, not the same
REWRITTEN = {f"models/{MODEL}/config.pbtxt"}
Fault = Callable[[str, str], str]  # (workflow, point) -> what was done


def run(r: Report, work: Path) -> None:
    umbrella.install(r, work, *SETS)
    with r.step("upload the bccd set to s3://datasets/bccd/") as note, s3(TARGET) as client:
        note[""] = f"{data.upload(client)} images + annotations.json"
    only = os.environ.get("ODPIPE_FAULTS_ONLY", "")  # a part of the case names to run, for one case's rerun
    LOG.parent.mkdir(exist_ok=True)
    earlier = LOG.read_text().splitlines() if only and LOG.exists() else []
    kept = [line for line in earlier if only not in json.loads(line)["fault"]]
    LOG.write_text("".join(f"{line}\n" for line in kept))  # a rerun of some cases keeps the others' rows
    full = os.environ.get("ODPIPE_FAULTS_FULL", "") not in ("", "0")
    cases: list[tuple[str, Fault, list[str]]] = [
        # first: the datasets volume holds no synced image yet, so the sync has work to be cut in
        ("cluster: prepare pod deleted mid-sync", delete_prepare_mid_sync, ["sync"]),
        ("cluster: train pod deleted mid-epoch", delete_train_mid_epoch, ["2", "3"] if full else ["2"]),
        ("cluster: kubelet killed and restarted mid-epoch", restart_kubelet, ["2", "3"] if full else ["2"]),
        ("cluster: containerd killed and restarted mid-epoch", restart_containerd, ["2", "3"] if full else ["2"]),
        ("cluster: workflow-controller deleted mid-workflow", delete_controller,
         ["train", "export-deploy"] if full else ["train"]),
        ("cluster: MinIO deleted while train's outputs upload", delete_minio_at_upload, ["train"]),
        ("cluster: MinIO deleted while export-deploy's inputs download", delete_minio_at_download, ["export-deploy"]),
        ("cluster: export-deploy pod deleted while it publishes", delete_export_at_publish, ["publish"]),
        ("cluster: node restarted mid-workflow", restart_node, ["2", "3"] if full else ["2"]),
    ]  # fmt: skip
    dataset_ids: dict[str, str] = {}
    for n, (fault, action, points) in enumerate(cases):
        if only not in fault:
            continue
        for i, point in enumerate(points):
            with r.step(f"{fault} ({point})") as note:
                note[""] = try_case(r, fault, f"odpipe-fault-{n}-{i}", action, point, dataset_ids)
    with r.step("every run, faulted or not, made the same dataset id") as note:
        if len(set(dataset_ids.values())) != 1:
            raise RuntimeError(f"dataset ids differ: {dataset_ids}")
        note[""] = f"{next(iter(dataset_ids.values()))} in {len(dataset_ids)} runs"
    rows = subprocess.run([str(REPO / ".venv/bin/python"), str(REPO / "tools/faults_table.py"), str(LOG)],
                          capture_output=True, text=True, check=False)  # fmt: skip
    r.facts["faults on the cluster"] = rows.stdout.splitlines()
    r.say(rows.stdout + rows.stderr)
    if rows.returncode:
        raise RuntimeError(f"faults on the cluster not survived: {rows.stderr.strip()}")


def try_case(r: Report, fault: str, name: str, action: Fault, point: str, dataset_ids: dict[str, str]) -> str:
    before = snapshot()
    models = versions()
    wf = submit_and_wait(name, lambda: action(name, point))
    done, phase = wf["_done"], wf["status"]["phase"]
    if phase != "Succeeded" and action is restart_node:  # a reboot may fail the run: it must fail cleanly
        again = submit_and_wait(f"{name}-again", lambda: "resubmitted")
        done += f"; {name} {phase}: {wf['status'].get('message', '')[:120]}; resubmitted"
        wf, phase = again, again["status"]["phase"]
    after = snapshot()
    lost = [key for key, digest in before.items() if after.get(key) != digest]
    lost = [key for key in lost if not (key in REWRITTEN and key in after)]
    now = versions()
    # a version is deployed once its card is there; a number whose claim is all there is was taken by an
    # attempt killed before its model was whole (the repository never reuses a claimed number)
    new = [v for v in now if v not in models and CARD in now[v]]
    skipped = [v for v in now if v not in models and now[v] == {CLAIM}]
    whole = all(files >= {MODEL_FILE, CARD} or files == {CLAIM} for v, files in now.items() if v not in models)
    survived = phase == "Succeeded" and whole and len(new) == 1 and "FAULT NOT PLACED" not in done
    if skipped:
        done += f"; number {skipped} skipped (its claim only: the killed attempt's)"
    if survived:
        dataset_ids[wf["metadata"]["name"]] = output(wf, "dataset-id")
    retried = sorted(
        n["displayName"] for n in wf["status"]["nodes"].values() if n["type"] == "Pod" and "(0)" not in n["displayName"]
    )
    done += f"; retried pods: {', '.join(retried) or 'none (the pods went on)'}"
    record(fault, survived, len(lost), f"{name}: {done}; {phase}; new versions {sorted(new)}")
    r.facts[f"fault {name}"] = {"fault": fault, "done": done, "phase": phase, "lost": lost[:5], "new": sorted(new)}
    if not survived or lost:
        raise RuntimeError(f"{fault}: {phase}, new model versions {sorted(new)}, lost {lost[:5]}: "
                           f"{wf['status'].get('message', '')}")  # fmt: skip
    return f"{done}; {phase}, version {sorted(new)[0]}, {len(before)} objects and files kept"


def submit_and_wait(name: str, act: Callable[[], str]) -> dict[str, Any]:
    """Submit, place the fault, then `argo wait` (not workflows.submit's wait beside the fault: a node
    restart takes the API away, which a waiting CLI does not outlive)."""
    params = [arg for key, value in data.params(epochs=EPOCHS).items() for arg in ("-p", f"{key}={value}")]
    argo("submit", "-n", TARGET.namespace, "--from", "workflowtemplate/odpipe-pipeline", "--name", name, *params)
    try:
        done = act()
    except RuntimeError as exc:  # the run went wrong before the fault's point: that is what to report
        done = f"FAULT NOT PLACED: {exc}"
    argo("wait", "-n", TARGET.namespace, name, timeout=1800)
    wf: dict[str, Any] = json.loads(argo("get", "-n", TARGET.namespace, name, "-o", "json"))
    wf["_done"] = done
    return wf


def record(fault: str, survived: bool, lost: int, note: str) -> None:
    line = {"fault": fault, "tried": 1, "survived": int(survived), "lost": lost, "note": note}
    with LOG.open("a") as fh:
        fh.write(json.dumps(line) + "\n")


def snapshot() -> dict[str, str]:
    """Every object in the three buckets with its ETag (its content's digest for a simple upload), and
    every file on the datasets volume with its sha256."""
    out: dict[str, str] = {}
    with s3(TARGET) as client:
        for bucket in ("argo-artifacts", "datasets", "models"):
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                out.update({f"{bucket}/{o['Key']}": o["ETag"] for o in page.get("Contents", [])})
    root = datasets_volume()
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[f"pvc:{path.relative_to(root)}"] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def datasets_volume() -> Path:
    """The host folder behind the chart's datasets PVC (a local PersistentVolume on this node)."""
    claims = kjson("-n", TARGET.namespace, "get", "pvc")["items"]
    claim = next(c for c in claims if c["metadata"]["name"].endswith("-datasets"))
    volume = kjson("get", "pv", claim["spec"]["volumeName"])
    return Path(volume["spec"]["local"]["path"])


def versions() -> dict[int, set[str]]:
    with s3(TARGET) as client:
        keys = list_objects(client, "models", f"{MODEL}/")
    out: dict[int, set[str]] = {}
    for key in keys:
        parts = key.split("/")
        if len(parts) == 3 and parts[1].isdigit():
            out.setdefault(int(parts[1]), set()).add(parts[2])
    return out


def step_pod(workflow: str, step: str) -> str:
    return disrupt.step_pod(TARGET.namespace, workflow, step)


def wait_log(pod: str, needle: str) -> None:
    disrupt.wait_log(TARGET.namespace, pod, needle)


def delete_pod(pod: str) -> None:
    disrupt.delete_pods(TARGET.namespace, pod)


def delete_minio() -> None:
    disrupt.delete_pods(TARGET.namespace, "-l", f"app=minio,release={TARGET.release}")


def delete_then_retry(workflow: str, step: str, at: str, retry_says: str) -> str:
    """Delete the step's pod once its log shows `at`; the retry's log must then show `retry_says`."""
    pod = step_pod(workflow, step)
    wait_log(pod, at)
    delete_pod(pod)
    wait_log(step_pod(workflow, step), retry_says)
    return pod


def delete_prepare_mid_sync(workflow: str, point: str) -> str:
    pod = delete_then_retry(workflow, "prepare", f"{point} s3://", "synced s3://")
    return f"deleted {pod} as it began to {point} the images; the retry synced again"


def delete_train_mid_epoch(workflow: str, point: str) -> str:
    pod = delete_then_retry(workflow, "train", f"epoch {point}/{EPOCHS}", "resuming after epoch")
    return f"deleted {pod} after epoch {point}; the retry resumed"


def kill_and_restart(daemon: str, start: Callable[[], None], workflow: str, point: str) -> str:
    """SIGKILL a node daemon mid-epoch (its process group: not the containers, whose shims live apart),
    start it again 10 s later; the train pod goes on, or Argo retries it."""
    pod = step_pod(workflow, "train")
    wait_log(pod, f"epoch {point}/{EPOCHS}")
    pid = proc.running(daemon)
    if pid is None:
        raise RuntimeError(f"{daemon} is not running")
    os.killpg(pid, signal.SIGKILL)
    time.sleep(10)
    start()
    return f"killed {daemon} after epoch {point} of {pod}, restarted it 10 s later"


def restart_kubelet(workflow: str, point: str) -> str:
    return kill_and_restart("kubelet", node.start_kubelet, workflow, point)


def restart_containerd(workflow: str, point: str) -> str:
    return kill_and_restart("containerd", node.start_containerd, workflow, point)


def restart_node(workflow: str, point: str) -> str:
    pod = step_pod(workflow, "train")
    wait_log(pod, f"epoch {point}/{EPOCHS}")
    times = restart(lambda _msg: None)
    return f"restarted the node after epoch {point} of {pod} (up again in {sum(times.values()):.0f} s)"


def delete_controller(workflow: str, point: str) -> str:
    return disrupt.delete_controller(TARGET.namespace, workflow, point)


def delete_minio_at_upload(workflow: str, point: str) -> str:
    pod = step_pod(workflow, point)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:  # main has ended, wait (the executor) uploads the outputs
        status = kjson("-n", TARGET.namespace, "get", "pod", pod)["status"]
        main = next((c for c in status.get("containerStatuses", []) if c["name"] == "main"), {})
        if "terminated" in main.get("state", {}):
            break
        time.sleep(0.5)
    delete_minio()
    return f"deleted MinIO as {pod}'s main container ended"


def delete_minio_at_download(workflow: str, point: str) -> str:
    """MinIO deleted as the step's pod starts, before its init container (the executor) has loaded its
    input artifacts: the load meets MinIO gone, then restarting."""
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        for pod in disrupt.workflow_pods(TARGET.namespace, workflow):
            init = next((c for c in pod["status"].get("initContainerStatuses", []) if c["name"] == "init"), {})
            if disrupt.pod_step(pod) == point and "terminated" not in init.get("state", {}):
                delete_minio()
                return f"deleted MinIO before {pod['metadata']['name']}'s init container had loaded its inputs"
        time.sleep(0.2)
    raise RuntimeError(f"{workflow}: {point}'s pod never seen before its inputs were loaded")


def delete_export_at_publish(workflow: str, point: str) -> str:
    pod = step_pod(workflow, "export-deploy")
    wait_log(pod, "batch-1 CPU latency")  # the last measurement: the publish comes next
    delete_pod(pod)
    return f"deleted {pod} as it began to {point}"
