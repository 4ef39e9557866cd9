"""The enforcer's chains in this kernel: three "pods" (network namespaces) on a bridge in a "node"
namespace with br_netfilter on, as the cluster wires its pods; the chains loaded as the enforcer loads
them; real TCP connections tried between them. Needs root, iproute2 and iptables (CI has them)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from e2e.cluster.netpol import iptables
from e2e.cluster.netpol.compile import compile_rules
from e2e.cluster.netpol.model import Cluster, Pod

SUBNET = "10.250.7"
LISTEN = """
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("", int(sys.argv[1]))); s.listen(); print("listening", flush=True)
while True:
    s.accept()[0].close()
"""
CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5).close()"


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces)"
    for tool in ("ip", "iptables", "iptables-restore"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Debian's iproute2/iptables; CI's Docker install brings them)"
    if not os.path.exists("/proc/sys/net/bridge"):
        return "the kernel has no br_netfilter"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=_missing() or "")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Wire:
    node: str
    pods: dict[str, str]  # name -> namespace

    def ns_exec(self, ns: str) -> list[str]:
        return ["ip", "netns", "exec", ns]

    def connects(self, src: str, dst_ip: str, port: int) -> bool:
        cmd = [*self.ns_exec(self.pods[src]), sys.executable, "-c", CONNECT, dst_ip, str(port)]
        return subprocess.run(cmd, capture_output=True, check=False, timeout=30).returncode == 0


@pytest.fixture
def wire() -> Iterator[Wire]:
    tag = uuid.uuid4().hex[:6]
    node, pods = f"odpt-node-{tag}", {name: f"odpt-{name}-{tag}" for name in ("a", "b", "c")}
    listeners: list[subprocess.Popen[str]] = []
    try:
        _ip("netns", "add", node)
        node_exec = ["ip", "netns", "exec", node]
        subprocess.run([*node_exec, "sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"], check=True)
        subprocess.run([*node_exec, "ip", "link", "add", "br0", "type", "bridge"], check=True)
        subprocess.run([*node_exec, "ip", "addr", "add", f"{SUBNET}.1/24", "dev", "br0"], check=True)
        subprocess.run([*node_exec, "ip", "link", "set", "br0", "up"], check=True)
        for i, (name, ns) in enumerate(pods.items()):
            _ip("netns", "add", ns)
            _ip("link", "add", f"odpt{name}{tag}", "netns", node, "type", "veth", "peer", "eth0", "netns", ns)
            subprocess.run([*node_exec, "ip", "link", "set", f"odpt{name}{tag}", "master", "br0", "up"], check=True)
            pod_exec = ["ip", "netns", "exec", ns]
            subprocess.run([*pod_exec, "ip", "addr", "add", f"{SUBNET}.{10 + i}/24", "dev", "eth0"], check=True)
            subprocess.run([*pod_exec, "ip", "link", "set", "eth0", "up"], check=True)
            subprocess.run([*pod_exec, "ip", "link", "set", "lo", "up"], check=True)
            for port in (8080, 9000):
                proc = subprocess.Popen(
                    [*pod_exec, sys.executable, "-c", LISTEN, str(port)], stdout=subprocess.PIPE, text=True
                )
                listeners.append(proc)
                assert proc.stdout is not None and proc.stdout.readline().startswith("listening")
        yield Wire(node, pods)
    finally:
        for proc in listeners:
            proc.kill()
            proc.wait()
        for ns in (node, *pods.values()):
            subprocess.run(["ip", "netns", "delete", ns], check=False, capture_output=True)


def _ip_of(name: str) -> str:
    return f"{SUBNET}.{10 + 'abc'.index(name)}"


def test_the_chains_hold_in_the_kernel(wire: Wire) -> None:
    """Pod a may send only to pod c on 9000 and take nothing in; b and c are not isolated. Every block
    is measured beside the control that connects, before and after the chains are loaded."""
    pods = tuple(Pod("ns", n, _ip_of(n), {"app": n}) for n in "abc")
    policy = {
        "metadata": {"name": "a", "namespace": "ns"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "a"}},
            "policyTypes": ["Ingress", "Egress"],
            "egress": [{"to": [{"podSelector": {"matchLabels": {"app": "c"}}}], "ports": [{"port": 9000}]}],
        },
    }
    cases = [("a", "c", 9000, True), ("a", "c", 8080, False), ("a", "b", 9000, False), ("b", "a", 8080, False),
             ("b", "c", 8080, True), ("c", "b", 9000, True)]  # fmt: skip
    before = {case: wire.connects(case[0], _ip_of(case[1]), case[2]) for case in cases}
    assert all(before.values()), f"everything connects before the chains are loaded: {before}"

    prefix = wire.ns_exec(wire.node)
    loaded = iptables.render(compile_rules(Cluster(pods, {"ns": {}}, (policy,))))
    iptables.load(loaded, "", f"{SUBNET}.0/24", prefix)  # the enforcer's first round, on a fresh namespace
    after = {case: wire.connects(case[0], _ip_of(case[1]), case[2]) for case in cases}
    assert after == {case: case[3] for case in cases}

    # the policy gone: the chains emptied and the per-pod chains deleted, everything connects again
    iptables.load(iptables.render(compile_rules(Cluster(pods, {"ns": {}}, ()))), loaded, f"{SUBNET}.0/24", prefix)
    listed = subprocess.run([*prefix, "iptables", "-S"], capture_output=True, text=True, check=True).stdout
    assert iptables.PREFIX not in listed
    time.sleep(0.1)
    assert all(wire.connects(src, _ip_of(dst), port) for src, dst, port, _ in cases)
