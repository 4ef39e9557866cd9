"""The e2e's timing breakdown (e2e/scenarios/timing.py) on a workflow whose timestamps are known: every
second of the wall time lands with one owner, and a mark a pod does not report folds into the next."""

from __future__ import annotations

from typing import Any

from e2e.scenarios.timing import CONTROLLER, EXECUTOR, KUBELET, STEP, breakdown


def _t(second: int) -> str:
    return f"2026-12-03T10:00:{second:02d}Z"


def _pod(
    created: int, scheduled: int, sandbox: int | None, init: tuple[int, int], main: tuple[int, int], wait: int
) -> dict[str, Any]:
    conditions = [{"type": "PodScheduled", "status": "True", "lastTransitionTime": _t(scheduled)}]
    if sandbox is not None:
        conditions.append({"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": _t(sandbox)})
    done = lambda a, b: {"state": {"terminated": {"startedAt": _t(a), "finishedAt": _t(b)}}}  # noqa: E731
    return {
        "created": _t(created),
        "status": {
            "conditions": conditions,
            "initContainerStatuses": [{"name": "init", **done(*init)}],
            "containerStatuses": [{"name": "main", **done(*main)}, {"name": "wait", **done(main[0], wait)}],
        },
    }


def _workflow() -> dict[str, Any]:
    nodes = {
        "a": {"type": "Pod", "id": "a", "displayName": "prepare(0)", "phase": "Succeeded",
              "startedAt": _t(1), "finishedAt": _t(12)},
        "b": {"type": "Pod", "id": "b", "displayName": "train(0)", "phase": "Succeeded",
              "startedAt": _t(15), "finishedAt": _t(40)},
        "dag": {"type": "DAG", "id": "dag", "displayName": "wf", "startedAt": _t(0), "finishedAt": _t(42)},
    }  # fmt: skip
    pods = {
        "a": _pod(created=2, scheduled=2, sandbox=4, init=(5, 6), main=(7, 10), wait=11),
        "b": _pod(created=15, scheduled=16, sandbox=None, init=(18, 19), main=(20, 37), wait=39),
    }
    return {"status": {"startedAt": _t(0), "finishedAt": _t(42), "nodes": nodes}, "_pods": pods, "_wall": 43.0}


def test_every_second_has_one_owner() -> None:
    result = breakdown(_workflow())
    assert result.wall == 42
    assert sum(result.by_owner.values()) == 42
    rows = dict(result.rows)
    assert rows["prepare(0)"] == {
        "node -> pod created": 1, "scheduling": 0, "sandbox": 2, "init start": 1, "inputs (init)": 1,
        "main start": 1, "step": 3, "outputs, logs (wait)": 1, "pod -> node done": 1, "gap to next": 3,
    }  # fmt: skip
    # no sandbox-ready mark: scheduled -> init started is one segment, under "init start"
    assert "sandbox" not in rows["train(0)"] and rows["train(0)"]["init start"] == 2
    assert result.by_owner[STEP] == 3 + 17 and result.by_owner[EXECUTOR] == 1 + 1 + 1 + 2
    assert result.by_owner[KUBELET] == 2 + 1 + 1 + 2 + 1
    assert result.by_owner[CONTROLLER] == 1 + 1 + 1 + 3 + 0 + 1 + 2  # start, node->pod, pod->node, gap, end


def test_the_ratio_line_names_both_runs() -> None:
    lines = breakdown(_workflow()).lines(30.0)
    assert lines[-1] == "workflow wall 42 s against odpipe run 30 s on the same data: 1.40x"
    assert lines[0].startswith("step") and any(line.startswith("by owner:") for line in lines)
