"""Stop the cluster and leave nothing behind: no process, no mount, no network namespace (its
iptables rules, bridge and veths go with it), no cgroup the kubelet made, the host's sysctls as they
were. Files stay: the cache, containerd's image store and the logs under the state folder."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from . import netns
from . import processes as p
from .layout import CONTAINERD_SOCK, RUN, STATE, run_dir
from .node import restore_host_sysctls
from .store import ctr

#: stopped in this order: first what starts containers, then the API, then the runtime
DAEMONS = (
    "network-policy",
    "kube-proxy",
    "kubelet",
    "kube-scheduler",
    "kube-controller-manager",
    "kube-apiserver",
    "etcd",
)
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _sandbox_netns() -> list[str]:
    """The pods' network namespace files, from containerd's container specs."""
    paths = []
    listing = ctr("containers", "ls", "-q", check=False)
    for cid in listing.stdout.split():
        info = ctr("containers", "info", cid, check=False)
        if info.returncode != 0:
            continue
        try:
            spec = json.loads(info.stdout).get("Spec") or {}
        except json.JSONDecodeError:
            continue
        for ns in (spec.get("linux") or {}).get("namespaces") or []:
            if ns.get("type") == "network" and ns.get("path", "").startswith("/var/run/netns/"):
                paths.append(ns["path"])
    return sorted(set(paths))


def _remove_containers() -> None:
    for task in ctr("tasks", "ls", "-q", check=False).stdout.split():
        ctr("tasks", "kill", "--signal", "SIGKILL", task, check=False)
    time.sleep(1)
    for task in ctr("tasks", "ls", "-q", check=False).stdout.split():
        ctr("tasks", "delete", "--force", task, check=False)
    for cid in ctr("containers", "ls", "-q", check=False).stdout.split():
        ctr("containers", "delete", cid, check=False)


def _our_processes() -> list[int]:
    """Shims and anything else started for this cluster: their command line names its socket or state."""
    marks = (str(RUN), str(STATE), str(CONTAINERD_SOCK))
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(m in cmdline for m in marks):
            pids.append(int(entry.name))
    return pids


def _kill(pids: list[int]) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(p.alive(pid) for pid in pids):
            time.sleep(0.2)


def mounts_under(*roots: Path) -> list[str]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if any(point == str(r) or point.startswith(str(r) + "/") for r in roots):
            found.append(point)
    return found


def _unmount(points: list[str]) -> None:
    for point in sorted(set(points), key=len, reverse=True):
        if subprocess.run(["umount", point], capture_output=True, check=False).returncode != 0:
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def _pod_processes() -> list[int]:
    """Every process in the kubelet's pod cgroups (containers whose shim may already be gone)."""
    pids: set[int] = set()
    top = CGROUP_ROOT / "pids" / "kubepods"
    if top.is_dir():
        for tasks in top.rglob("tasks"):
            with contextlib.suppress(OSError, ValueError):
                pids.update(int(t) for t in tasks.read_text().split())
    return sorted(pids)


def _remove_cgroups() -> None:
    """The kubelet's kubepods hierarchy in every v1 controller (empty once the containers are gone)."""
    for controller in CGROUP_ROOT.iterdir():
        top = controller / "kubepods"
        if not top.is_dir():
            continue
        for path in sorted((d for d in top.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True):
            with contextlib.suppress(OSError):
                path.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def down(say: Callable[[str], None] = print) -> list[str]:
    """Stop everything; returns what is still left (empty when clean)."""
    sandbox_netns: list[str] = []
    for name in DAEMONS[:3]:  # the node's own daemons, before its containers
        p.stop(name)
    if p.running("containerd") is not None:
        sandbox_netns = _sandbox_netns()
        _remove_containers()
    for name in DAEMONS[3:]:
        p.stop(name)
    p.stop("containerd")
    _kill(_our_processes() + _pod_processes())
    _unmount(mounts_under(STATE, RUN) + [n for n in sandbox_netns if Path(n).exists()])
    for n in sandbox_netns:
        Path(n).unlink(missing_ok=True)
    netns.delete()
    restore_host_sysctls()
    _remove_cgroups()
    subprocess.run(["rm", "-rf", str(RUN)], check=False)
    left = leftovers()
    say("cluster down: nothing left behind" if not left else "cluster down, but left: " + "; ".join(left))
    return left


def leftovers() -> list[str]:
    left = []
    pids = _our_processes() + _pod_processes()
    if pids:
        left.append(f"processes {pids}")
    for name in (*DAEMONS, "containerd"):
        if p.running(name) is not None:
            left.append(f"{name} running")
    points = mounts_under(STATE, RUN, Path("/run/netns/odpipe-cluster"))
    if points:
        left.append(f"mounts {points}")
    if netns.exists():
        left.append("network namespace odpipe-cluster")
    if any((c / "kubepods").exists() for c in CGROUP_ROOT.iterdir()):
        left.append("cgroups kubepods")
    if run_dir().exists():
        left.append(str(run_dir()))
    return left
