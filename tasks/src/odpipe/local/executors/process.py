"""Run a step's container command as a local process (the default engine: no container runtime).

The container's paths live in the attempt's sandbox: `ODPIPE_ROOT` points there, so `/artifacts/...`
and `/data` resolve inside it; the datasets volume is a link to the local data folder. The template's
securityContext, memory and CPU limits are not applied: use `--engine docker` for that.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from odpipe.common.executables import find_executable
from odpipe.formats.contract import ROOT_ENV
from odpipe.local.errors import UnsupportedArgo
from odpipe.local.executors.base import (
    IMAGE_DIGEST_ENV,
    IMAGE_ENV,
    STATUS_FAILED,
    STATUS_SUCCEEDED,
    ContainerRun,
    ExecResult,
)
from odpipe.local.procs import die_with_parent
from odpipe.local.staging import sandbox_path


class ProcessExecutor:
    name = "process"

    def check(self, run: ContainerRun) -> None:
        if not run.command:
            raise UnsupportedArgo(f"{run.pod}: container without command (the image's entrypoint is unknown here)")

    def _layout(self, run: ContainerRun) -> None:
        for mount in run.bind_mounts:
            local = sandbox_path(run.sandbox, mount.target)
            if mount.source == local:  # an emptyDir, or a staged input artifact (read-only)
                if not mount.read_only:
                    local.mkdir(parents=True, exist_ok=True)
                continue
            if Path(mount.target) == mount.source:  # a host path seen at the same path: already there
                continue
            local.parent.mkdir(parents=True, exist_ok=True)
            if not local.is_symlink() and not local.exists():
                local.symlink_to(mount.source.resolve(), target_is_directory=mount.source.is_dir())
        for mount in run.memory_mounts:
            sandbox_path(run.sandbox, mount.target).mkdir(parents=True, exist_ok=True)

    def run(self, run: ContainerRun) -> ExecResult:
        self.check(run)
        self._layout(run)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ODPIPE_"))}
        env.update(run.env)
        # no image runs here: the model card must not claim the one the template names
        for name in (IMAGE_ENV, IMAGE_DIGEST_ENV):
            env.pop(name, None)
        env[ROOT_ENV] = str(run.sandbox)
        env["TMPDIR"] = str(sandbox_path(run.sandbox, "/tmp"))
        env.setdefault("ODPIPE_SCRATCH", str(sandbox_path(run.sandbox, "/tmp/odpipe")))
        command = [*run.command, *run.args]
        command[0] = find_executable(command[0]) or command[0]
        with run.log_path.open("ab") as log:
            try:
                proc = subprocess.run(
                    command,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=run.sandbox,
                    check=False,
                    timeout=run.deadline_seconds,
                    preexec_fn=die_with_parent,
                )
            except subprocess.TimeoutExpired:
                message = f"step ran past activeDeadlineSeconds={run.deadline_seconds:g}"
                return ExecResult(137, STATUS_FAILED, "DeadlineExceeded", message)
        code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
        if code == 0:
            return ExecResult(0, STATUS_SUCCEEDED, "Completed")
        return ExecResult(code, STATUS_FAILED, "Error", f"exit code {code}")
