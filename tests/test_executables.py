"""Finding the programs odpipe runs: beside the interpreter first, then on PATH."""

from __future__ import annotations

import sys
from pathlib import Path

from odpipe.common.executables import beside_interpreter, executable, find_executable


def test_a_program_beside_the_interpreter_wins() -> None:
    name = Path(sys.executable).name
    assert beside_interpreter(name) == Path(sys.executable).parent / name
    assert find_executable(name) == str(Path(sys.executable).parent / name)


def test_path_then_the_bare_name() -> None:
    assert find_executable("sh") is not None and Path(executable("sh")).name == "sh"
    assert find_executable("no-such-odpipe-tool") is None
    assert executable("no-such-odpipe-tool") == "no-such-odpipe-tool"
