"""Both charts, offline: helm lint/template per ci file, schemas, semantic lint, ct lint checks, bad values."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from argo_lint import lint
from conftest import SHARED
from odpipe.executables import executable

from charts import REPO, UMBRELLA, WORKFLOWS, by_kind, helm, render, umbrella_offline

WF_CI = sorted((WORKFLOWS / "ci").glob("*-values.yaml"))
UMB_CI = sorted((UMBRELLA / "ci").glob("*-values.yaml"))


@pytest.fixture(scope="module")
def umbrella(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return umbrella_offline(tmp_path_factory.mktemp("umbrella"))


@pytest.fixture(scope="module")
def rendered(umbrella: Path) -> dict[str, list[dict[str, Any]]]:
    out = {f"odpipe-workflows/{f.name}": render(WORKFLOWS, f) for f in WF_CI}
    out.update({f"odpipe/{f.name}": render(umbrella, f) for f in UMB_CI})
    return out


def test_every_supported_shape_has_a_ci_file() -> None:
    assert {f.name for f in WF_CI} >= {"default-values.yaml", "external-s3-values.yaml", "gpu-values.yaml"}
    assert {f.name for f in UMB_CI} >= {"all-bundled-values.yaml", "gpu-values.yaml"}


@pytest.mark.parametrize("values", WF_CI, ids=lambda p: p.name)
def test_helm_lint_strict_odpipe_workflows(values: Path) -> None:
    proc = helm("lint", "--strict", str(WORKFLOWS), "-f", str(values))
    assert "0 chart(s) failed" in proc.stdout


@pytest.mark.parametrize("values", UMB_CI, ids=lambda p: p.name)
def test_helm_lint_strict_umbrella(umbrella: Path, values: Path) -> None:
    proc = helm("lint", "--strict", str(umbrella), "-f", str(values))
    assert "0 chart(s) failed" in proc.stdout


def test_umbrella_wires_odpipe_workflows_to_the_bundled_minio(rendered: dict[str, list[dict[str, Any]]]) -> None:
    docs = rendered["odpipe/all-bundled-values.yaml"]
    umbrella_values = yaml.safe_load((UMBRELLA / "values.yaml").read_text())
    secret = by_kind(docs, "Secret")[0]
    assert secret["metadata"]["name"] == umbrella_values["minio"]["existingSecret"] == "odpipe-s3"
    assert set(secret["data"]) == {"rootUser", "rootPassword"}  # the keys MinIO's existingSecret expects
    repo = yaml.safe_load(by_kind(docs, "ConfigMap")[0]["data"]["default-v1"])["s3"]
    assert repo["endpoint"] == "odpipe-minio:9000" and repo["insecure"] is True
    assert {b["name"] for b in umbrella_values["minio"]["buckets"]} == {"argo-artifacts", "datasets", "models"}
    assert umbrella_values["minio"]["users"] == [] and umbrella_values["argo-workflows"]["crds"]["full"] is False
    env = {e["name"]: e for e in _containers(docs)[0]["env"]}
    assert env["AWS_ENDPOINT_URL"]["value"] == "http://odpipe-minio:9000"


def test_chart_lock_matches_chart_yaml_and_the_digest_method_matches_helm(tmp_path: Path) -> None:
    check = [sys.executable, str(REPO / "tools/chart_lock.py"), "--check"]
    proc = subprocess.run([*check, str(UMBRELLA)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout
    # the same digest helm itself writes, shown on a chart whose dependency resolves offline (file://)
    (tmp_path / "b").mkdir()
    (tmp_path / "b/Chart.yaml").write_text("apiVersion: v2\nname: b\nversion: 1.2.3\n")
    (tmp_path / "a").mkdir()
    (tmp_path / "a/Chart.yaml").write_text(
        "apiVersion: v2\nname: a\nversion: 0.1.0\ndependencies:\n"
        "  - name: b\n    version: 1.2.3\n    repository: file://../b\n"
        "    condition: b.enabled\n"
    )
    helm("dependency", "update", str(tmp_path / "a"))
    proc = subprocess.run([*check, str(tmp_path / "a")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def _containers(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for d in by_kind(docs, "WorkflowTemplate"):
        out += [t["container"] for t in d["spec"]["templates"] if "container" in t]
    for d in by_kind(docs, "Pod"):
        out += d["spec"]["containers"]
    return out


def test_kubernetes_validate_strict_on_core_kinds(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    files = []
    for name, docs in rendered.items():
        for i, doc in enumerate(d for d in docs if not d["apiVersion"].startswith("argoproj.io")):
            path = tmp_path / f"{name.replace('/', '_')}-{i}.yaml"
            path.write_text(yaml.safe_dump(doc))
            files.append(path)
    proc = subprocess.run(
        [executable("kubernetes-validate"), "--strict", "-k", "1.35.0", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(" passed for resource ") == len(files) > 20


def _workflowtemplates(rendered: dict[str, list[dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{n}:{d['metadata']['name']}", d) for n, docs in rendered.items() for d in by_kind(docs, "WorkflowTemplate")
    ]


def test_workflowtemplates_validate_with_hera_forbidding_unknown_fields(
    rendered: dict[str, list[dict[str, Any]]],
) -> None:
    from hera.workflows.models import WorkflowTemplate
    from pydantic import ValidationError

    wfts = _workflowtemplates(rendered)
    assert len(wfts) == 4 * len(rendered)
    for _, doc in wfts:
        WorkflowTemplate.model_validate(doc, extra="forbid")
    broken = copy.deepcopy(wfts[0][1])
    broken["spec"]["templates"][0]["containr"] = broken["spec"]["templates"][0].pop("container", {})
    with pytest.raises(ValidationError, match="containr"):
        WorkflowTemplate.model_validate(broken, extra="forbid")


def test_workflowtemplates_validate_with_argo_strict_schema(rendered: dict[str, list[dict[str, Any]]]) -> None:
    import jsonschema

    path = SHARED / "argo" / "schema-strict.json"
    if not path.exists():
        pytest.skip(f"{path} not present")
    schema = json.loads(path.read_text())
    wrapper = {
        "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.WorkflowTemplate",
        "definitions": schema["definitions"],
    }
    validator = jsonschema.Draft202012Validator(wrapper)
    for name, doc in _workflowtemplates(rendered):
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, f"{name}: {errors[:5]}"
    broken = copy.deepcopy(_workflowtemplates(rendered)[0][1])
    broken["spec"]["templates"][0]["outputs"]["artifcts"] = []
    assert list(validator.iter_errors(broken))


def test_semantic_lint_passes_and_catches_breakage(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name, docs in rendered.items():
        assert lint(docs) == [], name
    docs = copy.deepcopy(rendered["odpipe-workflows/default-values.yaml"])
    pipeline = next(d for d in docs if d.get("metadata", {}).get("name") == "odpipe-pipeline")
    tasks = pipeline["spec"]["templates"][0]["dag"]["tasks"]
    tasks[1]["depends"] = "prepre"
    tasks[2]["arguments"]["artifacts"][0]["from"] = "{{tasks.train.outputs.artifacts.wieghts}}"
    tasks[2]["arguments"]["artifacts"].pop(2)
    tasks[0]["templateRef"]["template"] = "nope"
    pipeline["spec"]["volumes"].pop(0)
    pipeline["spec"]["templates"][0]["dag"]["tasks"][0]["arguments"]["parameters"][0]["value"] = "{{ .Values.x }}"
    problems = "\n".join(lint(docs))
    for needle in (
        "unknown task 'prepre'",
        "no output artifact 'wieghts'",
        "'metrics' not supplied",
        "names no template",
        "mounts 'data'",
        "leftover Helm",
    ):
        assert needle in problems, (needle, problems)


# -- ct lint's checks ----------------------------------------------------------------------------
@pytest.mark.parametrize("chart", [WORKFLOWS, UMBRELLA], ids=lambda p: p.name)
def test_ct_yamale_chart_yaml(chart: Path) -> None:
    import yamale

    schema_path = SHARED / "ct" / "chart_schema.yaml"
    if not schema_path.exists():
        pytest.skip(f"{schema_path} not present")
    schema = yamale.make_schema(str(schema_path))
    yamale.validate(schema, yamale.make_data(str(chart / "Chart.yaml")), strict=True)


@pytest.mark.parametrize("chart", [WORKFLOWS, UMBRELLA], ids=lambda p: p.name)
def test_ct_yamllint(chart: Path) -> None:
    conf = SHARED / "ct" / "lintconf.yaml"
    if not conf.exists():
        pytest.skip(f"{conf} not present")
    files = [chart / "Chart.yaml", chart / "values.yaml", *sorted((chart / "ci").glob("*.yaml"))]
    proc = subprocess.run(
        [sys.executable, "-m", "yamllint", "-c", str(conf), "-f", "parsable", *map(str, files)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout


def test_ct_yaml_config() -> None:
    ct = yaml.safe_load((REPO / "ct.yaml").read_text())
    assert ct["chart-dirs"] == ["charts"] and ct["target-branch"] == "main"
    assert ct["validate-maintainers"] is False and ct["check-version-increment"] is True


# -- bad values ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (("pipeline.epochs=abc",), "at '/pipeline/epochs': got string, want integer"),
        (("pipeline.epochz=3",), "additional properties 'epochz' not allowed"),
        (("pipeline.epochs=-3",), "at '/pipeline/epochs': minimum: got -3, want 1"),
        (("s3.endpoint=http://minio:9000",), 's3.endpoint "http://minio:9000" must be host:port without a scheme'),
        (("s3.endpoint=",), "s3.endpoint is required"),
        (("workflow.podSecurityContext.runAsNonRoot=false",), "/workflow/podSecurityContext/runAsNonRoot"),
        (("tasks.train.variant=rocm",), "/tasks/train/variant"),
    ],
)
def test_bad_values_are_rejected_with_a_readable_message(sets: tuple[str, ...], message: str) -> None:
    args = ["template", "x", str(WORKFLOWS), "--set", "s3.endpoint=minio:9000"]
    for s in sets:
        args += ["--set", s]
    proc = helm(*args, check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_umbrella_rejects_a_password_in_values(umbrella: Path) -> None:
    proc = helm("template", "x", str(umbrella), "--set", "minio.rootPassword=hunter2", check=False)
    assert proc.returncode != 0 and "/minio/rootPassword" in proc.stderr


def test_values_are_all_documented_and_typed() -> None:
    for chart in (WORKFLOWS, UMBRELLA):
        schema = json.loads((chart / "values.schema.json").read_text())
        values = yaml.safe_load((chart / "values.yaml").read_text())
        text = (chart / "values.yaml").read_text()
        for key in _leaf_keys(values):
            top = key.split(".")[0]
            assert top in schema["properties"], f"{chart.name}: {key} not typed"
            if chart == WORKFLOWS or key.count(".") < 3:
                assert f"@param {key}" in text or any(f"@param {p}" in text for p in _prefixes(key)), (
                    f"{chart.name}: {key} has no @param documentation"
                )
        readme = (chart / "README.md").read_text()
        for line in text.splitlines():
            if "@param" in line:
                assert f"`{line.split()[2]}`" in readme, f"{chart.name}/README.md lacks {line.split()[2]}"


def _leaf_keys(node: Any, prefix: str = "") -> list[str]:
    if isinstance(node, dict) and node:
        out = []
        for k, v in node.items():
            out += _leaf_keys(v, f"{prefix}{k}.")
        return out
    return [prefix[:-1]]


def _prefixes(key: str) -> list[str]:
    parts = key.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@pytest.mark.parametrize("chart", [WORKFLOWS, UMBRELLA], ids=lambda p: p.name)
def test_readme_values_table_is_current(chart: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools/values_table.py"), "--check", str(chart)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout
