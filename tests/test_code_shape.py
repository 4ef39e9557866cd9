"""Checks on the shape of the code itself: short functions, and task packages that do not lean on
each other (export-deploy's image installs no training code)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "tasks" / "src" / "odpipe"
E2E = REPO / "e2e"
MAX_FUNCTION_LINES = 60
#: functions allowed past the limit, by 'file:name' (none: split a long one into named steps instead)
KNOWN_LONG: set[str] = set()


def _is_typer_command(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """A command is registered by a decorator, or (odpipe.cli) in a table: its options are typer.Option's."""
    decorated = any(
        isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr in ("command", "callback")
        for d in node.decorator_list
    )
    args = [*node.args.args, *node.args.kwonlyargs]
    return decorated or any(a.annotation is not None and "typer.Option" in ast.unparse(a.annotation) for a in args)


def function_lengths(root: Path = PACKAGE) -> dict[str, int]:
    """Lines of every function under ``root`` ('file:name'); for a Typer command only its body counts,
    not the option declarations of its signature."""
    out: dict[str, int] = {}
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                start = node.body[0].lineno if _is_typer_command(node) else node.lineno
                assert node.end_lineno is not None
                out[f"{rel}:{node.name}"] = max(out.get(f"{rel}:{node.name}", 0), node.end_lineno - start + 1)
    return out


def test_functions_are_shorter_than_the_limit() -> None:
    lengths = {**function_lengths(), **{f"e2e/{k}": n for k, n in function_lengths(E2E).items()}}
    too_long = {k: n for k, n in lengths.items() if n >= MAX_FUNCTION_LINES and k not in KNOWN_LONG}
    assert not too_long, f"functions of {MAX_FUNCTION_LINES}+ lines (split them into named steps): {too_long}"


def test_the_length_check_sees_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (tmp_path / "m.py").write_text(f"def long() -> None:\n{body}\n")
    assert function_lengths(tmp_path) == {"m.py:long": MAX_FUNCTION_LINES + 1}


def _imported_modules(path: Path) -> set[str]:
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
    return out


def test_export_deploy_does_not_import_train() -> None:
    offenders = {
        f"{p.relative_to(PACKAGE)}: {m}"
        for p in (PACKAGE / "export").rglob("*.py")
        for m in _imported_modules(p)
        if m == "odpipe.train" or m.startswith("odpipe.train.")
    }
    assert not offenders


def _renames(path: Path) -> list[int]:
    """Lines that rename a file into place: os.replace/os.rename, or Path.replace/Path.rename (one
    argument; str.replace takes two)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in ("replace", "rename"):
            continue
        on_os = isinstance(node.func.value, ast.Name) and node.func.value.id == "os"
        if on_os or len(node.args) == 1:
            lines.append(node.lineno)
    return lines


def test_one_atomic_writer() -> None:
    """Renames into place live in odpipe.common.atomic (odpipe.local, being rewritten, adopts it later)."""
    offenders = {
        rel: lines
        for path in PACKAGE.rglob("*.py")
        if (rel := path.relative_to(PACKAGE).as_posix()) != "common/atomic.py" and not rel.startswith("local/")
        if (lines := _renames(path))
    }
    assert not offenders


def test_the_cluster_imports_no_scenario() -> None:
    """e2e.cluster is the lifecycle only (kind's pkg/cluster): the scenarios build on it, never the reverse."""
    offenders = {
        f"{p.relative_to(E2E)}: {m}"
        for p in (E2E / "cluster").rglob("*.py")
        for m in _imported_modules(p)
        if m.startswith(("e2e.scenarios", "scenarios")) or (m.startswith(".") and "scenarios" in m)
    }
    assert not offenders, offenders
