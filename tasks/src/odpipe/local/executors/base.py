"""What an executor is given (one attempt of one step's container, as a kubelet would see it) and
what it returns (exit code, status and reason, as Argo reports them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from odpipe.formats.model_card import ENV_IMAGE, ENV_IMAGE_DIGEST

STATUS_SUCCEEDED = "Succeeded"
STATUS_FAILED = "Failed"
STATUS_ERROR = "Error"
# what the chart tells a task about the image it runs in (recorded in the model card)
IMAGE_ENV = ENV_IMAGE
IMAGE_DIGEST_ENV = ENV_IMAGE_DIGEST


@dataclass(frozen=True)
class BindMount:
    """A folder or file of this machine at `target` in the container."""

    source: Path
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class MemoryMount:
    """A size-bounded, memory-backed folder (an emptyDir with sizeLimit, or medium Memory)."""

    target: str
    size_bytes: int | None


@dataclass(frozen=True)
class Security:
    """Pod and container securityContext, merged (the container's fields win)."""

    run_as_user: int | None = None
    run_as_group: int | None = None
    fs_group: int | None = None
    supplemental_groups: tuple[int, ...] = ()
    run_as_non_root: bool = False
    read_only_root: bool = False
    allow_privilege_escalation: bool = True
    privileged: bool = False
    drop_capabilities: tuple[str, ...] = ()
    add_capabilities: tuple[str, ...] = ()
    seccomp: str | None = None  # RuntimeDefault | Unconfined | None


@dataclass(frozen=True)
class Resources:
    memory_limit: int | None = None  # bytes
    cpu_limit: float | None = None  # cores
    cpu_request: float | None = None
    memory_request: int | None = None


@dataclass(frozen=True)
class ContainerRun:
    """One attempt of one step: the container spec resolved against the workflow's values."""

    pod: str
    image: str
    image_pull_policy: str
    command: list[str]  # Kubernetes `command` (the image's ENTRYPOINT when empty)
    args: list[str]  # Kubernetes `args` (the image's CMD when both are empty)
    env: dict[str, str]
    working_dir: str | None
    sandbox: Path  # this attempt's folder: container paths map to sandbox/<path> for staged artifacts
    bind_mounts: tuple[BindMount, ...]
    memory_mounts: tuple[MemoryMount, ...]
    security: Security
    resources: Resources
    deadline_seconds: float | None
    log_path: Path
    labels: dict[str, str] = field(default_factory=dict)
    extended_resources: dict[str, str] = field(default_factory=dict)  # e.g. nvidia.com/gpu
    scheduling: tuple[str, ...] = ()  # nodeSelector, tolerations, affinity present in the template


@dataclass
class ExecResult:
    exit_code: int
    status: str  # Succeeded | Failed | Error
    reason: str = ""  # OOMKilled, DeadlineExceeded, Error, Completed
    message: str = ""


class TaskExecutor(Protocol):
    """Runs one container attempt to completion and reports it as Argo would."""

    name: str

    def check(self, run: ContainerRun) -> None:
        """Raise UnsupportedArgo naming any part of `run` this engine cannot honour."""

    def run(self, run: ContainerRun) -> ExecResult:
        """Run the attempt, appending its stdout and stderr to `run.log_path`."""
