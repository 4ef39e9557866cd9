"""`argo submit --wait` of odpipe-pipeline, with the pods it ran recorded (podGC deletes them), and its
steps as Argo's nodes report them."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from .clients import NS, argo, k


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
