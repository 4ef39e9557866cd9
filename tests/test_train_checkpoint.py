"""Checkpoint commits: the ordered temp-file/digest protocol of odpipe.train.checkpoint, including real
SIGKILLs of a process that is writing checkpoints."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from odpipe.train.checkpoint import CheckpointPath, checkpoint_problem, digest_path, write_checkpoint

WRITER = """
import sys
from pathlib import Path
from odpipe.train.checkpoint import CheckpointPath
path = CheckpointPath(sys.argv[1])
n = 0
while True:
    n = n % 250 + 1
    path.write_bytes(bytes([n]) * (8 << 20))
    print(n, flush=True)
"""


def test_a_commit_leaves_the_checkpoint_its_digest_and_nothing_else(tmp_path: Path) -> None:
    ckpt = tmp_path / "last.pt"
    assert CheckpointPath(ckpt).write_bytes(b"epoch 1") == 7
    write_checkpoint(ckpt, b"epoch 2")
    assert ckpt.read_bytes() == b"epoch 2" and checkpoint_problem(ckpt) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "last.pt.sha256"]


def test_every_state_a_kill_can_leave_is_told_apart(tmp_path: Path) -> None:
    ckpt = tmp_path / "last.pt"
    write_checkpoint(ckpt, b"old")
    old_digest = digest_path(ckpt).read_text()
    write_checkpoint(tmp_path / "scratch.pt", b"new")
    new_digest = (tmp_path / "scratch.pt.sha256").read_text()
    # killed after the next digest was written, before the rename: the old checkpoint stands
    (tmp_path / "last.pt.sha256.next").write_text(new_digest)
    assert checkpoint_problem(ckpt) is None
    # killed after the rename, before the digest was promoted: the new one stands
    ckpt.write_bytes(b"new")
    assert digest_path(ckpt).read_text() == old_digest and checkpoint_problem(ckpt) is None
    # a checkpoint written in place and torn (what Ultralytics alone leaves): refused, named
    ckpt.write_bytes(b"ne")
    problem = checkpoint_problem(ckpt)
    assert problem is not None and "(2 bytes) differs from the one recorded at save" in problem


def test_sigkill_while_writing_never_leaves_a_torn_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "last.pt"
    rng = random.Random(7)
    for attempt in range(6):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(ckpt)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        proc.stdout.readline()  # one commit done: from here on a kill lands anywhere
        time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = ckpt.read_bytes()
        assert checkpoint_problem(ckpt) is None, f"attempt {attempt}"
        assert len(data) == 8 << 20 and data.count(data[:1]) == len(data), f"attempt {attempt}: torn checkpoint"


def test_the_trainer_hook_swaps_its_paths_and_clears_temp_files_of_a_killed_attempt(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from odpipe.train.checkpoint import use_atomic_paths

    (tmp_path / ".best.pt.4242.writing").write_bytes(b"half")
    (tmp_path / "keep.txt").write_text("unrelated")
    trainer = SimpleNamespace(last=tmp_path / "last.pt", best=tmp_path / "best.pt")
    use_atomic_paths(trainer)
    assert isinstance(trainer.last, CheckpointPath) and isinstance(trainer.best, CheckpointPath)
    trainer.best.write_bytes(b"w")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "best.pt.sha256", "keep.txt"]
