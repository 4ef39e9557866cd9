"""`argo submit --wait` of odpipe-pipeline, with the pods it ran recorded (podGC deletes them), and its
steps as Argo's nodes report them."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from e2e.cluster.tools import kubectl

from .kube import Target, argo


class PodWatch(threading.Thread):
    """Records the pods of one workflow while it runs (podGC deletes them once they succeed): the last
    status seen of each, for the images, volumes and the timing breakdown. One `kubectl get --watch`
    stream, not a kubectl a second: the measurement must not take the CPU the steps are measured on."""

    def __init__(self, namespace: str, workflow: str) -> None:
        super().__init__(daemon=True)
        self.namespace, self.workflow, self.stop = namespace, workflow, threading.Event()
        self.pods: dict[str, Any] = {}
        selector = f"workflows.argoproj.io/workflow={workflow}"
        self.proc = subprocess.Popen(
            [*kubectl(), "-n", namespace, "get", "pods", "-l", selector, "--watch", "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip

    def run(self) -> None:
        decoder, buffer = json.JSONDecoder(), ""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            buffer += line
            while buffer.strip():
                try:
                    obj, end = decoder.raw_decode(buffer.lstrip())
                except json.JSONDecodeError:
                    break  # the object goes on in the next lines
                buffer = buffer.lstrip()[end:]
                for pod in obj.get("items", [obj]):
                    self.record(pod)

    def record(self, pod: dict[str, Any]) -> None:
        if pod.get("kind") != "Pod":
            return
        node_id = pod["metadata"].get("annotations", {}).get("workflows.argoproj.io/node-id")
        self.pods[node_id or pod["metadata"]["name"]] = _pod_record(pod)

    def finish(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        self.join(10)


def _pod_record(pod: dict[str, Any]) -> dict[str, Any]:
    spec = pod["spec"]
    claims = [v["persistentVolumeClaim"]["claimName"] for v in spec.get("volumes", []) if "persistentVolumeClaim" in v]
    return {
        "name": pod["metadata"]["name"],
        "images": {x["name"]: x["image"] for x in spec.get("containers", [])},
        "init": {x["name"]: x["image"] for x in spec.get("initContainers", [])},
        "phase": pod["status"].get("phase"),
        "pvc": claims,
        "created": pod["metadata"].get("creationTimestamp"),
        "status": pod["status"],
        "spec": {
            "containers": spec.get("containers", []),
            "initContainers": spec.get("initContainers", []),
            "securityContext": spec.get("securityContext", {}),
        },
    }


def submit(target: Target, name: str, params: dict[str, str], *, expect_success: bool = True,
           template: str = "odpipe-pipeline",
           during: Callable[[str], str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Submit and wait; `during(name)` (a fault, say) runs beside the wait and its result is `_during`."""
    args = ["submit", "-n", target.namespace, "--from", f"workflowtemplate/{template}", "--name", name, "--wait"]
    for key, value in params.items():
        args += ["-p", f"{key}={value}"]
    watch = PodWatch(target.namespace, name)
    watch.start()
    beside = Beside(during, name) if during else None
    started = time.monotonic()
    argo(*args, check=False)
    wall = time.monotonic() - started
    time.sleep(1)  # the last pod's final status, if podGC has not taken it yet
    watch.finish()
    wf = json.loads(argo("get", "-n", target.namespace, name, "-o", "json"))
    wf["_wall"], wf["_pods"] = wall, watch.pods
    if beside:
        wf["_during"] = beside.result()
    phase = wf["status"]["phase"]
    if expect_success and phase != "Succeeded":
        raise RuntimeError(f"workflow {name} {phase}: {wf['status'].get('message', '')}\n{failure_messages(wf)}")
    return wf


class Beside(threading.Thread):
    """Runs `act(workflow)` while the workflow runs; `result()` gives what it returned or raises what it raised."""

    def __init__(self, act: Callable[[str], str], workflow: str) -> None:
        super().__init__(daemon=True)
        self.act, self.workflow = act, workflow
        self.done: str | None = None
        self.error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self.done = self.act(self.workflow)
        except BaseException as exc:  # handed to the caller by result()
            self.error = exc

    def result(self) -> str:
        self.join(60)
        if self.is_alive():
            raise RuntimeError(f"beside {self.workflow}: still running a minute after the workflow ended")
        if self.error:
            raise RuntimeError(f"beside {self.workflow}: {self.error}") from self.error
        return self.done or ""


def pod_steps(wf: dict[str, Any]) -> list[dict[str, Any]]:
    steps = []
    for node in wf["status"].get("nodes", {}).values():
        if node.get("type") != "Pod":
            continue
        start, end = node.get("startedAt"), node.get("finishedAt")
        seconds = stamp(end) - stamp(start) if start and end else None
        steps.append({"step": node.get("displayName"), "pod": node.get("id"), "phase": node.get("phase"),
                      "seconds": seconds, "message": node.get("message", ""), "started": start or "",
                      "finished": end or ""})  # fmt: skip
    return sorted(steps, key=lambda s: (s["started"], s["pod"]))  # in the order they ran


def stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def failure_messages(wf: dict[str, Any]) -> str:
    return "\n".join(f"{s['step']}: {s['phase']}: {s['message']}" for s in pod_steps(wf) if s["phase"] != "Succeeded")
