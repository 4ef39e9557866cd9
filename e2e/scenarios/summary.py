"""The e2e's report: each step's time and note per scenario, and the summary printed at the end."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e2e.cluster import components as c
from e2e.cluster.layout import LOCAL

from .timing import print_breakdown
from .workflows import pod_steps

#: The last run's timing, for `make bench` (bench/cluster.py) to print.
TIMING_RECORD = LOCAL / "e2e-timing.json"


@dataclass
class Report:
    say: Callable[[str], None]
    steps: list[tuple[str, float, str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    screenshots: list[Path] = field(default_factory=list)

    @contextmanager
    def step(self, name: str) -> Iterator[dict[str, str]]:
        self.say(f"== {name}")
        note: dict[str, str] = {"": ""}
        started = time.monotonic()
        try:
            yield note
        except Exception as exc:
            self.steps.append((name, time.monotonic() - started, f"FAILED: {exc}"))
            self.failed.append(name)
            raise
        self.steps.append((name, time.monotonic() - started, note[""]))


def print_versions(say: Callable[[str], None]) -> None:
    say(
        f"Kubernetes {c.KUBERNETES.version}, Argo Workflows {c.ARGO.version}, "
        f"MinIO {c.minio_release(c.MINIO.version)}, mc {c.minio_release(c.MC.version)}, CoreDNS {c.COREDNS.version}, "
        f"containerd {_version('containerd', '--version')}, runc {_version('runc', '--version')}, "
        f"etcd {c.ETCD.version}"
    )


def print_workflow(r: Report, key: str, local: float | None) -> None:
    wf = r.facts.get(key)
    if not wf:
        return
    say, wall = r.say, wf["_wall"]
    say(f"{key}: {wf['metadata']['name']} {wf['status']['phase']}, wall {wall:.0f} s (argo submit --wait)")
    for s in pod_steps(wf):
        pod = wf["_pods"].get(s["pod"], {})
        image, name = pod.get("images", {}).get("main", "?"), pod.get("name", s["pod"])
        say(f"    {s['step']:16} {s['phase']:10} {s['seconds'] or 0:6.0f} s  pod {name}  image {image}")
        say(f"        init {sorted(pod.get('init', {}).values())}  pvc {pod.get('pvc')}")
    result = print_breakdown(say, wf, local)
    if (key.endswith("v1") or key.startswith("workflow speed")) and local:
        record = {"workflow": key, "lines": result.lines(local), "ratio": wall / local, "submit wall": wall,
                  "odpipe run": local, "by owner": result.by_owner}  # fmt: skip
        records = json.loads(TIMING_RECORD.read_text()) if TIMING_RECORD.exists() else {}
        records = records if "runs" in records else {"runs": []}
        records["runs"] = [*records["runs"], record][-6:]
        TIMING_RECORD.parent.mkdir(parents=True, exist_ok=True)
        TIMING_RECORD.write_text(json.dumps(records, indent=1))
        say(f"{key} wall {wall:.0f} s against odpipe run {local:.0f} s on the same data: {wall / local:.2f}x")


def print_summary(reports: dict[str, Report], total: float) -> None:
    say = next(iter(reports.values())).say
    say("")
    say("== odpipe e2e summary")
    print_versions(say)
    for scenario, r in reports.items():
        say(f"-- scenario {scenario}")
        for name, seconds, note in r.steps:
            say(f"  {seconds:7.1f} s  {name}: {note}")
        for key in sorted(k for k in r.facts if k.startswith("workflow ")):
            print_workflow(r, key, r.facts.get(f"odpipe run for {key}", r.facts.get("odpipe run seconds")))
        for key, value in r.facts.items():
            if key.startswith(
                ("answer", "swap", "after uninstall", "argo chart", "memo", "schedule", "collected", "speed", "ui")
            ):
                say(f"{key}: {json.dumps(value)}")
            elif key.startswith("failure "):
                say(f"{key}: {value.splitlines()[-1][:200] if value else ''}")
        for key in ("artifacts v1", "models after v1"):
            for obj, size in sorted(r.facts.get(key, {}).items()):
                say(f"    {size:>10}  s3://{'argo-artifacts' if 'artifacts' in key else 'models'}/{obj}")
        for shot in r.screenshots:
            say(f"    screenshot {shot}")
    failed = [f"{s}: {name}" for s, r in reports.items() for name in r.failed]
    say(f"total {total:.0f} s; " + ("FAILED: " + ", ".join(failed) if failed else "all steps passed"))


def _version(*cmd: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.split()
    except OSError:
        return "?"
    words = [w for w in out if any(ch.isdigit() for ch in w) and "." in w]
    return words[0] if words else "?"
