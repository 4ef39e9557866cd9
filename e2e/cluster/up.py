"""`make cluster`: build what is missing (cached), then start the cluster from scratch through an ordered
list of named actions, each one job of one module, as kind's `create` runs its actions; ends when the node
is Ready and DNS answers, with .cluster/kubeconfig and the .cluster/bin wrappers written."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import addons, controlplane, images, netns, node, pki, tools
from . import components as c
from . import processes as p
from .down import down, leftovers
from .layout import KUBECONFIG, NODE_NAME, state

REQUIRED = ("containerd", "runc", "ctr", "ip", "iptables", "nsenter", "openssl", "go", "umount")


@dataclass(frozen=True)
class Action:
    """One step of `up`: its name (shown, and timed) and what it does."""

    name: str
    run: Callable[[Callable[[str], None]], object]


def check_host() -> None:
    if os.geteuid() != 0:
        raise SystemExit("make cluster runs as root (network namespace, containerd, kubelet)")
    missing = [t for t in REQUIRED if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: make cluster-deps installs Debian's packages")


def is_up() -> bool:
    return netns.exists() and all(p.running(n) is not None for n in ("etcd", "kube-apiserver", "kubelet"))


def _jsonpath(*args: str) -> str:
    out = subprocess.run([*tools.kubectl(), *args], capture_output=True, text=True, check=False)
    return out.stdout.strip()


def _node_ready() -> bool:
    return (
        _jsonpath("get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}") == "True"
    )


def _dns_ready() -> bool:
    return _jsonpath("-n", "kube-system", "get", "deploy", "coredns", "-o", "jsonpath={.status.readyReplicas}") == "1"


def _build(log: Callable[[str], None]) -> None:
    built = c.build_all(log)
    log(
        "built: " + ", ".join(f"{n} {s:.0f} s" for n, s in built.items() if s)
        if any(built.values())
        else "binaries: all cached"
    )


def _clean(log: Callable[[str], None]) -> None:
    if leftovers():
        down(log)
    for path in (state("pki"), state("kubeconfigs"), state("logs")):
        shutil.rmtree(path, ignore_errors=True)
    node.clean_state()


def _netns(_: Callable[[str], None]) -> None:
    netns.create()
    netns.enter()


def _pki(_: Callable[[str], None]) -> None:
    pki.make_pki()
    pki.kubeconfig(KUBECONFIG, "admin")


def _node_ready_wait(_: Callable[[str], None]) -> None:
    p.wait_for("node Ready", _node_ready, 120, "kubelet")


def _addons(_: Callable[[str], None]) -> None:
    addons.apply(tools.kubectl(), addons.storage_manifest())
    addons.apply(tools.kubectl(), addons.coredns_manifest())
    p.wait_for("CoreDNS ready", _dns_ready, 120, "kubelet")


def _network_policies(_: Callable[[str], None]) -> None:
    addons.apply(tools.kubectl(), addons.network_policy_rbac())
    offset = node.start_network_policy()
    p.wait_for("NetworkPolicies enforced", lambda: node.network_policy_loaded(offset), 60, "network-policy")


def _unlogged(fn: Callable[[], object]) -> Callable[[Callable[[str], None]], object]:
    return lambda _log: fn()


#: What `up` does, in order (kind's create actions, one job each).
ACTIONS: tuple[Action, ...] = (
    Action("build", _build),
    Action("clean", _clean),
    Action("netns", _netns),
    Action("pki", _pki),
    Action("etcd", _unlogged(controlplane.start_etcd)),
    Action("containerd", _unlogged(node.start_containerd)),
    Action("apiserver", _unlogged(controlplane.start_apiserver)),
    Action("images", images.load_cluster_images),
    Action("controllers", _unlogged(controlplane.start_controllers)),
    Action("volumes", _unlogged(addons.make_volumes)),
    Action("kubelet", _unlogged(node.start_kubelet)),
    Action("kube-proxy", _unlogged(node.start_kube_proxy)),
    Action("node ready", _node_ready_wait),
    Action("addons", _addons),
    Action("network policies", _network_policies),
    Action("wrappers", _unlogged(tools.write_wrappers)),
)


#: What a node's reboot brings back after `down`: the same actions with etcd's data, the PKI, the volumes
#: (MinIO's data, the datasets PVC) and the kubelet's and containerd's files kept; only /run starts empty.
RESTART_ACTIONS: tuple[Action, ...] = tuple(
    Action("etcd", _unlogged(lambda: controlplane.start_etcd(keep=True))) if a.name == "etcd" else a
    for a in ACTIONS
    if a.name not in ("build", "clean", "pki", "volumes")
)


def up(log: Callable[[str], None] = print, actions: tuple[Action, ...] = ACTIONS) -> dict[str, float]:
    """Runs `actions` (ACTIONS: a cluster from scratch) in order; returns the seconds of each."""
    check_host()
    if is_up():
        log("the cluster is already up (make cluster-down first to start anew)")
        return {}
    times: dict[str, float] = {}
    for action in actions:
        started = time.monotonic()
        action.run(log)
        times[action.name] = time.monotonic() - started
    return times


def restart(log: Callable[[str], None] = print) -> dict[str, float]:
    """The node rebooted: everything stopped as `down` stops it (every container killed), then started again
    with its state kept. Pods come back as the kubelet finds them in the API."""
    left = down(log)
    if left:
        raise RuntimeError(f"the node did not stop cleanly: {'; '.join(left)}")
    return up(log, RESTART_ACTIONS)
