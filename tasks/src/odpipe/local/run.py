"""`odpipe run`: the chart's pipeline on this machine, with an embedded (or given) S3 server.

State lives under a state folder (default `.odpipe/`): `s3/` (the embedded server's objects and its
generated credentials), `data/` (the datasets volume, shared by runs so prepared datasets are reused),
`runs/<workflow>/` (state.json, step logs, step sandboxes).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from odpipe.common.console import console
from odpipe.common.errors import InputError
from odpipe.common.jsonfile import write_json
from odpipe.common.storage import S3Uri, Storage, is_s3_uri, s3_client, sha256_file
from odpipe.formats.contract import (
    DEFAULT_DATASETS_BUCKET,
    DEFAULT_MODELS_BUCKET,
    ENV_DATASETS_BUCKET,
    ENV_MODELS_BUCKET,
    MODEL,
    MODEL_CARD,
    MODEL_REPORT,
    PARAM_DATASET_ID,
    PARAM_MAP,
    PARAM_MODEL_VERSION,
)
from odpipe.local.chart import artifact_repository, find_chart, render_chart, task_env, workflow_templates
from odpipe.local.errors import ChartError
from odpipe.local.executors import make_executor
from odpipe.local.executors.base import STATUS_SUCCEEDED, BindMount
from odpipe.local.placeholders import new_workflow_name
from odpipe.local.podspec import PodContext
from odpipe.local.runner import DagRunner, StepResult, Workflow
from odpipe.local.s3server import Credentials, S3Server
from odpipe.local.staging import ArtifactStore

PIPELINE = "odpipe-pipeline"
PIPELINE_TASK_TEMPLATE = "odpipe-prepare"  # its env names the buckets
LOCAL_IMAGES = "local-images"  # on the datasets volume: links to local images folders


@dataclass
class RunOptions:
    annotations: str
    images: str
    parameters: dict[str, str] = field(default_factory=dict)
    state_dir: Path = Path(".odpipe")
    s3_endpoint: str | None = None
    chart: Path | None = None
    resume: str | None = None
    log_lines: int = 25
    engine: str = "process"
    chart_values: list[str] = field(default_factory=list)  # helm --set items


@dataclass
class RunSummary:
    workflow: str
    status: str
    results: dict[str, StepResult]
    outputs: dict[str, str]
    endpoint: str
    buckets: dict[str, str]
    state_dir: Path
    seconds: float

    def model_uri(self) -> str | None:
        version = self.outputs.get(PARAM_MODEL_VERSION)
        name = self.outputs.get("model-name")
        return f"s3://{self.buckets['models']}/{name}/{version}/{MODEL}" if version and name else None


def _credentials(state: Path) -> Credentials:
    path = state / "credentials.json"
    if path.exists():
        doc = json.loads(path.read_text())
        return Credentials(doc["access_key"], doc["secret_key"])
    creds = Credentials.generate()
    state.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"access_key": creds.access_key, "secret_key": creds.secret_key}, fh)
    return creds


class Pipeline:
    def __init__(self, opts: RunOptions) -> None:
        self.opts = opts
        self.state = opts.state_dir.resolve()
        self.data_dir = self.state / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def run(self) -> RunSummary:
        if self.opts.s3_endpoint:
            url = urlparse(self.opts.s3_endpoint)
            if url.scheme not in ("http", "https") or not url.netloc:
                raise InputError(f"--s3-endpoint {self.opts.s3_endpoint!r}: expected http(s)://host:port")
            for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
                if not os.environ.get(var):
                    raise InputError(f"--s3-endpoint needs {var} in the environment")
            creds = Credentials(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
            return self._run_with(url.netloc, url.scheme == "http", self.opts.s3_endpoint, creds)
        creds = _credentials(self.state / "s3")
        started = time.monotonic()
        with S3Server(self.state / "s3", creds) as server:
            console.print(
                f"embedded S3 (SeaweedFS) at {server.endpoint_url}, ready in "
                f"{time.monotonic() - started:.1f}s; credentials in {self.state / 's3' / 'credentials.json'}",
                markup=False,
            )
            return self._run_with(server.endpoint_url.split("://")[1], True, server.endpoint_url, creds)

    def _run_with(self, endpoint: str, insecure: bool, url: str, creds: Credentials) -> RunSummary:
        started = time.monotonic()
        executor = make_executor(self.opts.engine)
        chart = find_chart(self.opts.chart)
        docs = render_chart(chart, endpoint, insecure, self.opts.chart_values)
        templates = workflow_templates(docs)
        if PIPELINE not in templates:
            raise ChartError(f"{chart}: renders no WorkflowTemplate {PIPELINE}")
        repo = artifact_repository(docs)
        env_vars = task_env(templates[PIPELINE_TASK_TEMPLATE])
        buckets = {
            "artifacts": repo.bucket,
            "datasets": env_vars.get(ENV_DATASETS_BUCKET, DEFAULT_DATASETS_BUCKET),
            "models": env_vars.get(ENV_MODELS_BUCKET, DEFAULT_MODELS_BUCKET),
        }
        storage = Storage(url, client=_client(url, creds))
        for b in buckets.values():
            storage.require_bucket(b) if self.opts.s3_endpoint else storage.ensure_bucket(b)

        run_dir, workflow, previous = self._prepare_run(storage, buckets)
        pod_context = PodContext(
            volumes={v["name"]: v for v in templates[PIPELINE]["spec"].get("volumes", [])},
            data_dir=self.data_dir,
            secrets={repo.access_key: creds.access_key, repo.secret_key: creds.secret_key},
            extra_mounts=self._image_mounts() if executor.name == "docker" else (),
        )
        runner = DagRunner(
            templates, PIPELINE, workflow, ArtifactStore(storage, repo.bucket), repo.key_format, pod_context,
            executor, run_dir, self._event, checkpoint=lambda results: self._save(run_dir, workflow, results),
        )  # fmt: skip
        console.print(
            f"workflow {workflow.name} (uid {workflow.uid}); steps run as in the chart's {PIPELINE}, "
            f"engine {executor.name}",
            markup=False,
        )
        results = runner.run(previous)
        complete = len(results) == len(runner.order())
        ok = results and complete and all(r.status == STATUS_SUCCEEDED for r in results.values())
        outputs = runner.dag_parameters(results)
        outputs["model-name"] = workflow.parameters.get("model-name", "")
        return RunSummary(
            workflow.name, "Succeeded" if ok else "Failed", results, outputs, url, buckets, self.state,
            time.monotonic() - started,
        )  # fmt: skip

    def _image_mounts(self) -> tuple[BindMount, ...]:
        """Local images folders linked from the datasets volume, visible at the same path in containers."""
        links = self.data_dir / LOCAL_IMAGES
        if not links.is_dir():
            return ()
        targets = {p.resolve() for p in links.iterdir() if p.is_symlink() and p.resolve().is_dir()}
        return tuple(BindMount(t, str(t), read_only=True) for t in sorted(targets))

    def _prepare_run(self, storage: Storage, buckets: dict[str, str]) -> tuple[Path, Workflow, dict[str, StepResult]]:
        runs = self.state / "runs"
        if self.opts.resume:
            run_dir = runs / self.opts.resume
            state_file = run_dir / "state.json"
            if not state_file.exists():
                known = sorted(p.name for p in runs.iterdir()) if runs.exists() else []
                raise InputError(f"--resume {self.opts.resume}: no such run under {runs} (runs: {known[-5:]})")
            state = json.loads(state_file.read_text())
            previous = {k: StepResult(**{**v, "log": Path(v["log"])}) for k, v in state["results"].items()}
            failed = [k for k, v in previous.items() if v.status != "Succeeded"]
            console.print(
                f"resuming {state['workflow']}: keeping {sorted(set(previous) - set(failed))}, "
                f"rerunning from {failed or 'the next step'}",
                markup=False,
            )
            previous = {k: v for k, v in previous.items() if v.status == "Succeeded"}
            params = {**state["parameters"], **self.opts.parameters}  # a resume may fix a parameter
            return run_dir, Workflow(state["workflow"], state["uid"], params), previous
        params = dict(self.opts.parameters)
        params["annotations-key"] = self._stage_annotations(storage, buckets["datasets"])
        if is_s3_uri(self.opts.images):
            images = S3Uri.parse(self.opts.images)
            bucket, prefix = images.bucket, images.key
            if bucket != buckets["datasets"]:
                raise InputError(f"--images {self.opts.images}: must be in the datasets bucket {buckets['datasets']!r}")
            params["images-prefix"] = prefix
        else:
            params["images-path"] = self._stage_images(Path(self.opts.images))
        name = new_workflow_name(PIPELINE)
        run_dir = runs / name
        run_dir.mkdir(parents=True, exist_ok=True)
        return run_dir, Workflow(name, str(uuid.uuid4()), params), {}

    def _stage_annotations(self, storage: Storage, bucket: str) -> str:
        if is_s3_uri(self.opts.annotations):
            uri = S3Uri.parse(self.opts.annotations)
            b, key = uri.bucket, uri.key
            if b != bucket:
                raise InputError(f"--annotations {self.opts.annotations}: must be in the datasets bucket {bucket!r}")
            return key
        path = Path(self.opts.annotations)
        if not path.is_file():
            raise InputError(f"--annotations {path}: file not found")
        digest = sha256_file(path)
        key = f"local-uploads/{digest[:16]}/{path.name}"
        if not storage.exists(bucket, key):
            storage.upload_file(path, bucket, key, sha256=digest)
        return key

    def _stage_images(self, images: Path) -> str:
        """Local images go on the datasets volume (as a link), as images already on a cluster's PVC."""
        if not images.is_dir():
            raise InputError(f"--images {images}: not a directory")
        target = images.resolve()
        rel = f"{LOCAL_IMAGES}/{hashlib.sha256(str(target).encode()).hexdigest()[:12]}"
        link = self.data_dir / rel
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() and link.resolve() != target:
            link.unlink()
        if not link.is_symlink():
            link.symlink_to(target, target_is_directory=True)
        return rel

    def _save(self, run_dir: Path, workflow: Workflow, results: dict[str, StepResult]) -> None:
        write_json(
            run_dir / "state.json",
            {
                "workflow": workflow.name,
                "uid": workflow.uid,
                "parameters": workflow.parameters,
                "results": {k: {**asdict(v), "log": str(v.log)} for k, v in results.items()},
            },
        )

    def _event(self, kind: str, result: StepResult | None, text: str) -> None:
        if kind == "running":
            console.print(f"▶ {text}", markup=False)
        elif kind == "skipped" and result:
            console.print(f"✓ {text}: kept from the earlier run ({result.pod})", markup=False)
        elif kind == "retrying" and result:
            why = (
                f"{result.reason} (exit code {result.exit_code})"
                if result.reason == "OOMKilled"
                else f"exit {result.exit_code}"
            )
            console.print(f"↻ {text}: {why}, retrying (retryStrategy)", markup=False)
        elif kind == "finished" and result:
            mark = "✓" if result.status == "Succeeded" else "✗"
            console.print(
                f"{mark} {text}: {result.status} in {result.seconds:.1f}s"
                + (f" ({result.message or f'exit {result.exit_code}'})" if result.exit_code else ""),
                markup=False,
            )


