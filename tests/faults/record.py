"""One JSON line per fault run: (fault, tried, survived, lost), when ODPIPE_FAULTS_LOG names a file.

`make faults` sets it and prints the table with tools/faults_table.py; without it nothing is written.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

LOG_ENV = "ODPIPE_FAULTS_LOG"
FULL_ENV = "ODPIPE_FAULTS_FULL"


def full() -> bool:
    """`make faults` runs the full case counts; `make test` the cheap form."""
    return os.environ.get(FULL_ENV, "") not in ("", "0")


def cases(cheap: int, full_count: int) -> int:
    return full_count if full() else cheap


def record(fault: str, tried: int, survived: int, lost: int = 0, note: str = "") -> None:
    """Append a row; `lost` counts bytes (or objects, said in the note) that a fault destroyed or left
    half-written where a reader would take them for finished."""
    target = os.environ.get(LOG_ENV)
    if not target:
        return
    line = json.dumps({"fault": fault, "tried": tried, "survived": survived, "lost": lost, "note": note})
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        fh.write(line + "\n")


class Tally:
    """Counts cases as a test runs them, records the row at the end, and keeps the failures to report."""

    def __init__(self, fault: str, note: str = "") -> None:
        self.fault, self.note = fault, note
        self.tried = self.survived = self.lost = 0
        self.failures: list[str] = []

    def case(self, ok: bool, what: str = "", lost: int = 0) -> None:
        self.tried += 1
        self.lost += lost
        if ok and not lost:
            self.survived += 1
        else:
            self.failures.append(what or f"case {self.tried}")

    def close(self) -> None:
        record(self.fault, self.tried, self.survived, self.lost, self.note)
        assert not self.failures and self.tried > 0, f"{self.fault}: {len(self.failures)} failed: {self.failures[:5]}"
