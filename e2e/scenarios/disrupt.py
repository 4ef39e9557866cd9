"""What a fault does to a running workflow: find a step's live pod, follow its log to a chosen line,
delete a pod or Argo's workflow-controller. Used by the faults suite and by `make e2e`'s light form."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from e2e.cluster.tools import kubectl

from .kube import k, kjson

CONTROLLER = "app.kubernetes.io/component=workflow-controller"


def workflow_pods(namespace: str, workflow: str) -> list[dict[str, Any]]:
    return list(kjson("-n", namespace, "get", "pods", "-l", f"workflows.argoproj.io/workflow={workflow}")["items"])


def pod_step(pod: dict[str, Any]) -> str:
    """The task a workflow pod runs: its node name's last part without a retry's index."""
    name = pod["metadata"].get("annotations", {}).get("workflows.argoproj.io/node-name", "")
    return str(name.split(".")[-1].split("(")[0])


def step_pod(namespace: str, workflow: str, step: str, timeout: float = 900) -> str:
    """The running pod of a step."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pod in workflow_pods(namespace, workflow):
            live = pod["status"].get("phase") == "Running" and not pod["metadata"].get("deletionTimestamp")
            if pod_step(pod) == step and live:
                return str(pod["metadata"]["name"])
        phase = k("-n", namespace, "get", "workflow", workflow, "-o", "jsonpath={.status.phase}", check=False)
        if phase.strip() in ("Succeeded", "Failed", "Error"):
            raise RuntimeError(f"{workflow} {phase.strip()} with no {step} pod running")
        time.sleep(0.2)  # prepare's pod runs for 2-3 s now that check-inputs is no pod before it
    raise RuntimeError(f"{workflow}: no running {step} pod within {timeout:.0f} s")


def wait_log(namespace: str, pod: str, needle: str, timeout: float = 900) -> None:
    """Follow a pod's main log until a line holds `needle`."""
    proc = subprocess.Popen([*kubectl(), "-n", namespace, "logs", "-f", pod, "-c", "main"],
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


def delete_pods(namespace: str, *which: str) -> None:
    """Delete pods by name, or by `-l selector`, without waiting for them to go."""
    k("-n", namespace, "delete", "pod", *which, "--wait=false")


def delete_controller(namespace: str, workflow: str, step: str) -> str:
    """Delete Argo's workflow-controller pod (in `namespace`) while `step` of `workflow` runs."""
    step_pod(namespace, workflow, step)
    delete_pods(namespace, "-l", CONTROLLER)
    return f"deleted the workflow-controller while {step} ran"
