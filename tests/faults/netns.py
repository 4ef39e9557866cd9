"""A network namespace of the test's own: the S3 server and its client both run inside it, on its
loopback, so an impairment there touches nothing outside. Loss comes from iptables' statistic match,
the bandwidth cap from a tbf qdisc; this kernel has no sch_netem, so delay (and corruption) come from
faults.proxy instead."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from faults.disk import need_root

TESTS = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Namespace:
    name: str

    def run(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.name, *args], capture_output=True, text=True, check=check, timeout=timeout
        )

    def loss(self, probability: float) -> None:
        self.run("iptables", "-A", "INPUT", "-i", "lo", "-m", "statistic", "--mode", "random",
                 "--probability", str(probability), "-j", "DROP")  # fmt: skip

    def bandwidth(self, rate: str) -> None:
        self.run("tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", rate, "burst", "128kb", "latency", "100ms")

    def worker(self, *args: str) -> subprocess.CompletedProcess[str]:
        """faults.net_worker inside the namespace, with this tree's odpipe and test helpers."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
        return subprocess.run(
            ["ip", "netns", "exec", self.name, sys.executable, "-m", "faults.net_worker", *args],
            capture_output=True, text=True, check=False, timeout=600, env=env,
        )  # fmt: skip


@contextmanager
def namespace(tag: str) -> Iterator[Namespace]:
    need_root("a network namespace")
    for tool in ("ip", "iptables", "tc"):
        if not shutil.which(tool):
            pytest.skip(f"`{tool}` is not installed (iproute2, iptables)")
    ns = Namespace(f"odpf-{tag}-{os.getpid()}")
    subprocess.run(["ip", "netns", "add", ns.name], check=True)
    try:
        ns.run("ip", "link", "set", "lo", "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns.name], check=False)
