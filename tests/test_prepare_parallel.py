"""Worker count from the container's CPU limit (cgroup v1 and v2), and results in input order."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from odpipe.prepare import parallel
from odpipe.prepare.parallel import available_cpus, cgroup_cpus, map_chunks


def _cgroup(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text + "\n")
    return tmp_path


@pytest.mark.parametrize(
    ("files", "cpus"),
    [
        ({"cpu.max": "150000 100000"}, 1.5),
        ({"cpu.max": "max 100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "200000", "cpu/cpu.cfs_period_us": "100000"}, 2.0),
        ({"cpu,cpuacct/cpu.cfs_quota_us": "-1", "cpu,cpuacct/cpu.cfs_period_us": "100000"}, None),
        ({}, None),
    ],
)
def test_cgroup_limit_v1_and_v2(tmp_path: Path, files: dict[str, str], cpus: float | None) -> None:
    assert cgroup_cpus(_cgroup(tmp_path, files)) == cpus


def test_workers_follow_the_limit_not_the_host(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert available_cpus(_cgroup(tmp_path / "a", {"cpu.max": "50000 100000"})) == 1
    assert available_cpus(_cgroup(tmp_path / "b", {"cpu.max": "max 100000"})) == min(affinity, parallel.UNLIMITED_MAX)
    assert available_cpus(_cgroup(tmp_path / "c", {"cpu.max": "6400000 100000"})) == affinity  # never above affinity


def _square_with_pid(items: Sequence[int]) -> list[tuple[int, int]]:
    return [(i * i, os.getpid()) for i in items]


def test_results_in_input_order_across_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_PARALLEL", 0)
    items = list(range(100))
    done: list[int] = []
    out = list(map_chunks(_square_with_pid, items, 2, done.append, chunk=3))
    assert [v for v, _ in out] == [i * i for i in items]
    assert sum(done) == 100
    assert os.getpid() not in {pid for _, pid in out}  # the work ran in worker processes
    inline = list(map_chunks(_square_with_pid, items, 1, chunk=3))
    assert {pid for _, pid in inline} == {os.getpid()}
