"""DAG ordering (odpipe.local.dag): a pure function of the DAG template."""

from __future__ import annotations

import pytest
from odpipe.common.errors import InputError
from odpipe.local.dag import dag_order, dependencies, entry_dag
from odpipe.local.errors import UnsupportedArgo


def _names(tasks: list[dict]) -> list[str]:
    return [t["name"] for t in tasks]


def test_depends_and_dependencies_order_the_chain() -> None:
    tasks = [
        {"name": "export-deploy", "depends": "train && prepare"},
        {"name": "train", "dependencies": ["prepare"]},
        {"name": "prepare"},
    ]
    assert _names(dag_order(tasks)) == ["prepare", "train", "export-deploy"]


def test_independent_tasks_run_in_name_order_for_repeatable_runs() -> None:
    tasks = [{"name": "c"}, {"name": "a"}, {"name": "b", "depends": "a"}, {"name": "d", "depends": "a"}]
    assert _names(dag_order(tasks)) == ["a", "c", "b", "d"]


def test_cycle_and_unknown_dependency_are_named() -> None:
    with pytest.raises(InputError, match=r"cycle among \['a', 'b'\]"):
        dag_order([{"name": "a", "depends": "b"}, {"name": "b", "depends": "a"}])
    with pytest.raises(InputError, match=r"DAG task a: depends on unknown task\(s\) \['ghost'\]"):
        dag_order([{"name": "a", "depends": "ghost"}])


@pytest.mark.parametrize(
    ("task", "message"),
    [
        ({"name": "t", "when": "{{x}} == 1"}, r"DAG task t: \['when'\] outside the supported Argo subset"),
        ({"name": "t", "withItems": [1]}, r"\['withItems'\]"),
        ({"name": "t", "depends": "a.Succeeded || b"}, r"depends 'a.Succeeded \|\| b' \(only 'a && b'\)"),
    ],
)
def test_unsupported_dag_features_are_refused_by_name(task: dict, message: str) -> None:
    with pytest.raises(UnsupportedArgo, match=message):
        dependencies(task)


def test_entrypoint_must_be_a_dag() -> None:
    wft = {"metadata": {"name": "w"}, "spec": {"entrypoint": "main", "templates": [{"name": "main", "steps": []}]}}
    with pytest.raises(UnsupportedArgo, match="w: the entrypoint must be a DAG template"):
        entry_dag(wft)
