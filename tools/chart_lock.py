#!/usr/bin/env python3
"""Write or check a chart's Chart.lock offline.

`helm dependency update` needs the network for remote repositories. With exact versions pinned in
Chart.yaml the lock is a pure function of it: the same dependencies plus Helm's digest, sha256 over
the JSON of [requested, locked] (the hash `helm dependency build` recomputes to detect a stale lock;
checked against helm itself in tests/test_charts.py).

    tools/chart_lock.py charts/odpipe           # write Chart.lock
    tools/chart_lock.py --check charts/odpipe   # exit 1 when Chart.lock is missing or stale
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml

_FIELDS = ("name", "version", "repository", "condition", "tags", "enabled", "import-values", "alias")


def _go_json(value: Any) -> str:
    # Go's encoding/json: compact, HTML characters escaped.
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _requested(dep: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in _FIELDS:
        value = dep.get(key)
        if key == "repository":
            out[key] = value or ""
        elif value not in (None, "", [], False):
            out[key] = value
    return out


def _locked_version(chart_dir: Path, dep: dict[str, Any]) -> str:
    repo = dep.get("repository", "")
    if repo.startswith("file://"):
        local = (chart_dir / repo[len("file://") :]).resolve()
        return str(yaml.safe_load((local / "Chart.yaml").read_text())["version"])
    version = str(dep["version"])
    if any(c in version for c in "^~*xX<>= |"):
        raise SystemExit(
            f"{chart_dir}/Chart.yaml: {dep['name']} version {version!r} is a range; pin it to write a lock"
        )
    return version


def digest(chart_dir: Path) -> tuple[str, list[dict[str, str]]]:
    deps = yaml.safe_load((chart_dir / "Chart.yaml").read_text()).get("dependencies") or []
    requested = [_requested(d) for d in deps]
    locked = [
        {"name": d["name"], "version": _locked_version(chart_dir, d), "repository": d.get("repository", "")}
        for d in deps
    ]
    return "sha256:" + hashlib.sha256(_go_json([requested, locked]).encode()).hexdigest(), locked


def main(argv: list[str]) -> int:
    check = "--check" in argv
    chart_dir = Path(next(a for a in argv if not a.startswith("--")))
    want, locked = digest(chart_dir)
    lock_path = chart_dir / "Chart.lock"
    if check:
        have = yaml.safe_load(lock_path.read_text()) if lock_path.exists() else {}
        if have.get("digest") != want or have.get("dependencies") != locked:
            print(f"{lock_path} is missing or out of sync with Chart.yaml; run tools/chart_lock.py {chart_dir}")
            return 1
        print(f"{lock_path} matches Chart.yaml")
        return 0
    doc = {"dependencies": locked, "digest": want, "generated": "2026-11-28T00:00:00Z"}
    lock_path.write_text(yaml.safe_dump(doc, sort_keys=False))
    print(f"wrote {lock_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
