"""The chart's WorkflowTemplates agree with the artifact contract module and the task CLIs (checked
against the code: the contract's paths and the Click commands' real options)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import typer
from odpipe.cli import app
from odpipe.formats import contract

from charts import WORKFLOWS, by_kind, render

TEMPLATE_OF_TASK = {"prepare": "odpipe-prepare", "train": "odpipe-train", "export-deploy": "odpipe-export-deploy"}
BOTO_ENV = {"AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
CONTRACT_ENV = {contract.ENV_DATASETS_BUCKET, contract.ENV_MODELS_BUCKET, contract.ENV_ARTIFACTS_BUCKET}
WORKFLOW_ENV = {"ODPIPE_WORKFLOW_NAME", "ODPIPE_WORKFLOW_UID"}
# the image a step runs, set on every step; export-deploy records it in the model card (read from os.environ)
IMAGE_ENV = {"ODPIPE_IMAGE", "ODPIPE_IMAGE_DIGEST"}


@pytest.fixture(scope="module")
def templates() -> dict[str, dict[str, Any]]:
    docs = render(WORKFLOWS, WORKFLOWS / "ci" / "default-values.yaml")
    return {d["metadata"]["name"]: d for d in by_kind(docs, "WorkflowTemplate")}


def _step(templates: dict[str, dict[str, Any]], task: str) -> dict[str, Any]:
    doc = templates[TEMPLATE_OF_TASK[task]]
    return next(t for t in doc["spec"]["templates"] if t["name"] == doc["spec"]["entrypoint"])


def _command(task: str) -> Any:
    group: Any = typer.main.get_command(app)
    cmd = group.commands.get(task)
    assert cmd is not None, f"the CLI has no subcommand {task!r}"
    return cmd


@pytest.mark.parametrize("task", sorted(contract.TASKS))
def test_artifacts_follow_the_contract(templates: dict[str, dict[str, Any]], task: str) -> None:
    step, spec = _step(templates, task), contract.TASKS[task]
    inputs = {a["name"]: a for a in step["inputs"].get("artifacts", [])}
    assert set(inputs) == {a.name for a in spec.inputs}
    for art in spec.inputs:
        assert inputs[art.name]["path"] == contract.artifact_path_in_container("inputs", art.file)
        assert bool(inputs[art.name].get("optional")) == art.optional
    outputs = {a["name"]: a for a in step["outputs"]["artifacts"]}
    assert set(outputs) == {a.name for a in spec.outputs}
    for art in spec.outputs:
        assert outputs[art.name]["path"] == contract.artifact_path_in_container("outputs", art.file)
        # single files travel as they are (readable in the bucket); directories as tgz, but a report's
        # pictures, which Argo's artifact server serves file by file beside the page
        assert ("none" in outputs[art.name].get("archive", {})) == (not art.archived)
        # an optional output (the HTML reports) never fails the step when it is missing
        assert bool(outputs[art.name].get("optional")) == art.optional, (task, art.name)
    params = {p["name"]: p["valueFrom"]["path"] for p in step["outputs"]["parameters"]}
    assert params == {p: contract.param_path_in_container(p) for p in spec.parameters}
    mounts = {m["mountPath"] for m in step["container"]["volumeMounts"]}
    assert {f"/{contract.DATA_SUBDIR}", f"/{contract.OUTPUTS_SUBDIR}", "/tmp"} <= mounts


@pytest.mark.parametrize("task", sorted(contract.TASKS))
def test_commands_flags_and_env_exist_in_the_cli(templates: dict[str, dict[str, Any]], task: str) -> None:
    container = _step(templates, task)["container"]
    assert container["command"] == ["odpipe"] and container["args"][0] == task
    cmd = _command(task)
    flags = {opt for p in cmd.params for opt in p.opts}
    used = [a for a in container["args"][1:] if a.startswith("--")]
    assert used, "the template passes no flag"
    for flag in used:
        assert flag.split("=")[0] in flags, f"{task}: the chart passes {flag}, which `odpipe {task}` lacks"
    envvars = {p.envvar for p in cmd.params if isinstance(p.envvar, str)}
    for env in container["env"]:
        name = env["name"]
        assert name in BOTO_ENV | CONTRACT_ENV | envvars | WORKFLOW_ENV | IMAGE_ENV, (
            f"{task}: env {name} is read by nothing"
        )
    # each input parameter of the step reaches the task, as a flag or an environment variable
    text = str(container["args"]) + str(container["env"])
    for p in _step(templates, task)["inputs"].get("parameters", []):
        if p["name"] != "annotations-key":  # an artifact key, resolved by Argo
            assert f"{{{{inputs.parameters.{p['name']}}}}}" in text, f"{task}: parameter {p['name']} unused"


def test_workflow_identity_env_is_read_by_export_deploy() -> None:
    envvars = {p.envvar for p in _command("export-deploy").params if isinstance(p.envvar, str)}
    assert {"ODPIPE_WORKFLOW_NAME", "ODPIPE_WORKFLOW_UID"} <= envvars
    assert "ODPIPE_RUN_ID" in {p.envvar for p in _command("train").params if isinstance(p.envvar, str)}


def test_image_env_is_on_every_step_and_read_by_the_model_card(templates: dict[str, dict[str, Any]]) -> None:
    from odpipe.formats import model_card

    assert {model_card.ENV_IMAGE, model_card.ENV_IMAGE_DIGEST} == IMAGE_ENV
    source = Path(model_card.__file__).read_text()
    for const in ("ENV_IMAGE", "ENV_IMAGE_DIGEST"):
        assert f"os.environ.get({const})" in source, f"the model card no longer records {const}"
    for task in contract.TASKS:
        container = _step(templates, task)["container"]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["ODPIPE_IMAGE"] == container["image"], task
        assert env["ODPIPE_IMAGE_DIGEST"] == "", task  # no digest in the default values


def test_pipeline_parameters_match_the_steps(templates: dict[str, dict[str, Any]]) -> None:
    pipeline = templates["odpipe-pipeline"]
    top = {p["name"] for p in pipeline["spec"]["arguments"]["parameters"]}
    steps = set()
    for task in contract.TASKS:
        steps |= {p["name"] for p in _step(templates, task)["inputs"].get("parameters", [])}
    assert top == steps


def test_serving_and_its_helm_test_pass_flags_the_cli_has() -> None:
    docs = render(WORKFLOWS, WORKFLOWS / "ci" / "serving-values.yaml")
    containers = [
        c
        for d in docs
        if d["kind"] in ("Deployment", "Pod")
        for c in (d["spec"]["template"]["spec"] if d["kind"] == "Deployment" else d["spec"])["containers"]
        if c.get("command") == ["odpipe"] and c["args"][0] in ("serve", "check-serve")
    ]
    assert {c["args"][0] for c in containers} == {"serve", "check-serve"}
    for container in containers:
        task = container["args"][0]
        flags = {opt for p in _command(task).params for opt in p.opts}
        for flag in (a for a in container["args"][1:] if a.startswith("--")):
            assert flag in flags, f"the chart passes {flag}, which `odpipe {task}` lacks"
        for env in container.get("env", []):
            assert env["name"] in BOTO_ENV | {contract.ENV_MODELS_BUCKET}, (
                f"{task}: env {env['name']} is read by nothing"
            )


@pytest.mark.parametrize("task", sorted(contract.TASKS))
def test_each_task_declares_one_html_report_stored_unarchived(templates: dict[str, dict[str, Any]], task: str) -> None:
    reports = contract.reports(task)
    assert len(reports) == 1 and reports[0].optional and not reports[0].directory
    outputs = {a["name"]: a for a in _step(templates, task)["outputs"]["artifacts"]}
    declared = outputs[reports[0].name]
    assert declared["archive"] == {"none": {}}  # Argo's UI shows HTML artifacts only when stored as they are
    assert declared["path"].endswith(".html")
    # its pictures: a folder beside it, stored file by file, so the page's relative links resolve in Argo's
    # artifact server (.../outputs/<report>-files/001.jpg), in the bucket and on a local disk alike
    files = outputs[f"{reports[0].name}-files"]
    assert files["path"] == declared["path"].removesuffix(".html") + "-files"
    assert files["archive"] == {"none": {}} and files["optional"] is True
