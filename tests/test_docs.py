"""The README is a map: every link in it and in docs/ resolves, and tasks/README.md lists every
`odpipe` command the CLI registers."""

from __future__ import annotations

import re
from pathlib import Path

from odpipe.cli import app

REPO = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)#]+)(#[^)]*)?\)")


def test_every_relative_link_resolves() -> None:
    pages = [REPO / "README.md", REPO / "tasks" / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = [
        f"{page.relative_to(REPO)} -> {target}"
        for page in pages
        for target, _ in LINK.findall(page.read_text())
        if not target.startswith(("http://", "https://")) and not (page.parent / target).exists()
    ]
    assert not broken, broken


def test_tasks_readme_lists_every_command() -> None:
    commands = {c.name or (c.callback.__name__ if c.callback else "") for c in app.registered_commands}
    readme = (REPO / "tasks" / "README.md").read_text()
    missing = sorted(c for c in commands if f"`odpipe {c}`" not in readme)
    assert len(commands) >= 9 and not missing, missing


def test_the_readme_stays_a_map() -> None:
    """The manual lives in docs/: the README keeps to what odpipe is, the commands, the paths and links."""
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for command in ("make setup", "make test", "make demo", "helm install odpipe charts/odpipe", "make e2e"):
        assert command in readme, command
