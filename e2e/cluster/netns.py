"""The cluster's network namespace: loopback, a veth device holding the node's address, a route for
the service range (kube-proxy rewrites those addresses), and no route anywhere else."""

from __future__ import annotations

import ctypes
import os
import subprocess

from .layout import NET, NETNS, NETNS_PATH

CLONE_NEWNET = 0x40000000


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def exists() -> bool:
    return NETNS_PATH.exists()


def create() -> None:
    if not exists():
        _ip("netns", "add", NETNS)
    ns = ("-n", NETNS)
    _ip(*ns, "link", "set", "lo", "up")
    # This kernel has no dummy devices: a veth pair whose both ends stay in the namespace holds the
    # node's address with a carrier (the peer end is unused).
    if _ip(*ns, "link", "show", NET.node_device, check=False).returncode != 0:
        _ip(*ns, "link", "add", NET.node_device, "type", "veth", "peer", "name", f"{NET.node_device}-peer")
    _ip(*ns, "addr", "replace", f"{NET.node_ip}/32", "dev", NET.node_device)
    _ip(*ns, "link", "set", f"{NET.node_device}-peer", "up")
    _ip(*ns, "link", "set", NET.node_device, "up")
    _ip(*ns, "route", "replace", NET.service_cidr, "dev", NET.node_device, "src", NET.node_ip)
    for key, value in (
        ("net.ipv4.ip_forward", "1"),
        ("net.bridge.bridge-nf-call-iptables", "1"),
        ("net.bridge.bridge-nf-call-ip6tables", "1"),
    ):
        subprocess.run(
            ["nsenter", f"--net={NETNS_PATH}", "sysctl", "-q", "-w", f"{key}={value}"], check=True, capture_output=True
        )


def delete() -> None:
    if exists():
        _ip("netns", "delete", NETNS)


def enter() -> None:
    """Move this process (and every thread and child it starts from now on) into the namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(NETNS_PATH, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {NETNS_PATH}")
    finally:
        os.close(fd)