def run(options: RunOptions) -> RunSummary:
    """`odpipe run`: the chart's odpipe-pipeline walked on this machine, as every step's run(options)."""
    return Pipeline(options).run()


def _client(url: str, creds: Credentials) -> Any:
    return s3_client(url, access_key=creds.access_key, secret_key=creds.secret_key)


def print_failure(summary: RunSummary, lines: int) -> None:
    failed = next((r for r in summary.results.values() if r.status != "Succeeded"), None)
    if failed is None:
        return
    console.print(
        f"\nstep {failed.task} failed (exit {failed.exit_code}); last {lines} lines of {failed.log}:", markup=False
    )
    tail = failed.log.read_text(errors="replace").splitlines()[-lines:]
    for line in tail:
        console.print(f"  {line}", markup=False)
    kept = [
        (r.task, k, key) for r in summary.results.values() if r.status == "Succeeded" for k, key in r.artifacts.items()
    ]
    if kept:
        console.print("artifacts kept so far:", markup=False)
        for task, name, key in kept:
            console.print(f"  {task}.{name}: s3://{summary.buckets['artifacts']}/{key}", markup=False)
    console.print(
        f"resume from the failed step: odpipe run --resume {summary.workflow} --state-dir {summary.state_dir}",
        markup=False,
    )


