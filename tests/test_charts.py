"""Both charts, offline: helm lint/template per ci file, schemas, semantic lint, ct lint checks, bad values."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from argo_lint import lint
from conftest import SHARED
from fake_kube import fake_kube
from odpipe.common.executables import executable

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
    tasks = {t["name"]: t for t in pipeline["spec"]["templates"][0]["dag"]["tasks"]}
    tasks["train"]["depends"] = "prepre"
    tasks["export-deploy"]["arguments"]["artifacts"][0]["from"] = "{{tasks.train.outputs.artifacts.wieghts}}"
    tasks["export-deploy"]["arguments"]["artifacts"].pop(2)
    tasks["prepare"]["templateRef"]["template"] = "nope"
    pipeline["spec"]["volumes"].pop(0)
    tasks["prepare"]["arguments"]["parameters"][0]["value"] = "{{ .Values.x }}"
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
        (("tasks.train.digest=sha256:abc",), "/tasks/train/digest"),
        (("tasks.prepare.digest=v1.2",), "/tasks/prepare/digest"),
        (("pipeline.strict=maybe",), "/pipeline/strict"),
        (("serving.modelNames={a/b}",), "/serving/modelNames/0"),
        (("serving.versionPolicy.latest=0",), "/serving/versionPolicy/latest"),
        (("serving.logLevel=loud",), "/serving/logLevel"),
        (
            ("serving.enabled=true", "serving.autoscaling.enabled=true", "serving.autoscaling.maxReplicas=1"),
            "serving.autoscaling.maxReplicas 1 is less than minReplicas 2",
        ),
        (
            ("workflow.retryStrategy.backoff.maxDuration=10m",),
            "maxDuration 10m is shorter than workflow.trainDeadlineSeconds (86400 s)",
        ),
    ],
)
def test_bad_values_are_rejected_with_a_readable_message(sets: tuple[str, ...], message: str) -> None:
    args = ["template", "x", str(WORKFLOWS), "--set", "s3.endpoint=minio:9000"]
    for s in sets:
        args += ["--set", s]
    proc = helm(*args, check=False)
    assert proc.returncode != 0 and message in proc.stderr, proc.stderr


def test_a_train_pod_lost_late_is_still_retried() -> None:
    """Seen on the cluster (`make faults-cluster`): with backoff.maxDuration 1m, a train pod deleted after
    69 s was not retried ("Max duration limit exceeded"), since Argo counts maxDuration from the step's
    first attempt, run time included. The default has none; cap bounds each wait; a maxDuration above the
    train deadline is kept."""
    for template in templates_of(render(WORKFLOWS, WORKFLOWS / "ci/default-values.yaml")):
        if "retryStrategy" in template:
            backoff = template["retryStrategy"]["backoff"]
            assert "maxDuration" not in backoff and backoff["cap"] == "5m", template["name"]
    sets = ("workflow.retryStrategy.backoff.maxDuration=25h",)
    kept = templates_of(render(WORKFLOWS, WORKFLOWS / "ci/default-values.yaml", sets=sets))
    assert {t["retryStrategy"]["backoff"].get("maxDuration") for t in kept if "retryStrategy" in t} == {"25h"}


def templates_of(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for d in by_kind(docs, "WorkflowTemplate") for t in d["spec"]["templates"]]


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


# -- the chart's own conventions -------------------------------------------------------------------------
COMMON = {"commonAnnotations": {"example.com/owner": "ml-platform"}, "commonLabels": {"example.com/team": "vision"}}


def _extra_values(tmp: Path, chart_is_umbrella: bool, values: dict[str, Any]) -> Path:
    path = tmp / ("umbrella-extra.yaml" if chart_is_umbrella else "extra.yaml")
    path.write_text(yaml.safe_dump({"odpipe-workflows": values} if chart_is_umbrella else values))
    return path


@pytest.mark.parametrize("values", WF_CI + UMB_CI, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_common_annotations_and_labels_reach_every_resource(umbrella: Path, values: Path, tmp_path: Path) -> None:
    is_umbrella = values.parent.parent == UMBRELLA
    chart = umbrella if is_umbrella else WORKFLOWS
    docs = render(chart, values, _extra_values(tmp_path, is_umbrella, COMMON))
    assert len(docs) > 10
    _strict_argo(docs)
    for doc in docs:
        meta, what = doc["metadata"], f"{doc['kind']} {doc['metadata']['name']}"
        assert COMMON["commonAnnotations"].items() <= meta.get("annotations", {}).items(), what
        assert COMMON["commonLabels"].items() <= meta["labels"].items(), what
        for label in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"):
            assert label in meta["labels"], (what, label)
        # the pods Argo creates from the task templates carry them too
        for tpl in doc.get("spec", {}).get("templates", []) if doc["kind"] == "WorkflowTemplate" else []:
            if "container" in tpl:
                assert COMMON["commonAnnotations"].items() <= tpl["metadata"]["annotations"].items(), what
                assert COMMON["commonLabels"].items() <= tpl["metadata"]["labels"].items(), what
    # resource annotations of their own still win over commonAnnotations
    clash = {"commonAnnotations": {"helm.sh/resource-policy": "delete", "helm.sh/hook": "pre-install"}}
    docs = render(chart, values, _extra_values(tmp_path, is_umbrella, clash))
    for doc in docs:
        annotations = doc["metadata"].get("annotations", {})
        if doc["kind"] == "Pod":
            assert annotations["helm.sh/hook"] == "test"
        if doc["kind"] in ("Secret", "PersistentVolumeClaim"):
            assert annotations["helm.sh/resource-policy"] == "keep"


def _strict_argo(docs: list[dict[str, Any]]) -> None:
    from hera.workflows.models import WorkflowTemplate

    for doc in by_kind(docs, "WorkflowTemplate"):
        WorkflowTemplate.model_validate(doc, extra="forbid")
    assert lint(docs) == []


def _task_containers(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        d["metadata"]["name"]: t["container"]
        for d in by_kind(docs, "WorkflowTemplate")
        for t in d["spec"]["templates"]
        if "container" in t
    }


def test_image_digest_and_global_registry() -> None:
    digest = "sha256:" + "ab" * 32
    ci = WORKFLOWS / "ci" / "gpu-values.yaml"
    docs = render(WORKFLOWS, ci, sets=(f"tasks.train.digest={digest}", "tasks.prepare.registry=mirror.example"))
    _strict_argo(docs)
    images = {n: c["image"] for n, c in _task_containers(docs).items()}
    assert images == {
        "odpipe-prepare": "mirror.example/odpipe/prepare:0.1.0",
        "odpipe-train": f"ghcr.io/odpipe/train@{digest}",  # the digest overrides the tag and the variant
        "odpipe-export-deploy": "ghcr.io/odpipe/export-deploy:0.1.0-cuda",
    }
    for name, c in _task_containers(docs).items():
        env = {e["name"]: e.get("value") for e in c["env"]}
        assert env["ODPIPE_IMAGE"] == c["image"], name
        assert env["ODPIPE_IMAGE_DIGEST"] == (digest if name == "odpipe-train" else ""), name
    # global.imageRegistry overrides every per-image registry, also when a parent chart passes it down
    docs = render(WORKFLOWS, ci, sets=("global.imageRegistry=registry.local:5000", "tasks.prepare.registry=x.io"))
    pods = [c["image"] for d in by_kind(docs, "Pod") for c in d["spec"]["containers"] if c["name"] != "kubectl"]
    for image in [c["image"] for c in _task_containers(docs).values()] + pods:
        assert image.startswith("registry.local:5000/odpipe/"), image


def test_umbrella_passes_global_image_registry_down(umbrella: Path) -> None:
    docs = render(umbrella, sets=("global.imageRegistry=registry.local:5000",))
    images = [c["image"] for c in _task_containers(docs).values()]
    assert len(images) == 3 and all(i.startswith("registry.local:5000/odpipe/") for i in images), images


def test_gpu_and_shm_belong_to_the_train_template_alone(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name in ("odpipe-workflows/gpu-values.yaml", "odpipe/gpu-values.yaml"):
        wfts = {d["metadata"]["name"]: d for d in by_kind(rendered[name], "WorkflowTemplate")}
        for wft_name, wft in wfts.items():
            volumes = {v["name"] for v in wft["spec"]["volumes"]}
            # odpipe-pipeline runs odpipe-train's template through templateRef, with its own volumes
            assert ("dshm" in volumes) == (wft_name in ("odpipe-train", "odpipe-pipeline")), (name, wft_name)
            for tpl in wft["spec"]["templates"]:
                if "container" not in tpl:
                    continue
                c = tpl["container"]
                gpu = "nvidia.com/gpu" in c["resources"].get("limits", {})
                shm = "/dev/shm" in {m["mountPath"] for m in c["volumeMounts"]}
                toleration = any(t.get("key") == "nvidia.com/gpu" for t in tpl.get("tolerations", []))
                selector = "nvidia.com/gpu.present" in tpl.get("nodeSelector", {})
                train = wft_name == "odpipe-train"
                assert gpu == shm == toleration == selector == train, (name, wft_name, gpu, shm, toleration, selector)


def test_each_parameter_default_comes_from_one_place(tmp_path: Path) -> None:
    # WorkflowTemplate parameter -> (pipeline.* value, its rendered default)
    defaults = {
        "model-name": ("modelName", "cars", "cars"),
        "model": ("model", "yolo11s.yaml", "yolo11s.yaml"),
        "epochs": ("epochs", 7, "7"),
        "imgsz": ("imgsz", 320, "320"),
        "batch": ("batch", 4, "4"),
        "val-fraction": ("valFraction", 0.3, "0.3"),
        "seed": ("seed", 9, "9"),
        "strict": ("strict", True, "true"),
        "min-map50-95": ("minMap5095", 0.5, "0.5"),
        "require-improvement": ("requireImprovement", True, "true"),
        "precision": ("precision", "int8", "int8"),
    }
    values = tmp_path / "pipeline.yaml"
    values.write_text(yaml.safe_dump({"pipeline": {key: v for key, v, _ in defaults.values()}}))
    docs = render(WORKFLOWS, WORKFLOWS / "ci" / "default-values.yaml", values)
    wfts = {d["metadata"]["name"]: d for d in by_kind(docs, "WorkflowTemplate")}
    pipeline_args = {p["name"]: p.get("value") for p in wfts["odpipe-pipeline"]["spec"]["arguments"]["parameters"]}
    assert {k: pipeline_args[k] for k in defaults} == {k: rendered for k, (_, _, rendered) in defaults.items()}
    seen = set()
    for name, wft in wfts.items():
        if name == "odpipe-pipeline":
            continue
        step = wft["spec"]["templates"][0]
        for where in (wft["spec"]["arguments"]["parameters"], step["inputs"]["parameters"]):
            for p in where:
                assert p.get("value") == pipeline_args[p["name"]], (name, p)
                seen.add(p["name"])
    assert seen == set(pipeline_args)
    # every pipeline.* value is a parameter default
    pipeline_values = yaml.safe_load((WORKFLOWS / "values.yaml").read_text())["pipeline"]
    assert {key for key, _, _ in defaults.values()} == set(pipeline_values)


def test_helpers_are_named_after_their_chart() -> None:
    # Helm shares one template namespace between a parent and its subcharts: a subchart's helper must
    # carry the subchart's name, or the umbrella could silently redefine it.
    for chart, prefix in ((WORKFLOWS, "odpipe-workflows."), (UMBRELLA, "odpipe.")):
        for path in (chart / "templates").rglob("*"):
            if not path.is_file():
                continue
            text = path.read_text()
            for kind, name in re.findall(r'\b(define|include|template)\s+"([^"]+)"', text):
                assert name.startswith(prefix), f"{path.relative_to(chart)}: {kind} {name!r} lacks {prefix}"


def test_helpers_live_by_topic_and_the_s3_environment_is_written_once() -> None:
    """Bitnami's common chart layout: helpers in one _<topic>.tpl each (names, labels, images, s3, pod,
    parameters, validation, serving, check-inputs), each defined once; the S3 environment (endpoint,
    region, the Secret's keys) is one helper that task and serving containers share."""
    templates = WORKFLOWS / "templates"
    assert not (templates / "_helpers.tpl").exists()
    tpls = sorted(templates.rglob("_*.tpl"))
    assert {p.name for p in tpls} >= {"_names.tpl", "_labels.tpl", "_images.tpl", "_s3.tpl", "_pod.tpl",
                                      "_parameters.tpl", "_validation.tpl", "_check-inputs.tpl"}  # fmt: skip
    defines = [n for p in tpls for n in re.findall(r'define "([^"]+)"', p.read_text())]
    assert len(defines) == len(set(defines)), sorted(n for n in defines if defines.count(n) > 1)
    text = "".join(p.read_text() for p in templates.rglob("*") if p.is_file())
    assert text.count("name: AWS_ACCESS_KEY_ID") == 1 and text.count("name: AWS_SECRET_ACCESS_KEY") == 1


PARAM = re.compile(r"^\s*## @param (\S+) ")
JSON_TYPE = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array", dict: "object"}


def _schema_types(node: dict[str, Any]) -> set[str]:
    if "type" in node:
        return set(node["type"]) if isinstance(node["type"], list) else {node["type"]}
    return set().union(*(_schema_types(n) for n in node.get("oneOf", []) + node.get("anyOf", [])))


def _schema_leaves(node: dict[str, Any], prefix: str = "") -> list[str]:
    if "properties" not in node:
        return [prefix[:-1]]
    return [leaf for k, v in node["properties"].items() for leaf in _schema_leaves(v, f"{prefix}{k}.")]


def param_schema_drift(values_text: str, schema: dict[str, Any]) -> list[str]:
    """Every `## @param` key is in the schema with the type of its value in values.yaml, and every schema
    leaf is documented by an @param line (its own, or an ancestor's for a documented object)."""
    values = yaml.safe_load(values_text)
    params = [m.group(1) for line in values_text.splitlines() if (m := PARAM.match(line))]
    problems = []
    for key in params:
        node, value = schema, values
        try:
            for part in key.split("."):
                node, value = node["properties"][part], value[part]
        except (KeyError, TypeError):
            problems.append(f"@param {key} is not in values.schema.json (or not in values.yaml)")
            continue
        want, got = _schema_types(node), JSON_TYPE[type(value)]
        if got not in want and not (got == "integer" and "number" in want):
            problems.append(f"@param {key}: the value is {got}, values.schema.json says {sorted(want)}")
    for leaf in _schema_leaves(schema):
        parts = leaf.split(".")
        if not any(".".join(parts[:i]) in params for i in range(1, len(parts) + 1)):
            problems.append(f"values.schema.json {leaf} has no @param line")
    return problems


@pytest.mark.parametrize("chart", [WORKFLOWS, UMBRELLA], ids=lambda p: p.name)
def test_schema_and_param_lines_agree(chart: Path) -> None:
    text = (chart / "values.yaml").read_text()
    schema = json.loads((chart / "values.schema.json").read_text())
    assert param_schema_drift(text, schema) == []
    # and the check sees drift: a schema leaf without @param, an @param without schema, a type mismatch
    broken = copy.deepcopy(schema)
    broken["properties"]["undocumented"] = {"type": "string"}
    first = next(m.group(1) for line in text.splitlines() if (m := PARAM.match(line)))
    node = broken
    for part in first.split("."):
        node = node["properties"][part]
    node["type"] = "null"
    node.pop("oneOf", None), node.pop("anyOf", None)
    extra = text + "\n## @param notInSchema A key the schema lacks\nnotInSchema: 1\n"
    problems = "\n".join(param_schema_drift(extra, broken))
    assert "undocumented has no @param" in problems and "notInSchema is not in" in problems
    assert f"@param {first}: the value is" in problems


def _owned(kind: str, name: str, release: str | None) -> dict[str, Any]:
    annotations = {"meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": "mlops"} if release else {}
    api = "argoproj.io/v1alpha1" if kind == "WorkflowTemplate" else "v1"
    labels = {"app.kubernetes.io/managed-by": "Helm"} if release else {}
    metadata = {"name": name, "namespace": "mlops", "annotations": annotations, "labels": labels}
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


@pytest.mark.parametrize(
    ("path", "kind", "name", "owner", "message"),
    [
        (
            "/apis/argoproj.io/v1alpha1/namespaces/mlops/workflowtemplates/odpipe-pipeline",
            "WorkflowTemplate",
            "odpipe-pipeline",
            "other",
            'WorkflowTemplate mlops/odpipe-pipeline already exists, created by Helm release "other"',
        ),
        (
            "/api/v1/namespaces/mlops/configmaps/artifact-repositories",
            "ConfigMap",
            "artifact-repositories",
            None,
            "set artifactRepository.create=false",
        ),
        ("/apis/argoproj.io/v1alpha1/namespaces/mlops/workflowtemplates/odpipe-pipeline", "", "", "odpipe", ""),
    ],
    ids=["second-release", "argo-configmap-outside-helm", "upgrade-of-the-same-release"],
)
def test_one_release_per_namespace(tmp_path: Path, path: str, kind: str, name: str, owner: str, message: str) -> None:
    objects = {path: _owned(kind or "WorkflowTemplate", name or "odpipe-pipeline", owner)}
    with fake_kube(tmp_path, {}, objects) as kubeconfig:
        proc = helm(
            "template", "odpipe", str(WORKFLOWS), "-n", "mlops", "-f", str(WORKFLOWS / "ci/default-values.yaml"),
            "--dry-run=server", "--disable-openapi-validation", "--kubeconfig", str(kubeconfig), check=False,
        )  # fmt: skip
    if message:
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr
        assert "once per namespace" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr


def test_renders_on_a_cluster_without_argo_crds(tmp_path: Path) -> None:
    """On a cluster without Argo (the umbrella's own install), a `lookup` of a WorkflowTemplate fails
    ("error calling lookup ... could not find the requested resource", seen on the real cluster), so every
    such lookup is guarded by .Capabilities.APIVersions.Has. Rendered against an API server without Argo's
    group, the templates now render, and what is left is Helm's own mapping of the WorkflowTemplates
    ("ensure CRDs are installed first"), which the umbrella's crds/ answers on a real install (a dry run
    installs no CRDs)."""
    for chart, values in ((WORKFLOWS, WORKFLOWS / "ci/default-values.yaml"), (umbrella_offline(tmp_path), None)):
        with fake_kube(tmp_path, {}, {}, without=("argoproj.io/v1alpha1",)) as kubeconfig:
            proc = helm(
                "template", "odpipe", str(chart), "-n", "mlops", *(["-f", str(values)] if values else []),
                "--dry-run=server", "--disable-openapi-validation", "--kubeconfig", str(kubeconfig), check=False,
            )  # fmt: skip
        assert "error calling lookup" not in proc.stderr, f"{chart.name}: {proc.stderr}"
        assert proc.returncode == 0 or "ensure CRDs are installed first" in proc.stderr, proc.stderr


def test_every_lookup_of_a_custom_kind_is_guarded() -> None:
    """A lookup of a kind outside core Kubernetes sits inside a Capabilities check of that same kind."""
    for tpl in sorted((WORKFLOWS / "templates").rglob("*.tpl")) + sorted((WORKFLOWS / "templates").rglob("*.yaml")):
        text = tpl.read_text()
        for api in set(re.findall(r'"([a-z0-9.-]+\.io/v[0-9a-z]+)" "([A-Za-z]+)"', text)):
            if "lookup" in text and f'.Capabilities.APIVersions.Has "{api[0]}/{api[1]}"' not in text:
                raise AssertionError(f"{tpl.name}: lookup of {api[0]}/{api[1]} without a Capabilities guard")


def test_serving_renders_odpipe_serve_and_triton_locked_down() -> None:
    assert not [d for d in render(WORKFLOWS, WORKFLOWS / "ci/default-values.yaml") if "serv" in d["metadata"]["name"]]
    docs = render(WORKFLOWS, WORKFLOWS / "ci/serving-values.yaml")
    named = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    serve = named[("Deployment", "odpipe-workflows-serve")]
    pod = serve["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["odpipe"] and container["args"][0] == "serve"
    args = " ".join(container["args"])
    assert "--model-name detector --model-name shapes" in args and "--version 1 --version 2" in args
    assert "--latest" not in args and "--grace-period 30" in args and "--max-body-bytes 33554432" in args
    assert container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e for e in container["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "odpipe-workflows-s3"
    assert env["AWS_ENDPOINT_URL"]["value"] == "http://minio:9000" and env["ODPIPE_MODELS_BUCKET"]["value"] == "models"
    assert "replicas" not in serve["spec"], "the HPA owns the replica count"
    assert named[("HorizontalPodAutoscaler", "odpipe-workflows-serve")]["spec"]["minReplicas"] == 2
    assert named[("PodDisruptionBudget", "odpipe-workflows-serve")]["spec"]["minAvailable"] == 1
    service = named[("Service", "odpipe-workflows-serve")]
    assert service["spec"]["selector"] == serve["spec"]["selector"]["matchLabels"]
    policy = named[("NetworkPolicy", "odpipe-workflows-serving")]
    assert policy["spec"]["podSelector"]["matchLabels"] == serve["spec"]["selector"]["matchLabels"]
    assert policy["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8080}]}]
    # the helm test pod may reach the serve port through the task pods' policy
    tasks_policy = named[("NetworkPolicy", "odpipe-workflows-tasks")]
    assert any(r.get("ports") == [{"protocol": "TCP", "port": 8080}] for r in tasks_policy["spec"]["egress"])
    test = named[("Pod", "odpipe-workflows-test-serve")]
    assert test["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert test["spec"]["containers"][0]["args"][:3] == ["check-serve", "--url", "http://odpipe-workflows-serve:8080"]
    triton = named[("Deployment", "odpipe-workflows-triton")]["spec"]["template"]["spec"]
    t = triton["containers"][0]
    assert t["command"] == ["tritonserver"] and t["image"] == "nvcr.io/nvidia/tritonserver:25.10-py3"
    assert "--model-repository=s3://http://minio:9000/models" in t["args"]
    assert t["resources"]["limits"]["nvidia.com/gpu"] == 1 and triton["nodeSelector"]
    assert {e["name"] for e in t["env"]} >= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"}
    # digest and global registry, as for the task images
    docs = render(
        WORKFLOWS,
        WORKFLOWS / "ci/serving-values.yaml",
        sets=("global.imageRegistry=registry.local:5000", "serving.image.digest=sha256:" + "a" * 64),
    )
    serve = next(d for d in docs if d["kind"] == "Deployment" and d["metadata"]["name"].endswith("-serve"))
    image = serve["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == "registry.local:5000/odpipe/serve@sha256:" + "a" * 64


def _crd_facts(doc: dict[str, Any]) -> dict[str, Any]:
    spec = doc["spec"]
    versions = []
    for v in spec["versions"]:
        schema = v["schema"]["openAPIV3Schema"]
        versions.append((v["name"], v["served"], v["storage"], json.dumps(v.get("subresources"), sort_keys=True),
                         sorted(schema.get("properties", {})), sorted(schema.get("required", [])),
                         [c["jsonPath"] for c in v.get("additionalPrinterColumns", [])]))  # fmt: skip
    names = {k: v for k, v in spec["names"].items()}
    return {"name": doc["metadata"]["name"], "group": spec["group"], "names": names, "scope": spec["scope"],
            "versions": versions}  # fmt: skip


def test_umbrella_crds_match_the_pinned_argo_chart(tmp_path: Path) -> None:
    """The umbrella's crds/ (Argo's minimal CRDs, installed by Helm before the WorkflowTemplates) define
    the same kinds, names, scopes, versions, subresources and top-level fields as the pinned argo-helm
    chart's own minimal CRDs: one source of truth, the pin, checked here rather than copied."""
    pinned = argo_chart_or_skip()
    import tarfile

    with tarfile.open(pinned) as tar:
        theirs = {
            d["metadata"]["name"]: _crd_facts(d)
            for m in tar.getmembers()
            if "/files/crds/minimal/" in m.name
            for d in yaml.safe_load_all(tar.extractfile(m).read())  # type: ignore[union-attr]
            if d
        }
    text = (UMBRELLA / "crds" / "argo-workflows.yaml").read_text()
    ours = {d["metadata"]["name"]: _crd_facts(d) for d in yaml.safe_load_all(text) if d}
    assert sorted(ours) == sorted(theirs)
    for name, facts in theirs.items():
        assert ours[name] == facts, name


def argo_chart_or_skip() -> Path:
    deps = yaml.safe_load((UMBRELLA / "Chart.yaml").read_text())["dependencies"]
    version = next(d["version"] for d in deps if d["name"] == "argo-workflows")
    path = SHARED / "charts" / f"argo-workflows-{version}.tgz"
    if not path.exists():
        pytest.skip(f"argo-helm's chart is not at {path} (../shared/charts)")
    return path


def test_umbrella_runs_argo_helm_chart_as_the_cluster_needs(tmp_path: Path) -> None:
    """The umbrella rendered with argo-helm's real chart at the pin: no CRD from its templates (crds/ has
    them), every Argo image IfNotPresent (the node's images are used: Always failed with ImagePullBackOff
    on the real cluster), the controller namespaced with DEFAULT_REQUEUE_TIME 200ms, argo-server in client
    auth mode, and the WorkflowTemplates beside them."""
    chart = umbrella_offline(tmp_path, real={"argo-workflows": argo_chart_or_skip()})
    docs = render(chart)
    assert not by_kind(docs, "CustomResourceDefinition")
    argo = [d for d in by_kind(docs, "Deployment") if "argo-workflows" in d["metadata"]["name"]]
    assert {d["metadata"]["name"] for d in argo} == {
        "odpipe-argo-workflows-workflow-controller", "odpipe-argo-workflows-server"}  # fmt: skip
    for deploy in argo:
        for c in deploy["spec"]["template"]["spec"]["containers"]:
            assert c["imagePullPolicy"] == "IfNotPresent", (deploy["metadata"]["name"], c["name"])
    controller = next(d for d in argo if d["metadata"]["name"].endswith("workflow-controller"))
    container = controller["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "DEFAULT_REQUEUE_TIME", "value": "200ms"} in container["env"]
    assert "--namespaced" in container["args"]
    # leader election on: with it off (argo-helm at one replica) a deleted controller overlapped its
    # replacement and Argo v4.0.5 left a workflow both wrote unprocessed (make faults-cluster)
    assert controller["spec"]["replicas"] == 2
    assert not [e for e in container["env"] if e["name"] == "LEADER_ELECTION_DISABLE"], container["env"]
    assert any(e["name"] == "LEADER_ELECTION_IDENTITY" for e in container["env"])
    server = next(d for d in argo if d["metadata"]["name"].endswith("server"))
    assert "--auth-mode=client" in server["spec"]["template"]["spec"]["containers"][0]["args"]
    configs = by_kind(docs, "ConfigMap")
    config = next(d for d in configs if d["metadata"]["name"].endswith("workflow-controller-configmap"))
    # argo-helm writes the executor's policy only beside executor resources/env/args; without one the pod
    # field stays empty and Kubernetes applies IfNotPresent to a pinned (non-latest) tag
    assert "Always" not in json.dumps(config["data"]), config["data"]
    executor = container["args"][container["args"].index("--executor-image") + 1]
    assert not executor.endswith(":latest") and ":" in executor.rsplit("/", 1)[-1], executor
    assert len(by_kind(docs, "WorkflowTemplate")) == 4


def test_schedule_renders_a_cronworkflow_of_the_pipeline() -> None:
    """schedule.enabled: a CronWorkflow submitting odpipe-pipeline with its parameters, Forbid by default,
    valid for Argo's strict schema; off by default; a missing annotations-key or an unknown parameter name
    fails the install with a message that names it."""
    import jsonschema

    assert not by_kind(render(WORKFLOWS, WORKFLOWS / "ci/default-values.yaml"), "CronWorkflow")
    (cron,) = by_kind(render(WORKFLOWS, WORKFLOWS / "ci/schedule-values.yaml"), "CronWorkflow")
    spec = cron["spec"]
    assert spec["schedules"] == ["0 2 * * *"] and spec["timezone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid" and spec["startingDeadlineSeconds"] == 300
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"], spec["suspend"]) == (3, 3, False)
    assert spec["workflowSpec"]["workflowTemplateRef"] == {"name": "odpipe-pipeline"}
    params = {p["name"]: p["value"] for p in spec["workflowSpec"]["arguments"]["parameters"]}
    assert params == {"annotations-key": "my-set/annotations.json", "images-prefix": "my-set/images",
                      "model-name": "nightly", "epochs": "50"}  # fmt: skip
    path = SHARED / "argo" / "schema-strict.json"
    if path.exists():
        schema = json.loads(path.read_text())
        wrapper = {
            "$ref": "#/definitions/io.argoproj.workflow.v1alpha1.CronWorkflow",
            "definitions": schema["definitions"],
        }
        errors = [e.message for e in jsonschema.Draft202012Validator(wrapper).iter_errors(cron)]
        assert not errors, errors[:5]
    base = ("--set", "schedule.enabled=true")
    proc = helm("template", "x", str(WORKFLOWS), "-f", str(WORKFLOWS / "ci/default-values.yaml"), *base, check=False)
    assert proc.returncode != 0 and "schedule.parameters.annotations-key is required" in proc.stderr
    proc = helm("template", "x", str(WORKFLOWS), "-f", str(WORKFLOWS / "ci/schedule-values.yaml"),
                "--set", "schedule.parameters.epoch=5", check=False)  # fmt: skip
    assert proc.returncode != 0 and 'schedule.parameters.epoch: odpipe-pipeline has no parameter "epoch"' in proc.stderr


# -- left running: train memoized, artifacts collected ---------------------------------------------------
MEMO_KEY = re.compile(r"^train-\{\{=sprig\.sha256sum\((.*)\)\}\}$")


def test_train_is_memoized_on_dataset_id_every_train_parameter_and_image(tmp_path: Path) -> None:
    """odpipe-pipeline's train task runs `train-memoized`, a one-task DAG around the `train` container
    template (Argo v4.0.5, seen on the cluster: a memoized Retry node links nothing after it, a memoized
    Steps node is saved without its outputs). The key hashes the dataset id prepare hands on, every
    parameter the train step takes and the train image (Argo takes only [a-zA-Z0-9-], hence the hash);
    the cache sits in the controller's namespace and check-inputs (in prepare, before train) is told
    where, to drop entries whose weights were collected."""
    values = tmp_path / "digest.yaml"
    values.write_text(yaml.safe_dump({"tasks": {"train": {"digest": "sha256:" + "a" * 64}}}))
    docs = render(WORKFLOWS, WORKFLOWS / "ci/default-values.yaml", values)
    wfts = {d["metadata"]["name"]: d for d in by_kind(docs, "WorkflowTemplate")}
    templates = {t["name"]: t for t in wfts["odpipe-train"]["spec"]["templates"]}
    container, wrapper = templates["train"], templates["train-memoized"]
    assert wfts["odpipe-train"]["spec"]["entrypoint"] == "train" and "memoize" not in container
    assert "retryStrategy" in container and "retryStrategy" not in wrapper
    memo = wrapper["memoize"]
    cache = "mlops-odpipe-workflows-train-memo"
    assert memo["maxAge"] == "720h" and memo["cache"] == {"configMap": {"name": cache}}
    fields = MEMO_KEY.match(memo["key"]).group(1).split(" + '|' + ")  # type: ignore[union-attr]
    train_params = [p["name"] for p in container["inputs"]["parameters"]]
    assert set(train_params) == {"model", "epochs", "imgsz", "batch", "seed"}
    assert fields == [
        "inputs.parameters['dataset-id']",
        *[f"inputs.parameters['{p}']" for p in train_params],
        f"'{container['container']['image']}'",
    ]
    assert "@sha256:" + "a" * 64 in fields[-1]
    # Argo's rule for a key, on what the expression yields
    assert re.match(r"^[a-zA-Z0-9][-a-zA-Z0-9]*$", "train-" + hashlib.sha256(b"x").hexdigest())
    # the wrapper hands every input to the container template and every output back
    (step,) = wrapper["dag"]["tasks"]
    passed = {p["name"]: p["value"] for p in step["arguments"]["parameters"]}
    assert passed == {p: f"{{{{inputs.parameters.{p}}}}}" for p in train_params} and step["template"] == "train"
    inner = [a["name"] for a in container["outputs"]["artifacts"]]
    assert [a["name"] for a in wrapper["outputs"]["artifacts"]] == inner
    assert all(
        a["from"] == f"{{{{tasks.train.outputs.artifacts.{a['name']}}}}}" for a in wrapper["outputs"]["artifacts"]
    )
    optional = {a["name"] for a in container["outputs"]["artifacts"] if a.get("optional")}
    assert {a["name"] for a in wrapper["outputs"]["artifacts"] if a.get("optional")} == optional
    pipeline = wfts["odpipe-pipeline"]["spec"]["templates"]
    task = next(t for t in pipeline[0]["dag"]["tasks"] if t["name"] == "train")
    assert task["templateRef"] == {"name": "odpipe-train", "template": "train-memoized"}
    wired = {p["name"]: p["value"] for p in task["arguments"]["parameters"]}
    assert wired["dataset-id"] == "{{tasks.prepare.outputs.parameters.dataset-id}}"
    check = wfts["odpipe-prepare"]["spec"]["templates"][0]["container"]["args"]
    assert "--check-inputs" in check and check[check.index("--memo-cache") + 1] == f"argo/{cache}"
    # off: the pipeline runs the container template, nothing for check-inputs to prune
    off = render(WORKFLOWS, WORKFLOWS / "ci/default-values.yaml", sets=("memoize.enabled=false",))
    wfts = {d["metadata"]["name"]: d for d in by_kind(off, "WorkflowTemplate")}
    assert [t["name"] for t in wfts["odpipe-train"]["spec"]["templates"]] == ["train"]
    task = next(t for t in wfts["odpipe-pipeline"]["spec"]["templates"][0]["dag"]["tasks"] if t["name"] == "train")
    assert task["templateRef"]["template"] == "train" and "dataset-id" not in str(task["arguments"])
    assert "--memo-cache" not in str([w["spec"]["templates"] for w in wfts.values()])
    proc = helm("template", "x", str(WORKFLOWS), "-f", str(WORKFLOWS / "ci/default-values.yaml"),
                "--set", "workflow.checkInputs.enabled=false", check=False)  # fmt: skip
    assert proc.returncode != 0 and "memoize.enabled needs workflow.checkInputs.enabled" in proc.stderr


def test_every_workflow_collects_its_artifacts_when_deleted() -> None:
    """artifactGC OnWorkflowDeletion on every WorkflowTemplate (a submitted workflow and a CronWorkflow's
    runs inherit it), under the GC ServiceAccount, with the finalizer removed even when a deletion failed,
    and the GC pods labelled as task pods (the tasks' NetworkPolicy holds for them)."""
    docs = render(WORKFLOWS, WORKFLOWS / "ci/schedule-values.yaml")
    policy = next(p for p in by_kind(docs, "NetworkPolicy") if p["metadata"]["name"].endswith("-tasks"))
    for wft in by_kind(docs, "WorkflowTemplate"):
        gc = wft["spec"]["artifactGC"]
        assert gc["strategy"] == "OnWorkflowDeletion" and gc["forceFinalizerRemoval"] is True
        assert gc["serviceAccountName"] == "odpipe-workflows-artifact-gc"
        labels = gc["podMetadata"]["labels"]
        assert all(labels.get(k) == v for k, v in policy["spec"]["podSelector"]["matchLabels"].items())
        assert wft["spec"]["ttlStrategy"]["secondsAfterSuccess"] > 0
        # every output goes to the artifact repository (no location of its own): GC never reaches models/
        for tpl in wft["spec"]["templates"]:
            for art in tpl.get("outputs", {}).get("artifacts", []):
                assert not {"s3", "gcs", "azure", "http"} & set(art), (wft["metadata"]["name"], art)


def test_check_inputs_sweeps_the_picture_folders_argo_gc_leaves_only_while_gc_runs() -> None:
    def args(*sets: str) -> list[str]:
        docs = render(WORKFLOWS, WORKFLOWS / "ci/default-values.yaml", sets=sets)
        check = next(t for t in templates_of(docs) if t["name"] == "prepare")
        return list(check["container"]["args"])

    default = args()
    assert default[default.index("--sweep-report-pictures-after") + 1] == "3600"
    assert "--sweep-report-pictures-after" not in args("workflow.artifactGC.strategy=")
    assert "--sweep-report-pictures-after" not in args("workflow.artifactGC.sweepReportPictures.enabled=false")
