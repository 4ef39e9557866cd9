"""The artifact contract: the ONE place that says where task inputs, outputs and data live.

Inside every task container Argo places input artifacts under ``/artifacts/inputs``, collects output
artifacts from ``/artifacts/outputs`` and mounts the datasets volume at ``/data``. ``ODPIPE_ROOT``
(default ``/``) relocates all three for tests and local runs. The Helm chart's WorkflowTemplates and
``odpipe run`` are checked against this module by tests, not kept in step by copy.

The formats of the artifacts odpipe defines itself each have one owner beside this module:
`odpipe.formats.dataset_manifest` (dataset.json, data.yaml, the dataset folder), `odpipe.formats.model_card`
(model-card.json) and `odpipe.coco.results` (the COCO detections both evaluations score).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT_ENV = "ODPIPE_ROOT"
INPUTS_SUBDIR = "artifacts/inputs"
OUTPUTS_SUBDIR = "artifacts/outputs"
DATA_SUBDIR = "data"
# Output parameters are small text files in their own folder under the outputs dir, read by Argo
# through `valueFrom.path`.
PARAMS_SUBDIR = "params"

# Artifact file names.
ANNOTATIONS = "annotations.json"
DATASET_MANIFEST = "dataset.json"
REPORT = "report.json"
BASE_WEIGHTS = "base.pt"
BEST_WEIGHTS = "best.pt"
METRICS = "metrics.json"
RUN_DIR = "run"
MODEL = "model.onnx"
MODEL_CARD = "model-card.json"
# HTML reports (self-contained pages Argo's UI shows; optional outputs: a report never fails its step).
DATASET_REPORT = "dataset-report.html"
EVALUATION_REPORT = "evaluation-report.html"
MODEL_REPORT = "model-report.html"  # also stored beside the model: <name>/<version>/model-report.html


def report_files(report: str) -> str:
    """The folder beside a report that holds its raster pictures (Argo's artifact policy blocks data:
    images): dataset-report.html -> dataset-report-files."""
    return report.removesuffix(".html") + "-files"


# Output parameter names.
PARAM_DATASET_ID = "dataset-id"
PARAM_MAP = "map50-95"
PARAM_MODEL_VERSION = "model-version"

# Folders on the data volume.
DATA_RAW = "raw"
DATA_DATASETS = "datasets"
DATA_RUNS = "runs"

# Environment variables odpipe reads besides boto3's own (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
# AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION).
ENV_DATASETS_BUCKET = "ODPIPE_DATASETS_BUCKET"
ENV_MODELS_BUCKET = "ODPIPE_MODELS_BUCKET"
ENV_ARTIFACTS_BUCKET = "ODPIPE_ARTIFACTS_BUCKET"
DEFAULT_DATASETS_BUCKET = "datasets"
DEFAULT_MODELS_BUCKET = "models"
DEFAULT_ARTIFACTS_BUCKET = "argo-artifacts"


@dataclass(frozen=True)
class Artifact:
    """One artifact of a task: its name in Argo, its file name, whether it is a directory, and whether
    Argo stores it as a tgz (directories are, unless `unarchived`: a report's pictures, served file by file)."""

    name: str
    file: str
    directory: bool = False
    optional: bool = False
    unarchived: bool = False

    @property
    def archived(self) -> bool:
        return self.directory and not self.unarchived


def _pictures(name: str, report: str) -> Artifact:
    """A report's pictures: a folder stored file by file, so the page's relative links resolve."""
    return Artifact(f"{name}-files", report_files(report), directory=True, optional=True, unarchived=True)


@dataclass(frozen=True)
class TaskContract:
    name: str
    inputs: tuple[Artifact, ...]
    outputs: tuple[Artifact, ...]
    parameters: tuple[str, ...] = field(default_factory=tuple)


TASKS: dict[str, TaskContract] = {
    "prepare": TaskContract(
        name="prepare",
        # none: prepare fetches the annotations itself (--annotations-key), after check-inputs, so that
        # nothing is loaded before a wrong bucket or key is named; by hand, inputs/annotations.json
        inputs=(),
        outputs=(
            Artifact("dataset", DATASET_MANIFEST),
            Artifact("report", REPORT),
            Artifact("dataset-report", DATASET_REPORT, optional=True),
            _pictures("dataset-report", DATASET_REPORT),
        ),
        parameters=(PARAM_DATASET_ID,),
    ),
    "train": TaskContract(
        name="train",
        inputs=(Artifact("dataset", DATASET_MANIFEST), Artifact("base-weights", BASE_WEIGHTS, optional=True)),
        outputs=(
            Artifact("weights", BEST_WEIGHTS),
            Artifact("metrics", METRICS),
            Artifact("run", RUN_DIR, directory=True),
            Artifact("evaluation-report", EVALUATION_REPORT, optional=True),
            _pictures("evaluation-report", EVALUATION_REPORT),
        ),
        parameters=(PARAM_MAP,),
    ),
    "export-deploy": TaskContract(
        name="export-deploy",
        inputs=(
            Artifact("weights", BEST_WEIGHTS),
            Artifact("dataset", DATASET_MANIFEST),
            Artifact("metrics", METRICS),
        ),
        outputs=(
            Artifact("model", MODEL),
            Artifact("model-card", MODEL_CARD),
            Artifact("model-report", MODEL_REPORT, optional=True),
            _pictures("model-report", MODEL_REPORT),
        ),
        parameters=(PARAM_MODEL_VERSION,),
    ),
}


def reports(task: str) -> tuple[Artifact, ...]:
    """The HTML report artifacts a task writes (each with its files folder beside it)."""
    return tuple(a for a in TASKS[task].outputs if a.file.endswith(".html"))


def root() -> Path:
    return Path(os.environ.get(ROOT_ENV, "/") or "/")


@dataclass(frozen=True)
class Layout:
    """Resolved folders for one task run; each can be overridden by a flag."""

    inputs: Path
    outputs: Path
    data: Path

    @classmethod
    def resolve(cls, inputs: Path | None = None, outputs: Path | None = None, data: Path | None = None) -> Layout:
        base = root()
        return cls(
            inputs=inputs or base / INPUTS_SUBDIR,
            outputs=outputs or base / OUTPUTS_SUBDIR,
            data=data or base / DATA_SUBDIR,
        )

    def input(self, name: str) -> Path:
        return self.inputs / name

    def output(self, name: str) -> Path:
        return self.outputs / name

    @property
    def params(self) -> Path:
        return self.outputs / PARAMS_SUBDIR

    def param(self, name: str) -> Path:
        return self.params / name

    def write_param(self, name: str, value: str) -> Path:
        path = self.param(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value)
        return path


def param_path_in_container(name: str) -> str:
    """Where Argo reads an output parameter inside the container (ODPIPE_ROOT is `/` there)."""
    return f"/{OUTPUTS_SUBDIR}/{PARAMS_SUBDIR}/{name}"


def artifact_path_in_container(direction: str, file: str) -> str:
    sub = INPUTS_SUBDIR if direction == "inputs" else OUTPUTS_SUBDIR
    return f"/{sub}/{file}"
