"""Run the chart's own WorkflowTemplates on one machine, the way Argo would.

The subset of Argo implemented (anything else fails with a message naming the field):
- a DAG entrypoint whose tasks use `templateRef` (to the rendered WorkflowTemplates) or `template`,
  ordered by `depends` / `dependencies` (task names joined with `&&`);
- input parameters (`value` defaults, task `arguments`), `{{workflow.parameters.*}}`,
  `{{inputs.parameters.*}}`, `{{workflow.name}}`, `{{workflow.uid}}`, `{{pod.name}}`; output parameters
  `valueFrom.path` (steps) and `valueFrom.parameter` (the DAG);
- S3 artifacts: inline `s3` sources (key with parameters) and `from: {{tasks.X.outputs.artifacts.Y}}`;
  outputs stored as Argo's executor stores them, `<keyFormat>/<file>`: `archive: none` files as they
  are (key ends with the file's name), anything else as `<artifact name>.tgz`; `optional` inputs;
- `container` templates: command, args, env (`value`, `valueFrom.secretKeyRef`), volumeMounts of the
  workflow's `persistentVolumeClaim` (a local folder) and `emptyDir` volumes;
- `retryStrategy.limit`, and `retryStrategy.expression` in the form the chart uses
  (`lastRetry.exitCode` / `lastRetry.status` compared with `==`, `!=`, `in`, `not in`, `and`, `or`).

Inside a step, `ODPIPE_ROOT` points at the step's sandbox, so `/artifacts/...` and `/data` land there.
"""

from __future__ import annotations

import ast
import io
import os
import re
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odpipe.errors import InputError, OdpipeError

PARAM_RE = re.compile(r"{{\s*([^{}]+?)\s*}}")
_EXPR_OK = re.compile(r"^[\w\s.\"'\[\],=!()-]*$")


class UnsupportedArgo(OdpipeError):
    exit_code = 2


def fnv32a(text: str) -> int:
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def pod_name(workflow: str, template: str, node: str) -> str:
    """Argo's pod name: <workflow>-<template>-<fnv32a(node name)>."""
    return f"{workflow}-{template}-{fnv32a(node)}"


def substitute(text: str, values: dict[str, str], where: str) -> str:
    def repl(m: re.Match[str]) -> str:
        key = m.group(1)
        if key.startswith("="):
            raise UnsupportedArgo(f"{where}: expression {{{{{key}}}}} is outside the supported Argo subset")
        if key not in values:
            raise InputError(f"{where}: {{{{{key}}}}} has no value")
        return values[key]

    return PARAM_RE.sub(repl, text)


def retry_allowed(expression: str | None, exit_code: int, status: str) -> bool:
    """Evaluate the chart's retryStrategy.expression for one failed attempt."""
    if not expression:
        return True
    text = expression.replace("lastRetry.exitCode", repr(str(exit_code))).replace("lastRetry.status", repr(status))
    text = text.replace("&&", " and ").replace("||", " or ")
    if not _EXPR_OK.match(text):
        raise UnsupportedArgo(f"retryStrategy.expression {expression!r} is outside the supported subset")
    tree = ast.parse(text, mode="eval")
    allowed = (
        ast.Expression,
        ast.BoolOp,
        ast.And,
        ast.Or,
        ast.UnaryOp,
        ast.Not,
        ast.Compare,
        ast.Eq,
        ast.NotEq,
        ast.In,
        ast.NotIn,
        ast.Constant,
        ast.List,
        ast.Tuple,
        ast.Load,
    )
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            raise UnsupportedArgo(f"retryStrategy.expression {expression!r} is outside the supported subset")
    return bool(eval(compile(tree, "<retryStrategy>", "eval"), {"__builtins__": {}}, {}))


def _check_supported(template: dict[str, Any], where: str) -> None:
    unsupported = {
        "steps",
        "script",
        "resource",
        "suspend",
        "data",
        "http",
        "plugin",
        "containerSet",
        "initContainers",
        "sidecars",
        "memoize",
        "synchronization",
        "hooks",
    } & set(template)
    if unsupported:
        raise UnsupportedArgo(
            f"{where}: {sorted(unsupported)} outside the supported Argo subset (see odpipe.local.argo)"
        )


@dataclass
class StepResult:
    task: str
    pod: str
    status: str
    exit_code: int
    seconds: float
    attempts: int
    log: Path
    parameters: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)  # name -> s3 key in the artifacts bucket


@dataclass
class Environment:
    """What the cluster provides: S3 (one storage client, the artifacts bucket, the key format), the
    datasets volume, the Secret's values, and how to start `odpipe`."""

    storage: Any
    artifacts_bucket: str
    key_format: str
    data_dir: Path
    secrets: dict[tuple[str, str], str]
    executable: Callable[[str], str]
    extra_env: dict[str, str] = field(default_factory=dict)


