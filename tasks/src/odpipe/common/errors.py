"""The one exception type a task raises for a failure the user can act on."""

from __future__ import annotations


class OdpipeError(Exception):
    """A failure with a message that names what is wrong (file, id, field); the CLI exits non-zero.

    Exit codes: 2 bad input (the user's data or flags), 3 storage failure (S3, or a full
    volume), 4 quality gate failed,
    5 conflict (a publish raced another and lost every retry).
    """

    exit_code = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class InputError(OdpipeError):
    exit_code = 2


class StorageError(OdpipeError):
    exit_code = 3


class GateFailed(OdpipeError):
    exit_code = 4


class PublishConflict(OdpipeError):
    exit_code = 5
