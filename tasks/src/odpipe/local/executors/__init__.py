"""Task executors: run one step's container as a local process or in its image (Docker)."""

from __future__ import annotations

from odpipe.local.executors.base import ContainerRun, ExecResult, TaskExecutor

ENGINES = ("process", "docker")


def make_executor(engine: str) -> TaskExecutor:
    """The executor for `--engine`: `process` (default) or `docker`."""
    if engine == "process":
        from odpipe.local.executors.process import ProcessExecutor

        return ProcessExecutor()
    if engine == "docker":
        from odpipe.local.executors.docker import DockerExecutor

        return DockerExecutor()
    raise ValueError(f"unknown engine {engine!r}; expected one of {ENGINES}")


__all__ = ["ENGINES", "ContainerRun", "ExecResult", "TaskExecutor", "make_executor"]
