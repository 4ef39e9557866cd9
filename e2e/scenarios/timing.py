"""Where a workflow's wall time goes: for each step, the node's and the pod's timestamps cut into
segments, each with its owner (Argo's controller, the scheduler, kubelet/containerd, Argo's executor, the
step itself), and the gap to the next step; totals by owner against `odpipe run` on the same data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .workflows import pod_steps, stamp

CONTROLLER, SCHEDULER, KUBELET, EXECUTOR, STEP = (
    "argo controller",
    "scheduler",
    "kubelet/containerd",
    "executor",
    "step",
)


@dataclass(frozen=True)
class Segment:
    name: str
    owner: str
    start: str  # a mark's name
    end: str


#: Marks in the order they happen in one step; each segment runs from one mark to the next present one.
SEGMENTS = (
    Segment("node -> pod created", CONTROLLER, "node started", "pod created"),
    Segment("scheduling", SCHEDULER, "pod created", "scheduled"),
    Segment("sandbox", KUBELET, "scheduled", "sandbox ready"),
    Segment("init start", KUBELET, "sandbox ready", "init started"),
    Segment("inputs (init)", EXECUTOR, "init started", "init ended"),
    Segment("main start", KUBELET, "init ended", "main started"),
    Segment("step", STEP, "main started", "main ended"),
    Segment("outputs, logs (wait)", EXECUTOR, "main ended", "wait ended"),
    Segment("pod -> node done", CONTROLLER, "wait ended", "node finished"),
)


def _container(status: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    for c in status.get(kind, []) or []:
        if c.get("name") == name:
            return (c.get("state") or {}).get("terminated") or (c.get("state") or {}).get("running") or {}
    return {}


def _condition(status: dict[str, Any], kind: str) -> str | None:
    for c in status.get("conditions", []) or []:
        if c.get("type") == kind and c.get("status") == "True":
            return c.get("lastTransitionTime")
    return None


def marks(step: dict[str, Any], pod: dict[str, Any]) -> dict[str, float]:
    """Every mark this step's node and pod record, in seconds since the epoch."""
    status = pod.get("status", {})
    init = _container(status, "initContainerStatuses", "init")
    main, wait = _container(status, "containerStatuses", "main"), _container(status, "containerStatuses", "wait")
    raw = {
        "node started": step.get("started"),
        "pod created": pod.get("created"),
        "scheduled": _condition(status, "PodScheduled"),
        "sandbox ready": _condition(status, "PodReadyToStartContainers"),
        "init started": init.get("startedAt"),
        "init ended": init.get("finishedAt"),
        "main started": main.get("startedAt"),
        "main ended": main.get("finishedAt"),
        "wait ended": wait.get("finishedAt"),
        "node finished": step.get("finished"),
    }
    return {name: stamp(value) for name, value in raw.items() if value}


@dataclass
class Breakdown:
    """Seconds per step and segment, the gaps between steps, and the totals by owner."""

    wall: float
    rows: list[tuple[str, dict[str, float]]]
    by_owner: dict[str, float]

    def lines(self, local_seconds: float | None = None) -> list[str]:
        names = [s.name for s in SEGMENTS] + ["gap to next"]
        out = [f"{'step':16}" + "".join(f"{n[:12]:>13}" for n in names)]
        for step, seconds in self.rows:
            out.append(f"{step[:16]:16}" + "".join(_cell(seconds.get(n)) for n in names))
        out.append("by owner: " + ", ".join(f"{o} {s:.0f} s" for o, s in self.by_owner.items()))
        line = f"workflow wall {self.wall:.0f} s"
        if local_seconds:
            line += f" against odpipe run {local_seconds:.0f} s on the same data: {self.wall / local_seconds:.2f}x"
        out.append(line)
        return out


def _cell(value: float | None) -> str:
    return f"{'?':>13}" if value is None else f"{value:12.1f}s"


def _segments(m: dict[str, float]) -> dict[str, tuple[str, float]]:
    """Each segment whose end mark is present, from the last present mark before it (a mark a pod
    does not report, such as sandbox ready, folds its time into the next segment)."""
    order = [SEGMENTS[0].start, *(seg.end for seg in SEGMENTS)]
    out: dict[str, tuple[str, float]] = {}
    for seg in SEGMENTS:
        if seg.end not in m:
            continue
        before = [name for name in order[: order.index(seg.end)] if name in m]
        if before:
            out[seg.name] = (seg.owner, max(0.0, m[seg.end] - m[before[-1]]))
    return out


def breakdown(wf: dict[str, Any]) -> Breakdown:
    steps = pod_steps(wf)
    status = wf["status"]
    wf_start, wf_end = stamp(status["startedAt"]), stamp(status["finishedAt"])
    owners: dict[str, float] = {}
    rows: list[tuple[str, dict[str, float]]] = []
    previous_end = wf_start
    for i, step in enumerate(steps):
        m = marks(step, wf.get("_pods", {}).get(step["pod"], {}))
        if i == 0:
            _add(owners, CONTROLLER, max(0.0, m.get("node started", wf_start) - wf_start))
        cells: dict[str, float] = {}
        for name, (owner, seconds) in _segments(m).items():
            cells[name] = seconds
            _add(owners, owner, seconds)
        end = m.get("node finished", previous_end)
        if i + 1 < len(steps) and steps[i + 1].get("started"):
            cells["gap to next"] = max(0.0, stamp(steps[i + 1]["started"]) - end)
            _add(owners, CONTROLLER, cells["gap to next"])
        rows.append((step["step"], cells))
        previous_end = end
    _add(owners, CONTROLLER, max(0.0, wf_end - previous_end))
    return Breakdown(wall=wf_end - wf_start, rows=rows, by_owner=owners)


def _add(owners: dict[str, float], owner: str, seconds: float) -> None:
    owners[owner] = owners.get(owner, 0.0) + seconds


def print_breakdown(say: Callable[[str], None], wf: dict[str, Any], local_seconds: float | None) -> Breakdown:
    result = breakdown(wf)
    for line in result.lines(local_seconds):
        say("    " + line)
    return result
