"""Security of the rendered charts: checkov, no secret literals, a random password kept across upgrades."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from fake_kube import fake_kube

from charts import REPO, WORKFLOWS, by_kind, helm, render, umbrella_offline

CHECKOV = REPO / ".tools" / "checkov" / "bin" / "checkov"
SENSITIVE = re.compile(r"(PASSWORD|SECRET|TOKEN|ACCESS_KEY)", re.I)


def _all_ci_renders(tmp: Path) -> dict[str, list[dict[str, Any]]]:
    umbrella = umbrella_offline(tmp)
    out = {f"wf-{f.stem}": render(WORKFLOWS, f) for f in sorted((WORKFLOWS / "ci").glob("*.yaml"))}
    out.update({f"umbrella-{f.stem}": render(umbrella, f) for f in sorted((umbrella / "ci").glob("*.yaml"))})
    return out


def test_checkov_scans_every_resource_and_finds_nothing(tmp_path: Path) -> None:
    if not CHECKOV.exists():
        pytest.fail(f"{CHECKOV} missing: `make setup` installs checkov into its own venv")
    renders = _all_ci_renders(tmp_path / "r")
    out_dir = tmp_path / "rendered"
    out_dir.mkdir()
    expected = 0
    for name, docs in renders.items():
        (out_dir / f"{name}.yaml").write_text(yaml.safe_dump_all(docs))
        # checkov also scans the pod template of each Deployment as a Pod of its own
        expected += len(docs) + sum(1 for d in docs if d["kind"] == "Deployment")
    proc = subprocess.run(
        [str(CHECKOV), "-d", str(out_dir), "--framework", "kubernetes", "--skip-download", "-o", "json", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(proc.stdout)
    summary = (report if isinstance(report, dict) else report[0])["summary"]
    # without anything to scan checkov still exits 0: insist it scanned every rendered resource
    assert summary["resource_count"] == expected > 60, summary
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0, proc.stdout[-3000:]
    assert summary["passed"] > 500


def test_every_checkov_skip_carries_a_reason() -> None:
    skips = re.findall(
        r"checkov\.io/skip\d+: (\S+?)=(.*)",
        "\n".join(p.read_text() for p in (WORKFLOWS / "templates").rglob("*") if p.is_file()),
    )
    assert skips
    for check, reason in skips:
        assert re.fullmatch(r"CKV2?_K8S_\d+", check) and len(reason.split()) >= 5, (check, reason)


def test_no_secret_value_in_configmaps_args_or_env(tmp_path: Path) -> None:
    for name, docs in _all_ci_renders(tmp_path).items():
        secrets = [base64.b64decode(v).decode() for s in by_kind(docs, "Secret") for v in s.get("data", {}).values()]
        for doc in docs:
            if doc["kind"] == "Secret":
                continue
            text = yaml.safe_dump(doc)
            for value in secrets:
                assert value not in text, f"{name}: a secret value appears in {doc['kind']} {doc['metadata']['name']}"
            if doc["kind"] == "ConfigMap":
                assert not re.search(
                    r"(?i)(password|secretkey|secret_key)\s*[:=]\s*[^\s{]", text.replace("secretKeySecret", "")
                ), f"{name}: credential literal in ConfigMap"
        containers = [
            t["container"]
            for d in by_kind(docs, "WorkflowTemplate")
            for t in d["spec"]["templates"]
            if "container" in t
        ] + [c for d in by_kind(docs, "Pod") for c in d["spec"]["containers"]]
        assert containers
        for c in containers:
            for env in c.get("env", []):
                if SENSITIVE.search(env["name"]):
                    assert "value" not in env and "secretKeyRef" in env["valueFrom"], f"{name}: {env['name']} literal"
            assert not any(re.search(r"(?i)password|secret", a) for a in c.get("args", [])), f"{name}: args"


def _secret(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return by_kind(docs, "Secret")[0]


def test_generated_password_is_random_and_kept_across_an_upgrade(tmp_path: Path) -> None:
    first = _secret(render(WORKFLOWS, WORKFLOWS / "ci/default-values.yaml"))
    second = _secret(render(WORKFLOWS, WORKFLOWS / "ci/default-values.yaml"))
    pw1 = base64.b64decode(first["data"]["rootPassword"]).decode()
    assert re.fullmatch(r"[A-Za-z0-9]{40}", pw1)
    assert pw1 != base64.b64decode(second["data"]["rootPassword"]).decode(), "a fresh install gets a fresh password"
    # An upgrade: the Secret of the first install exists in the cluster; the chart must keep it (lookup).
    installed = {
        **first,
        "metadata": {
            **first["metadata"],
            "annotations": {"meta.helm.sh/release-name": "odpipe", "meta.helm.sh/release-namespace": "mlops"},
        },
    }
    with fake_kube(tmp_path, {("mlops", first["metadata"]["name"]): installed}) as kubeconfig:
        proc = helm(
            "template",
            "odpipe",
            str(WORKFLOWS),
            "-n",
            "mlops",
            "-f",
            str(WORKFLOWS / "ci/default-values.yaml"),
            "--dry-run=server",
            "--disable-openapi-validation",
            "--kubeconfig",
            str(kubeconfig),
        )
    upgraded = _secret([d for d in yaml.safe_load_all(proc.stdout) if d])
    assert upgraded["data"] == first["data"]


def test_existing_secret_renders_no_secret(tmp_path: Path) -> None:
    docs = render(WORKFLOWS, WORKFLOWS / "ci/external-s3-values.yaml")
    assert not by_kind(docs, "Secret")
    env = {e["name"]: e for e in by_kind(docs, "WorkflowTemplate")[0]["spec"]["templates"][0]["container"]["env"]}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"] == {
        "name": "acme-s3-credentials",
        "key": "AWS_ACCESS_KEY_ID",
    }
    assert env["AWS_ENDPOINT_URL"]["value"] == "https://s3.eu-west-1.amazonaws.com:443"


def test_task_pods_are_non_root_and_locked_down(tmp_path: Path) -> None:
    docs = render(WORKFLOWS, WORKFLOWS / "ci/gpu-values.yaml")
    for wft in by_kind(docs, "WorkflowTemplate"):
        for tpl in wft["spec"]["templates"]:
            if "container" not in tpl:
                continue
            pod, c = tpl["securityContext"], tpl["container"]["securityContext"]
            assert pod["runAsNonRoot"] is True and pod["runAsUser"] > 0
            assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
            assert c["allowPrivilegeEscalation"] is False and c["readOnlyRootFilesystem"] is True
            assert c["capabilities"]["drop"] == ["ALL"]
            assert tpl["retryStrategy"]["limit"] >= 1 and "backoff" in tpl["retryStrategy"]
            assert tpl["activeDeadlineSeconds"] > 0 and "resources" in tpl["container"]
        assert wft["spec"]["podGC"] and wft["spec"]["ttlStrategy"] and wft["spec"]["serviceAccountName"]
    role = next(r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("-workflow"))
    assert role["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]}
    ]


def _rbac(docs: list[dict[str, Any]]) -> dict[tuple[str, str], Any]:
    """(namespace, name) -> the Role's rules and its binding's subjects."""
    roles = {(r["metadata"]["namespace"], r["metadata"]["name"]): r["rules"] for r in by_kind(docs, "Role")}
    out = {}
    for b in by_kind(docs, "RoleBinding"):
        key = (b["metadata"]["namespace"], b["roleRef"]["name"])
        subjects = [(s["namespace"], s["name"]) for s in b["subjects"]]
        out[key] = {"rules": roles[key], "subjects": subjects}
    assert len(out) == len(roles), "a Role without its RoleBinding"
    return out


GET_UPDATE_CACHE = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "update"]}


def test_memoize_and_artifact_gc_rbac_is_least_privilege(tmp_path: Path) -> None:
    """train's cache lives in the workflow-controller's namespace (Argo's choice): the controller may create
    ConfigMaps there and get/update only the cache; check-inputs may get/update only the cache; the artifact
    GC pods list and watch their tasks and patch their status, nothing else."""
    docs = render(WORKFLOWS, WORKFLOWS / "ci/default-values.yaml")
    cache = "mlops-odpipe-workflows-train-memo"
    rbac = _rbac(docs)
    assert rbac[("argo", f"{cache}-controller")] == {
        "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]},
            {**GET_UPDATE_CACHE, "resourceNames": [cache]},
        ],
        "subjects": [("argo", "argo")],
    }
    assert rbac[("argo", f"{cache}-check")] == {
        "rules": [{**GET_UPDATE_CACHE, "resourceNames": [cache]}],
        "subjects": [("mlops", "odpipe-workflows-workflow")],
    }
    assert rbac[("mlops", "odpipe-workflows-artifact-gc")] == {
        "rules": [
            {"apiGroups": ["argoproj.io"], "resources": ["workflowartifactgctasks"], "verbs": ["list", "watch"]},
            {"apiGroups": ["argoproj.io"], "resources": ["workflowartifactgctasks/status"], "verbs": ["patch"]},
        ],
        "subjects": [("mlops", "odpipe-workflows-artifact-gc")],
    }
    # the umbrella: argo-helm's controller in the release namespace, named after the release
    umbrella = _rbac(render(umbrella_offline(tmp_path)))
    assert umbrella[("mlops", f"{cache}-controller")]["subjects"] == [
        ("mlops", "odpipe-argo-workflows-workflow-controller")
    ]
    # turned off, nothing is granted
    off = render(
        WORKFLOWS, WORKFLOWS / "ci/default-values.yaml", sets=("memoize.enabled=false", "workflow.artifactGC.strategy=")
    )
    assert sorted(name for _, name in _rbac(off)) == ["odpipe-workflows-test-templates", "odpipe-workflows-workflow"]
    accounts = sorted(sa["metadata"]["name"] for sa in by_kind(off, "ServiceAccount"))
    assert accounts == ["odpipe-workflows-test-templates", "odpipe-workflows-workflow"]
    assert "artifactGC" not in by_kind(off, "WorkflowTemplate")[0]["spec"]
