"""The chart's WorkflowTemplates resolved into container runs (odpipe.local.podspec), and what the docker
engine makes of them (odpipe.local.executors.docker.create_args / check_supported): no engine needed."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from odpipe.common.errors import InputError
from odpipe.formats.contract import DATA_SUBDIR, DATASET_MANIFEST, INPUTS_SUBDIR, OUTPUTS_SUBDIR
from odpipe.local.chart import artifact_repository, task_env, workflow_templates
from odpipe.local.errors import ChartError, UnsupportedArgo
from odpipe.local.executors.docker import check_supported, create_args
from odpipe.local.podspec import PodContext, container_run, quantity

from charts import WORKFLOWS, render

SECRET = ("odpipe-workflows-s3", "rootUser"), ("odpipe-workflows-s3", "rootPassword")


def _docs(*sets: str) -> list[dict[str, Any]]:
    return render(WORKFLOWS, sets=("s3.endpoint=127.0.0.1:9000", "tests.enabled=false", *sets))


def _run(task: str, tmp_path: Path, *sets: str):
    docs = _docs(*sets)
    templates = workflow_templates(docs)
    pipeline = templates["odpipe-pipeline"]
    ctx = PodContext(
        volumes={v["name"]: v for v in pipeline["spec"]["volumes"]},
        data_dir=tmp_path / DATA_SUBDIR,
        secrets={SECRET[0]: "user", SECRET[1]: "secret-value"},
    )
    tpl = templates[f"odpipe-{task}"]["spec"]["templates"][0]
    scope = {"workflow.name": "wf", "workflow.uid": "uid-1", "pod.name": "wf-pod"}
    scope |= {f"inputs.parameters.{p['name']}": str(p.get("value", "x")) for p in tpl["inputs"].get("parameters", [])}
    return container_run(tpl, scope, ctx, "wf-pod", tmp_path / "pod", tmp_path / "log")


def test_train_pod_as_a_kubelet_sees_it(tmp_path: Path) -> None:
    run = _run("train", tmp_path)
    assert run.image.endswith("/train:0.1.0") and run.command == ["odpipe"] and run.args[0] == "train"
    assert run.env["AWS_SECRET_ACCESS_KEY"] == "secret-value" and run.env["ODPIPE_RUN_ID"] == "uid-1"
    sec = run.security
    assert (sec.run_as_user, sec.run_as_group, sec.fs_group) == (10001, 10001, 10001)
    assert sec.run_as_non_root and sec.read_only_root and not sec.allow_privilege_escalation
    assert sec.drop_capabilities == ("ALL",) and sec.seccomp == "RuntimeDefault"
    assert run.resources.memory_limit == 16 * 2**30 and run.resources.cpu_request == 2
    memory = {m.target: m.size_bytes for m in run.memory_mounts}
    assert memory == {"/tmp": 4 * 2**30, "/dev/shm": 2 * 2**30}
    binds = {b.target: b for b in run.bind_mounts}
    assert binds["/data"].source == tmp_path / DATA_SUBDIR and not binds["/data"].read_only
    assert binds[f"/{OUTPUTS_SUBDIR}"].source == tmp_path / "pod" / OUTPUTS_SUBDIR
    assert binds[f"/{INPUTS_SUBDIR}/{DATASET_MANIFEST}"].read_only


def test_docker_arguments_reproduce_the_pod_security_and_limits(tmp_path: Path) -> None:
    run = _run("train", tmp_path)
    (tmp_path / DATA_SUBDIR).mkdir()
    args = create_args(run, owner_pid=42)
    assert args["user"] == "10001:10001" and args["group_add"] == ["10001"]
    assert args["read_only"] is True and args["cap_drop"] == ["ALL"]
    assert args["security_opt"] == ["no-new-privileges:true"]  # RuntimeDefault = the engine's default profile
    assert args["mem_limit"] == args["memswap_limit"] == 16 * 2**30
    assert args["tmpfs"] == {"/tmp": f"rw,nosuid,nodev,mode=1777,size={4 * 2**30}"}
    assert args["shm_size"] == 2 * 2**30
    assert args["network_mode"] == "host" and args["entrypoint"] == ["odpipe"]
    assert args["environment"]["AWS_ACCESS_KEY_ID"] == "user"
    assert "/data" in {m["Target"] for m in args["mounts"]}
    check_supported(run)


def test_what_the_docker_engine_cannot_honour_is_named(tmp_path: Path) -> None:
    gpu = _run("train", tmp_path, "tasks.train.gpu.enabled=true")
    with pytest.raises(UnsupportedArgo, match=r"resources \['nvidia.com/gpu'\] cannot be honoured"):
        check_supported(gpu)
    placed = dataclasses.replace(_run("prepare", tmp_path), scheduling=("nodeSelector",))
    with pytest.raises(UnsupportedArgo, match=r"\['nodeSelector'\] cannot be honoured"):
        check_supported(placed)
    root = dataclasses.replace(gpu, extended_resources={}, scheduling=())
    root = dataclasses.replace(root, security=dataclasses.replace(root.security, run_as_user=0))
    with pytest.raises(InputError, match="runAsNonRoot is set but runAsUser is 0"):
        check_supported(root)


def test_unknown_template_fields_are_refused_by_name(tmp_path: Path) -> None:
    docs = _docs()
    tpl = workflow_templates(docs)["odpipe-prepare"]["spec"]["templates"][0]
    ctx = PodContext(volumes={}, data_dir=tmp_path, secrets={})
    bad = {**tpl, "container": {**tpl["container"], "lifecycle": {}}}
    with pytest.raises(UnsupportedArgo, match=r"container \['lifecycle'\] not implemented"):
        container_run(bad, {}, ctx, "p", tmp_path, tmp_path / "log")
    bad = {**tpl, "securityContext": {**tpl["securityContext"], "sysctls": []}}
    with pytest.raises(UnsupportedArgo, match=r"securityContext \['sysctls'\] not implemented"):
        container_run(bad, {}, ctx, "p", tmp_path, tmp_path / "log")


def test_quantities() -> None:
    assert quantity("16Gi", "x") == 16 * 2**30
    assert quantity("500m", "x") == 0.5
    assert quantity("2", "x") == 2
    assert quantity("1G", "x") == 10**9
    with pytest.raises(InputError, match="x: '1 GB' is not a Kubernetes quantity"):
        quantity("1 GB", "x")


def test_artifact_repository_and_bucket_env_come_from_the_render() -> None:
    docs = _docs()
    repo = artifact_repository(docs)
    assert repo.bucket == "argo-artifacts" and repo.key_format == "{{workflow.name}}/{{pod.name}}"
    assert repo.access_key == SECRET[0] and repo.secret_key == SECRET[1]
    assert task_env(workflow_templates(docs)["odpipe-prepare"])["ODPIPE_MODELS_BUCKET"] == "models"
    without = [d for d in docs if d["kind"] != "ConfigMap"]
    with pytest.raises(ChartError, match=r"no ConfigMap annotated workflows\.argoproj\.io/default-artifact-repository"):
        artifact_repository(without)