def print_summary(summary: RunSummary, *, reports: bool = True) -> None:
    from rich.table import Table

    table = Table(title=f"{summary.workflow}: {summary.status} in {summary.seconds:.1f}s")
    table.add_column("step")
    table.add_column("status")
    table.add_column("time", justify="right")
    table.add_column("attempts", justify="right")
    table.add_column("pod")
    for r in summary.results.values():
        table.add_row(r.task, r.status, f"{r.seconds:.1f}s", str(r.attempts), r.pod)
    console.print(table)
    out = summary.outputs
    rows = [
        ("dataset id", out.get(PARAM_DATASET_ID)),
        ("mAP50-95 (COCO, val)", out.get(PARAM_MAP)),
        ("model version", out.get(PARAM_MODEL_VERSION)),
        ("model", summary.model_uri()),
    ]
    if summary.model_uri():
        rows.append(("model card", summary.model_uri().replace(MODEL, MODEL_CARD)))  # type: ignore[union-attr]
        rows.append(("model report", summary.model_uri().replace(MODEL, MODEL_REPORT)))  # type: ignore[union-attr]
    train = summary.results.get("train")
    if train and "metrics" in train.artifacts:
        rows.append(("metrics", f"s3://{summary.buckets['artifacts']}/{train.artifacts['metrics']}"))
    export = summary.results.get("export-deploy")
    if export and export.status == "Succeeded":
        rows.append(
            (
                "local copy",
                str(summary.state_dir / "runs" / summary.workflow / "pods" / export.pod / "artifacts" / "outputs"),
            )
        )
    rows.append(("S3 endpoint", summary.endpoint))
    rows.append(("state", str(summary.state_dir)))
    for k, v in rows:
        if v:
            console.print(f"{k:>22}: {v}", markup=False)
    if reports:
        print_reports(summary.state_dir / "runs" / summary.workflow)


def run_reports(run_dir: Path) -> dict[str, Path]:
    """The HTML reports the run's steps wrote (artifact name -> local file), in pipeline order."""
    from odpipe.formats import contract

    out: dict[str, Path] = {}
    for task in contract.TASKS:
        for art in contract.reports(task):
            found = sorted(run_dir.glob(f"pods/*{task}*/artifacts/outputs/{art.file}"), key=lambda p: p.stat().st_mtime)
            if found:
                out[art.name] = found[-1].resolve()
    return out


def latest_run(state_dir: Path) -> Path | None:
    runs = [p.parent for p in (state_dir / "runs").glob("*/state.json")]
    return max(runs, key=lambda p: (p / "state.json").stat().st_mtime) if runs else None


def print_reports(run_dir: Path) -> None:
    """The reports' local paths (open them in a browser; the same files are in the artifacts bucket)."""
    reports = run_reports(run_dir)
    if reports:
        console.print("reports (open in a browser):", markup=False)
    for name, path in reports.items():
        console.print(f"{name:>22}: {path}", markup=False)
