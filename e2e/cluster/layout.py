"""Where the cluster lives: caches keyed by version outside the work tree, state under /var/lib, the
user-facing wrappers and kubeconfig in the work tree's .cluster/, and the addresses inside its netns."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODULES = REPO / "e2e" / "modules"

#: Built binaries and image archives, keyed by version: survives `make cluster-down` and new clones.
CACHE = Path(os.environ.get("ODPIPE_CLUSTER_CACHE", Path.home() / ".cache" / "odpipe-cluster"))
#: The cluster's state (etcd, PKI, kubelet, containerd): etcd and the kubelet's start empty each `up`;
#: containerd's image store is kept so that a second `make cluster` does not import everything again.
STATE = Path(os.environ.get("ODPIPE_CLUSTER_STATE", "/var/lib/odpipe-cluster"))
RUN = Path("/run/odpipe-cluster")
#: What a user points at: .cluster/kubeconfig and .cluster/bin/{kubectl,helm,argo}.
LOCAL = REPO / ".cluster"
KUBECONFIG = LOCAL / "kubeconfig"

NETNS = "odpipe-cluster"
NETNS_PATH = Path("/run/netns") / NETNS


@dataclass(frozen=True)
class Network:
    """Every address is inside the cluster's network namespace, which has no route out."""

    node_ip: str = "10.201.0.1"
    node_device: str = "odpipe0"
    pod_cidr: str = "10.244.0.0/24"
    service_cidr: str = "10.96.0.0/16"
    api_service_ip: str = "10.96.0.1"
    dns_ip: str = "10.96.0.10"
    cluster_domain: str = "cluster.local"
    api_port: int = 6443


NET = Network()
NODE_NAME = "odpipe-node"


def state(*parts: str) -> Path:
    return STATE.joinpath(*parts)


def run_dir(*parts: str) -> Path:
    return RUN.joinpath(*parts)


def logs(name: str) -> Path:
    return state("logs", f"{name}.log")


CONTAINERD_SOCK = run_dir("containerd", "containerd.sock")