class DagRunner:
    def __init__(
        self,
        templates: dict[str, dict[str, Any]],
        entry: str,
        env: Environment,
        run_dir: Path,
        workflow_name: str,
        workflow_uid: str,
        parameters: dict[str, str],
        on_event: Callable[[str, StepResult | None, str], None],
    ) -> None:
        self.templates = templates
        self.entry = templates[entry]
        self.env = env
        self.run_dir = run_dir
        self.workflow_name = workflow_name
        self.workflow_uid = workflow_uid
        self.on_event = on_event
        spec = self.entry["spec"]
        declared = {p["name"]: p.get("value") for p in spec.get("arguments", {}).get("parameters", [])}
        unknown = set(parameters) - set(declared)
        if unknown:
            raise InputError(f"unknown pipeline parameter(s) {sorted(unknown)}; known: {sorted(declared)}")
        self.wf_params = {**{k: v for k, v in declared.items() if v is not None}, **parameters}
        missing = [k for k in declared if k not in self.wf_params]
        if missing:
            raise InputError(f"pipeline parameter(s) {missing} required (no default)")
        self.volumes = {v["name"]: v for v in spec.get("volumes", [])}

    # -- DAG ------------------------------------------------------------------------------------
    def order(self) -> list[dict[str, Any]]:
        spec = self.entry["spec"]
        main = next((t for t in spec["templates"] if t["name"] == spec["entrypoint"]), None)
        if main is None or "dag" not in main:
            raise UnsupportedArgo(f"{self.entry['metadata']['name']}: the entrypoint must be a DAG template")
        tasks = {t["name"]: t for t in main["dag"]["tasks"]}
        deps: dict[str, set[str]] = {}
        for name, task in tasks.items():
            unsupported = {"when", "withItems", "withParam", "withSequence", "continueOn", "hooks"} & set(task)
            if unsupported:
                raise UnsupportedArgo(f"DAG task {name}: {sorted(unsupported)} outside the supported Argo subset")
            parts = set(task.get("dependencies", []))
            if task.get("depends"):
                for part in task["depends"].split("&&"):
                    part = part.strip()
                    if not re.fullmatch(r"[\w-]+", part):
                        raise UnsupportedArgo(f"DAG task {name}: depends {task['depends']!r} (only 'a && b')")
                    parts.add(part)
            deps[name] = parts
        ordered: list[dict[str, Any]] = []
        done: set[str] = set()
        while len(done) < len(tasks):
            ready = sorted(n for n in tasks if n not in done and deps[n] <= done)
            if not ready:
                raise InputError(f"DAG has a cycle or unknown dependency among {sorted(set(tasks) - done)}")
            for name in ready:
                ordered.append(tasks[name])
                done.add(name)
        self.dag_outputs = main.get("outputs", {})
        return ordered

    def resolve(self, task: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if "templateRef" in task:
            ref = task["templateRef"]
            if ref.get("clusterScope"):
                raise UnsupportedArgo(f"task {task['name']}: clusterScope templateRef is not supported")
            wft = self.templates.get(ref["name"])
            if wft is None:
                raise InputError(f"task {task['name']}: WorkflowTemplate {ref['name']!r} is not in the chart")
            owner = wft
            tname = ref["template"]
        else:
            owner, tname = self.entry, task["template"]
        tpl = next((t for t in owner["spec"]["templates"] if t["name"] == tname), None)
        if tpl is None:
            raise InputError(f"task {task['name']}: template {tname!r} not found in {owner['metadata']['name']}")
        _check_supported(tpl, f"template {tname}")
        if "container" not in tpl:
            raise UnsupportedArgo(f"template {tname}: only container templates run locally")
        return tname, tpl

    def run(self, previous: dict[str, StepResult] | None = None) -> dict[str, StepResult]:
        results: dict[str, StepResult] = dict(previous or {})
        for task in self.order():
            name = task["name"]
            if name in results and results[name].status == "Succeeded":
                self.on_event("skipped", results[name], name)
                continue
            results[name] = self.run_task(task, results)
            if results[name].status != "Succeeded":
                break
        return results

    def dag_parameters(self, results: dict[str, StepResult]) -> dict[str, str]:
        values = self._task_values(results)
        out = {}
        for p in self.dag_outputs.get("parameters", []):
            ref = p.get("valueFrom", {}).get("parameter")
            if ref:
                try:
                    out[p["name"]] = substitute(ref, values, f"output parameter {p['name']}")
                except InputError:
                    continue
        return out

    # -- one step -------------------------------------------------------------------------------
    def _task_values(self, results: dict[str, StepResult]) -> dict[str, str]:
        values = {f"workflow.parameters.{k}": v for k, v in self.wf_params.items()}
        values.update({"workflow.name": self.workflow_name, "workflow.uid": self.workflow_uid})
        for tname, res in results.items():
            for k, v in res.parameters.items():
                values[f"tasks.{tname}.outputs.parameters.{k}"] = v
            for k, key in res.artifacts.items():
                values[f"tasks.{tname}.outputs.artifacts.{k}"] = f"artifact:{key}"
        return values

    def run_task(self, task: dict[str, Any], results: dict[str, StepResult]) -> StepResult:
        name = task["name"]
        tname, tpl = self.resolve(task)
        values = self._task_values(results)
        args = task.get("arguments", {})
        given = {
            p["name"]: substitute(str(p.get("value", "")), values, f"task {name} parameter {p['name']}")
            for p in args.get("parameters", [])
        }
        inputs: dict[str, str] = {}
        for p in tpl.get("inputs", {}).get("parameters", []):
            if p["name"] in given:
                inputs[p["name"]] = given[p["name"]]
            elif "value" in p:
                inputs[p["name"]] = str(p["value"])
            else:
                raise InputError(f"task {name}: input parameter {p['name']!r} not supplied")
            if "enum" in p and inputs[p["name"]] not in [str(e) for e in p["enum"]]:
                raise InputError(f"task {name}: parameter {p['name']}={inputs[p['name']]!r} not in {p['enum']}")
        art_from = {a["name"]: a.get("from", "") for a in args.get("artifacts", [])}
        limit = int(tpl.get("retryStrategy", {}).get("limit", 0))
        expression = tpl.get("retryStrategy", {}).get("expression")
        attempt = 0
        started = time.monotonic()
        while True:
            node = f"{self.workflow_name}.{name}" + (f"({attempt})" if limit else "")
            pod = pod_name(self.workflow_name, tname, node)
            scope = {**values, **{f"inputs.parameters.{k}": v for k, v in inputs.items()}, "pod.name": pod}
            self.on_event("running", None, f"{name} ({pod})" + (f", retry {attempt}" if attempt else ""))
            result = self._attempt(name, pod, tpl, scope, art_from, values)
            result.attempts = attempt + 1
            result.seconds = time.monotonic() - started
            if (
                result.status == "Succeeded"
                or attempt >= limit
                or not retry_allowed(expression, result.exit_code, result.status)
            ):
                self.on_event("finished", result, name)
                return result
            attempt += 1
            self.on_event("retrying", result, name)

    def _sandbox(self, pod: str) -> Path:
        root = self.run_dir / "pods" / pod
        for sub in ("artifacts/inputs", "artifacts/outputs", "tmp"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return root

    def _local_path(self, root: Path, path: str) -> Path:
        return root / path.lstrip("/")

    def _attempt(
        self,
        task: str,
        pod: str,
        tpl: dict[str, Any],
        scope: dict[str, str],
        art_from: dict[str, str],
        values: dict[str, str],
    ) -> StepResult:
        root = self._sandbox(pod)
        log_path = self.run_dir / "logs" / f"{task}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        container = tpl["container"]
        for mount in container.get("volumeMounts", []):
            volume = self.volumes.get(mount["name"])
            if volume is None:
                raise InputError(f"{pod}: volumeMount {mount['name']!r} has no volume in the workflow")
            target = self._local_path(root, mount["mountPath"])
            if "persistentVolumeClaim" in volume:
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.is_symlink():
                    target.symlink_to(self.env.data_dir.resolve(), target_is_directory=True)
            elif "emptyDir" in volume:
                target.mkdir(parents=True, exist_ok=True)
            else:
                raise UnsupportedArgo(f"volume {mount['name']}: only persistentVolumeClaim and emptyDir run locally")
        self._fetch_inputs(pod, root, tpl, scope, art_from)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ODPIPE_"))}
        env.update(self.env.extra_env)
        for e in container.get("env", []):
            if "value" in e:
                env[e["name"]] = substitute(str(e["value"]), scope, f"{pod} env {e['name']}")
            elif "secretKeyRef" in e.get("valueFrom", {}):
                ref = e["valueFrom"]["secretKeyRef"]
                if (ref["name"], ref["key"]) not in self.env.secrets:
                    raise InputError(
                        f"{pod}: env {e['name']} refers to Secret {ref['name']}/{ref['key']}, unknown here"
                    )
                env[e["name"]] = self.env.secrets[(ref["name"], ref["key"])]
            else:
                raise UnsupportedArgo(f"{pod}: env {e['name']}: only value and secretKeyRef are supported")
        env["ODPIPE_ROOT"] = str(root)
        env["TMPDIR"] = str(root / "tmp")
        env.setdefault("ODPIPE_SCRATCH", str(root / "tmp" / "odpipe"))
        command = [substitute(str(a), scope, f"{pod} command") for a in container.get("command", [])]
        command += [substitute(str(a), scope, f"{pod} args") for a in container.get("args", [])]
        if not command:
            raise UnsupportedArgo(f"{pod}: container without command (the image's entrypoint is unknown here)")
        command[0] = self.env.executable(command[0])
        started = time.monotonic()
        with log_path.open("ab") as log:
            log.write(f"--- {pod} {time.strftime('%Y-%m-%dT%H:%M:%S')}\n".encode())
            log.flush()
            proc = subprocess.run(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=root,
                check=False,
                timeout=tpl.get("activeDeadlineSeconds"),
            )
        status = "Succeeded" if proc.returncode == 0 else "Failed"
        result = StepResult(task, pod, status, proc.returncode, time.monotonic() - started, 1, log_path)
        self.env.storage.upload_file(log_path, self.env.artifacts_bucket, f"{self._key_prefix(scope)}/main.log")
        if status == "Succeeded":
            try:
                self._collect_outputs(result, root, tpl, scope)
            except OdpipeError as exc:
                result.status, result.exit_code = "Failed", result.exit_code or 1
                with log_path.open("a") as log:
                    log.write(f"odpipe run: {exc}\n")
        return result

    def _key_prefix(self, scope: dict[str, str]) -> str:
        return substitute(self.env.key_format, scope, "artifact repository keyFormat")

    def _fetch_inputs(
        self, pod: str, root: Path, tpl: dict[str, Any], scope: dict[str, str], art_from: dict[str, str]
    ) -> None:
        for art in tpl.get("inputs", {}).get("artifacts", []):
            dest = self._local_path(root, art["path"])
            source = art_from.get(art["name"])
            if source:
                ref = substitute(source, {k: v for k, v in scope.items()}, f"{pod} artifact {art['name']}")
                if not ref.startswith("artifact:"):
                    raise InputError(f"{pod}: artifact {art['name']} from {source!r} is not a task output")
                bucket, key = self.env.artifacts_bucket, ref[len("artifact:") :]
            elif "s3" in art:
                bucket = art["s3"].get("bucket") or self.env.artifacts_bucket
                key = substitute(str(art["s3"]["key"]), scope, f"{pod} artifact {art['name']}")
            elif art.get("optional"):
                continue
            else:
                raise InputError(f"{pod}: input artifact {art['name']!r} has no source")
            if key.endswith(".tgz"):
                self._untar(self.env.storage.get_bytes(bucket, key), dest)
            else:
                self.env.storage.download_file(bucket, key, dest)

    def _collect_outputs(self, result: StepResult, root: Path, tpl: dict[str, Any], scope: dict[str, str]) -> None:
        prefix = self._key_prefix(scope)
        outputs = tpl.get("outputs", {})
        for p in outputs.get("parameters", []):
            path = p.get("valueFrom", {}).get("path")
            if not path:
                raise UnsupportedArgo(f"{result.pod}: output parameter {p['name']} without valueFrom.path")
            local = self._local_path(root, path)
            if not local.exists():
                raise InputError(f"{result.pod}: output parameter {p['name']}: {path} was not written")
            result.parameters[p["name"]] = local.read_text().strip()
        for art in outputs.get("artifacts", []):
            local = self._local_path(root, art["path"])
            if not local.exists():
                if art.get("optional"):
                    continue
                raise InputError(f"{result.pod}: output artifact {art['name']}: {art['path']} was not written")
            if "none" in art.get("archive", {}):
                if local.is_dir():
                    raise InputError(f"{result.pod}: artifact {art['name']} is a folder; archive none needs a file")
                key = f"{prefix}/{local.name}"
                self.env.storage.upload_file(local, self.env.artifacts_bucket, key)
            else:
                key = f"{prefix}/{art['name']}.tgz"
                tgz = root / "tmp" / f"{art['name']}.tgz"
                with tarfile.open(tgz, "w:gz") as tar:
                    tar.add(local, arcname=local.name)
                self.env.storage.upload_file(tgz, self.env.artifacts_bucket, key)
            result.artifacts[art["name"]] = key

    @staticmethod
    def _untar(data: bytes, dest: Path) -> None:
        """Unpack an Argo tgz artifact to `dest` (its single top entry becomes `dest`)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = tar.getmembers()
            tops = {m.name.split("/")[0] for m in members}
            if len(tops) != 1:
                raise InputError(f"artifact archive for {dest} has {len(tops)} top entries, expected 1")
            top = tops.pop()
            for m in members:
                m.name = dest.name + m.name[len(top) :]
            tar.extractall(dest.parent, members=members, filter="data")


def new_workflow_name(base: str) -> str:
    return f"{base}-{uuid.uuid4().hex[:5]}"
