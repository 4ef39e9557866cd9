"""The e2e's report: each step's time and note, and the summary printed at the end."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from . import components as c
from .workflows import pod_steps


@dataclass
class Report:
    say: Callable[[str], None]
    steps: list[tuple[str, float, str]] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

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


def print_summary(r: Report) -> None:
    say = r.say
    say("")
    say("== odpipe e2e summary")
    say(
        f"Kubernetes {c.KUBERNETES.version}, Argo Workflows {c.ARGO.version}, "
        f"MinIO {c.minio_release(c.MINIO.version)}, mc {c.minio_release(c.MC.version)}, CoreDNS {c.COREDNS.version}, "
        f"containerd {_version('containerd', '--version')}, runc {_version('runc', '--version')}, "
        f"etcd {_version('etcd', '--version')}"
    )
    for name, seconds, note in r.steps:
        say(f"  {seconds:7.1f} s  {name}: {note}")
    for key in ("workflow v1", "workflow v2"):
        wf = r.facts.get(key)
        if not wf:
            continue
        say(f"{key}: {wf['metadata']['name']} {wf['status']['phase']}, wall {wf['_wall']:.0f} s")
        for s in pod_steps(wf):
            pod = wf["_pods"].get(s["pod"], {})
            image = pod.get("images", {}).get("main", "?")
            name = pod.get("name", s["pod"])
            say(f"    {s['step']:16} {s['phase']:10} {s['seconds'] or 0:6.0f} s  pod {name}  image {image}")
            say(f"        init {sorted(pod.get('init', {}).values())}  pvc {pod.get('pvc')}")
    if "odpipe run seconds" in r.facts and "workflow v1" in r.facts:
        wall = r.facts["workflow v1"]["_wall"]
        local = r.facts["odpipe run seconds"]
        say(f"workflow v1 wall {wall:.0f} s against odpipe run {local:.0f} s on the same data: {wall / local:.2f}x")
    for key in ("answer v1", "answer v2", "swap", "after uninstall"):
        if key in r.facts:
            say(f"{key}: {json.dumps(r.facts[key])}")
    for key, value in r.facts.items():
        if key.startswith("failure "):
            say(f"{key}: {value.splitlines()[-1][:200] if value else ''}")
    for key in ("artifacts v1", "models after v1"):
        for obj, size in sorted(r.facts.get(key, {}).items()):
            say(f"    {size:>10}  s3://{'argo-artifacts' if 'artifacts' in key else 'models'}/{obj}")
    say(
        f"total {r.facts.get('total seconds', 0)} s; "
        + ("FAILED: " + ", ".join(r.failed) if r.failed else "all steps passed")
    )


def _version(*cmd: str) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.split()
    except OSError:
        return "?"
    words = [w for w in out if any(ch.isdigit() for ch in w) and "." in w]
    return words[0] if words else "?"
