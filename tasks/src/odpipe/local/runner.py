"""Walk the pipeline's DAG and run each step through an executor, the way Argo's controller would.

The Argo subset (anything else fails with a message naming the field): a DAG entrypoint whose tasks use
`templateRef` (to the rendered WorkflowTemplates) or `template`, ordered by `depends`/`dependencies`;
input parameters (`value`, task `arguments`, `enum`), `{{workflow.parameters.*}}`, `{{inputs.parameters.*}}`,
`{{workflow.name}}`, `{{workflow.uid}}`, `{{pod.name}}`; output parameters `valueFrom.path` and the DAG's
`valueFrom.parameter`; S3 artifacts (inline `s3` keys, `from: {{tasks.X.outputs.artifacts.Y}}`,
`archive: none` or tgz, `optional`); container templates (see podspec); `retryStrategy` `limit`,
`expression` and `backoff`; `activeDeadlineSeconds`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from odpipe.common.errors import InputError, OdpipeError
from odpipe.local.dag import dag_order, entry_dag
from odpipe.local.errors import UnsupportedArgo
from odpipe.local.executors.base import STATUS_FAILED, STATUS_SUCCEEDED, TaskExecutor
from odpipe.local.placeholders import node_name, pod_name, substitute
from odpipe.local.podspec import PodContext, container_run
from odpipe.local.retry import backoff_seconds, max_duration_refusal, retry_allowed
from odpipe.local.staging import ARTIFACT_REF, ArtifactStore, collect_outputs, fetch_inputs

_UNSUPPORTED_TEMPLATE_FIELDS = frozenset(
    {"steps", "script", "resource", "suspend", "data", "http", "plugin", "containerSet", "initContainers",
     "sidecars", "memoize", "synchronization", "hooks", "podSpecPatch"}
)  # fmt: skip


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
    reason: str = ""  # as Argo shows it: OOMKilled, DeadlineExceeded, Error, Completed
    message: str = ""


@dataclass(frozen=True)
class Workflow:
    """One submitted workflow: its name, uid and parameters."""

    name: str
    uid: str
    parameters: dict[str, str]


EventSink = Callable[[str, StepResult | None, str], None]


class DagRunner:
    def __init__(
        self,
        templates: dict[str, dict[str, Any]],
        entry: str,
        workflow: Workflow,
        store: ArtifactStore,
        key_format: str,
        pod_context: PodContext,
        executor: TaskExecutor,
        run_dir: Path,
        on_event: EventSink,
        sleep: Callable[[float], None] = time.sleep,
        checkpoint: Callable[[dict[str, StepResult]], None] | None = None,
    ) -> None:
        self.templates = templates
        self.entry = templates[entry]
        self.store = store
        self.key_format = key_format
        self.executor = executor
        self.run_dir = run_dir
        self.on_event = on_event
        self.sleep = sleep
        self.checkpoint = checkpoint or (lambda _results: None)
        self.workflow = workflow
        self.wf_params = _workflow_parameters(self.entry, workflow.parameters)
        self.pod_context = pod_context
        self.main = entry_dag(self.entry)

    def order(self) -> list[dict[str, Any]]:
        return dag_order(self.main["dag"]["tasks"])

    def run(self, previous: dict[str, StepResult] | None = None) -> dict[str, StepResult]:
        results: dict[str, StepResult] = dict(previous or {})
        self.checkpoint(results)  # a killed runner can be resumed from what is recorded
        for task in self.order():
            name = task["name"]
            if name in results and results[name].status == STATUS_SUCCEEDED:
                self.on_event("skipped", results[name], name)
                continue
            results[name] = self.run_task(task, results)
            self.checkpoint(results)
            if results[name].status != STATUS_SUCCEEDED:
                break
        return results

    def dag_parameters(self, results: dict[str, StepResult]) -> dict[str, str]:
        values = self._values(results)
        out = {}
        for p in self.main.get("outputs", {}).get("parameters", []):
            ref = p.get("valueFrom", {}).get("parameter")
            if ref:
                try:
                    out[p["name"]] = substitute(ref, values, f"output parameter {p['name']}")
                except InputError:
                    continue
        return out

    def resolve(self, task: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        if "templateRef" in task:
            ref = task["templateRef"]
            if ref.get("clusterScope"):
                raise UnsupportedArgo(f"task {task['name']}: clusterScope templateRef is not supported")
            owner = self.templates.get(ref["name"])
            if owner is None:
                raise InputError(f"task {task['name']}: WorkflowTemplate {ref['name']!r} is not in the chart")
            tname = ref["template"]
        else:
            owner, tname = self.entry, task["template"]
        tpl = next((t for t in owner["spec"]["templates"] if t["name"] == tname), None)
        if tpl is None:
            raise InputError(f"task {task['name']}: template {tname!r} not found in {owner['metadata']['name']}")
        unsupported = _UNSUPPORTED_TEMPLATE_FIELDS & set(tpl)
        if unsupported:
            raise UnsupportedArgo(f"template {tname}: {sorted(unsupported)} outside the supported Argo subset")
        if "container" not in tpl:
            raise UnsupportedArgo(f"template {tname}: only container templates run locally")
        return tname, tpl

    def _values(self, results: dict[str, StepResult]) -> dict[str, str]:
        values = {f"workflow.parameters.{k}": v for k, v in self.wf_params.items()}
        values.update({"workflow.name": self.workflow.name, "workflow.uid": self.workflow.uid})
        for tname, res in results.items():
            for k, v in res.parameters.items():
                values[f"tasks.{tname}.outputs.parameters.{k}"] = v
            for k, key in res.artifacts.items():
                values[f"tasks.{tname}.outputs.artifacts.{k}"] = f"{ARTIFACT_REF}{key}"
        return values

    def run_task(self, task: dict[str, Any], results: dict[str, StepResult]) -> StepResult:
        name = task["name"]
        tname, tpl = self.resolve(task)
        values = self._values(results)
        inputs = _input_parameters(name, task, tpl, values)
        sources = {a["name"]: a.get("from", "") for a in task.get("arguments", {}).get("artifacts", [])}
        strategy = tpl.get("retryStrategy") or {}
        limit = int(strategy.get("limit", 0))
        attempt, started = 0, time.monotonic()
        while True:
            node = node_name(self.workflow.name, name, attempt if limit else None)
            pod = pod_name(self.workflow.name, tname, node)
            scope = {**values, **{f"inputs.parameters.{k}": v for k, v in inputs.items()}, "pod.name": pod}
            self.on_event("running", None, f"{name} ({pod})" + (f", retry {attempt}" if attempt else ""))
            result = self._attempt(name, pod, tpl, scope, sources)
            result.attempts, result.seconds = attempt + 1, time.monotonic() - started
            wait = backoff_seconds(strategy, attempt + 1)
            refused = max_duration_refusal(strategy, started, time.monotonic(), wait)
            if (
                result.status == STATUS_SUCCEEDED
                or attempt >= limit
                or not retry_allowed(strategy.get("expression"), result.exit_code, result.status)
                or refused
            ):
                if refused and result.status != STATUS_SUCCEEDED and attempt < limit:
                    result.message = f"{result.message}; {refused}" if result.message else refused
                self.on_event("finished", result, name)
                return result
            attempt += 1
            self.on_event("retrying", result, name)
            self.sleep(wait)

    def _attempt(
        self, task: str, pod: str, tpl: dict[str, Any], scope: dict[str, str], sources: dict[str, str]
    ) -> StepResult:
        sandbox = self.run_dir / "pods" / pod
        sandbox.mkdir(parents=True, exist_ok=True)
        log_path = self.run_dir / "logs" / f"{task}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        spec = container_run(tpl, scope, self.pod_context, pod, sandbox, log_path)
        self.executor.check(spec)
        fetch_inputs(self.store, pod, sandbox, tpl, scope, sources)
        with log_path.open("a") as log:
            log.write(f"--- {pod} {time.strftime('%Y-%m-%dT%H:%M:%S')} ({self.executor.name})\n")
        started = time.monotonic()
        outcome = self.executor.run(spec)
        result = StepResult(
            task, pod, outcome.status, outcome.exit_code, time.monotonic() - started, 1, log_path,
            reason=outcome.reason, message=outcome.message,
        )  # fmt: skip
        prefix = substitute(self.key_format, scope, "artifact repository keyFormat")
        self.store.storage.upload_file(log_path, self.store.bucket, f"{prefix}/main.log")
        if result.status == STATUS_SUCCEEDED:
            try:
                result.parameters, result.artifacts = collect_outputs(self.store, pod, sandbox, tpl, prefix)
            except OdpipeError as exc:
                result.status, result.exit_code, result.reason = STATUS_FAILED, result.exit_code or 1, "Error"
                result.message = str(exc)
                with log_path.open("a") as log:
                    log.write(f"odpipe run: {exc}\n")
        return result


def _workflow_parameters(entry: dict[str, Any], given: dict[str, str]) -> dict[str, str]:
    declared = {p["name"]: p.get("value") for p in entry["spec"].get("arguments", {}).get("parameters", [])}
    unknown = set(given) - set(declared)
    if unknown:
        raise InputError(f"unknown pipeline parameter(s) {sorted(unknown)}; known: {sorted(declared)}")
    params = {**{k: str(v) for k, v in declared.items() if v is not None}, **given}
    missing = [k for k in declared if k not in params]
    if missing:
        raise InputError(f"pipeline parameter(s) {missing} required (no default)")
    return params


def _input_parameters(name: str, task: dict[str, Any], tpl: dict[str, Any], values: dict[str, str]) -> dict[str, str]:
    given = {
        p["name"]: substitute(str(p.get("value", "")), values, f"task {name} parameter {p['name']}")
        for p in task.get("arguments", {}).get("parameters", [])
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
    return inputs
