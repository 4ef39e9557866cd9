"""The dataset report's plots drawn in a worker process while the dataset is written: matplotlib's import
and three plots cost ~1.4 s of one core, which otherwise came after everything else."""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from odpipe.reports.dataset import PlotData, render_plots


class BackgroundPlots:
    def __init__(self, data: PlotData) -> None:
        # forkserver, as in odpipe.prepare.parallel: the parent may run a progress thread
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("forkserver"))
        self._future = self._pool.submit(render_plots, data)

    def result(self) -> dict[str, bytes] | None:
        """The plots by caption; None when the worker failed (the report then draws them itself, and a
        plot that fails there becomes a note in the page, as it always did)."""
        try:
            return self._future.result()
        except Exception:
            return None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def background_plots(data: PlotData) -> Iterator[BackgroundPlots]:
    plots = BackgroundPlots(data)
    try:
        yield plots
    finally:
        plots.close()
