"""`make cluster`: build what is missing (cached), then start the cluster from scratch and wait until
the node is Ready and DNS answers; writes .cluster/kubeconfig and the .cluster/bin wrappers."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from . import addons, controlplane, images, netns, node, pki
from . import components as c
from . import processes as p
from .down import down, leftovers
from .layout import KUBECONFIG, LOCAL, NETNS_PATH, NODE_NAME, REPO, state

REQUIRED = ("etcd", "containerd", "runc", "ctr", "ip", "iptables", "nsenter", "openssl", "go", "umount")


def kubectl_bin() -> Path:
    return c.KUBERNETES.binary("kubectl")


def kubectl() -> list[str]:
    return [str(kubectl_bin()), f"--kubeconfig={KUBECONFIG}"]


def helm_bin() -> Path:
    return REPO / ".venv" / "bin" / "helm"


def argo_bin() -> Path:
    return c.ARGO.binary("argo")


def check_host() -> None:
    if os.geteuid() != 0:
        raise SystemExit("make cluster runs as root (network namespace, containerd, kubelet)")
    missing = [t for t in REQUIRED if shutil.which(t) is None]
    if missing:
        raise SystemExit(f"missing {', '.join(missing)}: make cluster-deps installs Debian's packages")


def is_up() -> bool:
    return netns.exists() and all(p.running(n) is not None for n in ("etcd", "kube-apiserver", "kubelet"))


def write_wrappers() -> None:
    """`.cluster/bin/{kubectl,helm,argo}`: each runs inside the namespace with the cluster's kubeconfig."""
    bindir = LOCAL / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for name, target in (("kubectl", kubectl_bin()), ("helm", helm_bin()), ("argo", argo_bin())):
        wrapper = bindir / name
        wrapper.write_text(
            "#!/bin/sh\n"
            f"# {name} inside the odpipe cluster's network namespace (made by `make cluster`; needs root)\n"
            f'exec nsenter --net={NETNS_PATH} -- env KUBECONFIG="{KUBECONFIG}" "{target}" "$@"\n'
        )
        wrapper.chmod(0o755)


def _node_ready() -> bool:
    out = subprocess.run(
        [*kubectl(), "get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() == "True"


def _dns_ready() -> bool:
    out = subprocess.run(
        [*kubectl(), "-n", "kube-system", "get", "deploy", "coredns", "-o", "jsonpath={.status.readyReplicas}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return out.stdout.strip() == "1"


def up(log: Callable[[str], None] = print) -> dict[str, float]:
    """Returns the seconds of each phase."""
    check_host()
    times: dict[str, float] = {}
    mark = time.monotonic()

    def phase(name: str) -> None:
        nonlocal mark
        now = time.monotonic()
        times[name] = now - mark
        mark = now

    if is_up():
        log("the cluster is already up (make cluster-down first to start anew)")
        return times
    built = c.build_all(log)
    phase("build")
    log(
        "built: " + ", ".join(f"{n} {s:.0f} s" for n, s in built.items() if s)
        if any(built.values())
        else "binaries: all cached"
    )
    if leftovers():
        down(log)
    for path in (state("pki"), state("kubeconfigs"), state("logs")):
        shutil.rmtree(path, ignore_errors=True)
    node.clean_state()
    netns.create()
    netns.enter()
    pki.make_pki()
    pki.kubeconfig(KUBECONFIG, "admin")
    controlplane.start_etcd()
    node.start_containerd()
    controlplane.start_apiserver()
    phase("control plane")
    images.load_cluster_images(log)
    phase("images")
    controlplane.start_controllers()
    addons.make_volumes()
    node.start_kubelet()
    node.start_kube_proxy()
    p.wait_for("node Ready", _node_ready, 120, "kubelet")
    addons.apply(kubectl(), addons.storage_manifest())
    addons.apply(kubectl(), addons.coredns_manifest())
    p.wait_for("CoreDNS ready", _dns_ready, 120, "kubelet")
    phase("node")
    write_wrappers()
    return times
