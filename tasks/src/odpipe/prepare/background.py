"""A worker process for calls made one after another while this process goes on: on two cores, prepare
draws the dataset report's plots (matplotlib's import and drawing, ~1.4 s) while it names and writes
the dataset."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType
from typing import Any, TypeVar

from odpipe.prepare.parallel import worker_context

R = TypeVar("R")


class Worker:
    """One worker process (forkserver, as in odpipe.prepare.parallel: the parent may run a progress
    thread); when not ``enabled`` (a small input, one worker asked for) each call runs here, at submit.
    ``warm``: a call made at once (imports), so that later calls start warm. Leaving the block waits
    for a call already running, so nothing outlives the folders it may write into."""

    def __init__(self, enabled: bool, warm: Callable[[], None] | None = None) -> None:
        self._pool = None
        if enabled:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=worker_context())
            if warm is not None:
                self._pool.submit(warm)

    def submit(self, fn: Callable[..., R], *args: Any) -> Future[R]:
        """``fn(*args)``, in the worker (``fn`` at module level: it is sent by name) or here."""
        if self._pool is not None:
            return self._pool.submit(fn, *args)
        done: Future[R] = Future()
        try:
            done.set_result(fn(*args))
        except Exception as exc:
            done.set_exception(exc)
        return done

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


def result_or_none(future: Future[R]) -> R | None:
    """The call's result; None when it failed (for work the caller can redo itself)."""
    try:
        return future.result()
    except Exception:
        return None
