#!/usr/bin/env python3
"""Write (or --check) the values table of a chart's README from the `## @param` comments in values.yaml.

The table sits between `<!-- values:start -->` and `<!-- values:end -->`; defaults are read from the
values themselves, so the README cannot drift from values.yaml.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

START, END = "<!-- values:start -->", "<!-- values:end -->"
PARAM = re.compile(r"^\s*## @param (\S+) (.*)$")
SECTION = re.compile(r"^\s*## @section (.*)$")


def _get(values: Any, dotted: str) -> Any:
    node = values
    for part in dotted.split("."):
        node = node[part]
    return node


def table(chart: Path) -> str:
    text = (chart / "values.yaml").read_text()
    values = yaml.safe_load(text)
    out: list[str] = []
    for line in text.splitlines():
        if m := SECTION.match(line):
            out += ["", f"### {m.group(1)}", "", "| Key | Description | Default |", "| --- | --- | --- |"]
        elif m := PARAM.match(line):
            key, desc = m.groups()
            default = json.dumps(_get(values, key), separators=(", ", ": "))
            out.append(f"| `{key}` | {desc.replace('|', '/')} | `{default}` |")
    return "\n".join(out).strip() + "\n"


def main(argv: list[str]) -> int:
    check = "--check" in argv
    chart = Path(next(a for a in argv if not a.startswith("--")))
    readme = chart / "README.md"
    current = readme.read_text()
    head, _, rest = current.partition(START)
    _, _, tail = rest.partition(END)
    updated = f"{head}{START}\n{table(chart)}{END}{tail}"
    if check:
        if updated != current:
            print(f"{readme}: values table out of date; run tools/values_table.py {chart}")
            return 1
        return 0
    readme.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
