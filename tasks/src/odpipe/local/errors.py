"""Errors of the local runner."""

from __future__ import annotations

from odpipe.common.errors import InputError, OdpipeError


class UnsupportedArgo(OdpipeError):
    """The chart uses an Argo or Kubernetes feature this runner (or this engine) does not implement."""

    exit_code = 2


class ChartError(InputError):
    """The rendered chart lacks something the runner needs (a template, the artifact repository)."""
