"""Find a program odpipe runs (helm, weed, odpipe itself, ...): first beside the running interpreter,
where a virtual environment's own copy lives, then on PATH."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path


def beside_interpreter(name: str) -> Path:
    return Path(sys.executable).parent / name


def find_executable(name: str) -> str | None:
    """The program's path, or None when it is neither beside the interpreter nor on PATH."""
    beside = beside_interpreter(name)
    return str(beside) if beside.exists() else shutil.which(name)


def executable(name: str) -> str:
    """The program's path, or its bare name (so that running it fails naming the program)."""
    return find_executable(name) or name
