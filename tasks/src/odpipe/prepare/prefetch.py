"""Image checks started before the annotations are parsed, so that a large JSON file and the image files
are read at the same time (on two cores, the parse used to leave one idle).

Each worker process walks the images root itself (its arguments are a few bytes: the parent may hold the
GIL for a whole JSON parse, so nothing here relies on threads of the parent) and checks every n-th file
until told to stop. Validation then takes the checks of the files it needs and checks any others as
before; a file checked here gives the very ImageCheck `inspect_image` gives anywhere else.
"""

from __future__ import annotations

import contextlib
from multiprocessing.connection import Connection
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

from odpipe.prepare.images import ImageCheck, ImageIndex, inspect_image
from odpipe.prepare.parallel import worker_context

PREFETCH_ABOVE_BYTES = 4 << 20  # below this the JSON parses in well under a process's start-up time
_STOP_EVERY = 32  # files between looks at the stop flag


class ImagePrefetch:
    def __init__(self, root: Path, workers: int) -> None:
        context: Any = worker_context()
        self._stop: Event = context.Event()
        self._workers: list[tuple[Connection, Any]] = []
        for share in range(workers):
            receive, send = context.Pipe(duplex=False)
            proc = context.Process(target=_check_share, args=(str(root), share, workers, self._stop, send))
            proc.daemon = True
            proc.start()
            send.close()
            self._workers.append((receive, proc))

    def results(self, finish: bool) -> dict[str, ImageCheck]:
        """The checks the workers made, by path relative to the root: all of them when ``finish`` (most
        files under the root are wanted), else those done by now (the workers are stopped)."""
        if not finish:
            self._stop.set()
        out: dict[str, ImageCheck] = {}
        for receive, proc in self._workers:
            with contextlib.suppress(EOFError, OSError):  # a worker that died: validation checks its files
                out.update(receive.recv())
            receive.close()
            proc.join()
        self._workers = []
        return out

    def close(self) -> None:
        """Stop and reap the workers (when validation never asked for their results)."""
        self._stop.set()
        for receive, proc in self._workers:
            receive.close()
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        self._workers = []


def _check_share(root: str, share: int, shares: int, stop: Event, send: Connection) -> None:
    base = Path(root)
    mine = sorted(ImageIndex(base).by_rel)[share::shares]
    out: dict[str, ImageCheck] = {}
    for n, relpath in enumerate(mine):
        if n % _STOP_EVERY == 0 and stop.is_set():
            break
        out[relpath] = inspect_image(base, relpath)
    send.send(out)
    send.close()
