"""One call run in a worker process while this one goes on: on two cores, prepare draws the dataset
report's plots (matplotlib's import and drawing, ~1.4 s) while it writes the dataset."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

R = TypeVar("R")


@contextlib.contextmanager
def in_background(fn: Callable[..., R], *args: Any, enabled: bool = True) -> Iterator[Future[R]]:
    """``fn(*args)`` in one worker process (``fn`` at module level: it is sent by name); when not
    ``enabled`` (small inputs, one worker asked for), here and now. Leaving the block waits for a call
    already running, so nothing outlives the folder it writes into."""
    if not enabled:
        done: Future[R] = Future()
        try:
            done.set_result(fn(*args))
        except Exception as exc:
            done.set_exception(exc)
        yield done
        return
    # forkserver, as in odpipe.prepare.parallel: the parent may run a progress thread
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("forkserver"))
    try:
        yield pool.submit(fn, *args)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def result_or_none(future: Future[R]) -> R | None:
    """The call's result; None when it failed (for work the caller can redo itself)."""
    try:
        return future.result()
    except Exception:
        return None
