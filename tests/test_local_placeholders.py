"""Placeholders, node and pod names (odpipe.local.placeholders), checked against Argo's own scheme."""

from __future__ import annotations

import pytest
from odpipe.common.errors import InputError
from odpipe.formats.contract import PARAM_DATASET_ID
from odpipe.local.errors import UnsupportedArgo
from odpipe.local.placeholders import fnv32a, new_workflow_name, node_name, pod_name, substitute


def test_substitute_replaces_every_placeholder_with_spaces_allowed() -> None:
    values = {"workflow.name": "wf-1", f"tasks.prepare.outputs.parameters.{PARAM_DATASET_ID}": "abc"}
    text = f"{{{{workflow.name}}}}/{{{{ tasks.prepare.outputs.parameters.{PARAM_DATASET_ID} }}}}"
    assert substitute(text, values, "here") == "wf-1/abc"


def test_unknown_placeholder_and_expressions_are_named_errors() -> None:
    with pytest.raises(InputError, match=r"task x args: \{\{inputs.parameters.epochs\}\} has no value"):
        substitute("--epochs={{inputs.parameters.epochs}}", {}, "task x args")
    with pytest.raises(UnsupportedArgo, match="expression"):
        substitute("{{=sprig.upper('a')}}", {}, "here")


def test_fnv32a_matches_the_reference_vectors() -> None:
    # FNV-1a 32-bit test vectors (Fowler/Noll/Vo reference)
    assert fnv32a("") == 0x811C9DC5
    assert fnv32a("a") == 0xE40C292C
    assert fnv32a("foobar") == 0xBF9CF968


def test_pod_names_follow_argo_v3_node_naming() -> None:
    # Argo v3 (POD_NAMES=v2): <workflow>-<template>-<fnv32a(node name)>; retried nodes are <task>(<n>)
    assert node_name("wf", "train", None) == "wf.train"
    assert node_name("wf", "train", 2) == "wf.train(2)"
    assert pod_name("wf", "train", "wf.train(0)") == f"wf-train-{fnv32a('wf.train(0)')}"
    assert pod_name("wf", "train", "wf.train(0)") != pod_name("wf", "train", "wf.train(1)")


def test_workflow_names_are_generate_name_style() -> None:
    names = {new_workflow_name("odpipe-pipeline") for _ in range(20)}
    assert len(names) == 20
    assert all(n.startswith("odpipe-pipeline-") and len(n) == len("odpipe-pipeline-") + 5 for n in names)
