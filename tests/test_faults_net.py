"""Slow and lossy network: the S3 server and odpipe's Storage client run in a network namespace of
the test's own, with packet loss (iptables statistic), a bandwidth cap (tbf) and a per-chunk delay (a
userspace proxy: this kernel has no sch_netem). Every upload and download completes within the retry
budget, byte-identical; a byte flipped on the wire is caught by the SHA-256 check and nothing corrupt
is put in place. Nothing is addressed outside the namespace's loopback."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from faults.netns import Namespace, namespace
from faults.record import Tally, full

pytestmark = pytest.mark.faults

Setup = Callable[[Namespace], None]


def _both(ns: Namespace, loss: float, rate: str) -> None:
    ns.loss(loss)
    ns.bandwidth(rate)


CASES: dict[str, tuple[Setup, list[str]]] = {
    "loss 2% + 32 Mbit/s": (lambda ns: _both(ns, 0.02, "32mbit"), []),
    "delay 20 ms per chunk": (lambda ns: None, ["--delay", "0.02"]),
    "loss 1%": (lambda ns: ns.loss(0.01), []),
    "loss 5%": (lambda ns: ns.loss(0.05), []),
    "bandwidth 8 Mbit/s": (lambda ns: ns.bandwidth("8mbit"), []),
    "delay 50 ms per chunk": (lambda ns: None, ["--delay", "0.05"]),
    "loss 2% + 16 Mbit/s + 20 ms": (lambda ns: _both(ns, 0.02, "16mbit"), ["--delay", "0.02"]),
}


@pytest.mark.parametrize("name", list(CASES) if full() else list(CASES)[:2])
def test_transfers_complete_on_a_slow_lossy_network(name: str) -> None:
    setup, args = CASES[name]
    with namespace("net") as ns:
        setup(ns)
        proc = ns.worker(*args)
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and rows, proc.stdout + proc.stderr
    tally = Tally(f"network: {name}", "1 KiB, 256 KiB, 4 MiB up and down through odpipe's Storage")
    for row in rows:
        tally.case(row["ok"] and not row["leftovers"], f"{row['size']} B: {row['error']} ({row['seconds']} s)")
    tally.close()


def test_corruption_on_the_wire_is_caught_by_the_checksum() -> None:
    with namespace("corrupt") as ns:
        proc = ns.worker("--corrupt-download")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and rows, proc.stdout + proc.stderr
    tally = Tally("network: a byte flipped in downloads", "proxy flips one byte 64 KiB into each reply stream")
    for row in rows:
        caught = not row["ok"] and "does not match" in row["error"] and not row["placed"]
        untouched = row["ok"] and row["size"] < 64 << 10  # the flip lies past this small reply
        tally.case((caught or untouched) and not row["leftovers"], f"{row['size']} B: {row}")
    assert sum("does not match" in row["error"] for row in rows) == 2, rows
    tally.close()
