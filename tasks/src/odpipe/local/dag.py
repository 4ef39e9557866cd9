"""DAG ordering: which task runs when, as a pure function of the DAG template."""

from __future__ import annotations

import re
from typing import Any

from odpipe.common.errors import InputError
from odpipe.local.errors import UnsupportedArgo

_UNSUPPORTED_TASK_FIELDS = frozenset({"when", "withItems", "withParam", "withSequence", "continueOn", "hooks"})


def dependencies(task: dict[str, Any]) -> set[str]:
    """The tasks `task` waits for: `dependencies` plus `depends` in the form `a && b`."""
    name = task["name"]
    unsupported = _UNSUPPORTED_TASK_FIELDS & set(task)
    if unsupported:
        raise UnsupportedArgo(f"DAG task {name}: {sorted(unsupported)} outside the supported Argo subset")
    parts = set(task.get("dependencies", []))
    for part in (task.get("depends") or "").split("&&"):
        part = part.strip()
        if not part:
            continue
        if not re.fullmatch(r"[\w-]+", part):
            raise UnsupportedArgo(f"DAG task {name}: depends {task['depends']!r} (only 'a && b')")
        parts.add(part)
    return parts


def dag_order(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tasks in an order that respects every dependency; ties in name order, so runs are repeatable."""
    by_name = {t["name"]: t for t in tasks}
    deps = {name: dependencies(task) for name, task in by_name.items()}
    for name, wanted in deps.items():
        unknown = wanted - set(by_name)
        if unknown:
            raise InputError(f"DAG task {name}: depends on unknown task(s) {sorted(unknown)}")
    ordered: list[dict[str, Any]] = []
    done: set[str] = set()
    while len(done) < len(by_name):
        ready = sorted(n for n in by_name if n not in done and deps[n] <= done)
        if not ready:
            raise InputError(f"DAG has a cycle among {sorted(set(by_name) - done)}")
        for name in ready:
            ordered.append(by_name[name])
            done.add(name)
    return ordered


def entry_dag(workflow_template: dict[str, Any]) -> dict[str, Any]:
    """The entrypoint template of a WorkflowTemplate, which must be a DAG."""
    spec = workflow_template["spec"]
    main = next((t for t in spec["templates"] if t["name"] == spec.get("entrypoint")), None)
    if main is None or "dag" not in main:
        raise UnsupportedArgo(f"{workflow_template['metadata']['name']}: the entrypoint must be a DAG template")
    return main
