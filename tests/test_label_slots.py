"""Label slots: empty files made ahead by a helper process, filled and renamed into the dataset."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from odpipe.prepare.label_slots import PREFIX, LabelSlots, count_files, label_slots, sweep
from odpipe.prepare.yolo import _write_label


def _images(root: Path, n: int) -> Path:
    (root / "sub").mkdir(parents=True)
    for i in range(n):
        (root / ("sub" if i % 2 else ".") / f"{i}.jpg").write_bytes(b"x")
    (root / ".hidden.jpg").write_bytes(b"x")
    (root / ".cache").mkdir()
    (root / ".cache" / "a.jpg").write_bytes(b"x")
    return root


def test_slots_are_empty_files_then_labels_and_leave_nothing(tmp_path: Path) -> None:
    images = _images(tmp_path / "images", 40)
    assert count_files(str(images)) == 40  # hidden files and folders are not images
    parent, labels = tmp_path / "datasets", tmp_path / "labels"
    labels.mkdir()
    with label_slots(parent, images, enabled=True) as slots:
        assert slots is not None
        time.sleep(0.5)  # the helper has made some by now; take() waits for none
        for i in range(45):  # more labels than slots: the rest are created here
            slot = slots.take()
            if slot is not None:
                assert Path(slot).stat().st_size == 0 and Path(slot).parent == Path(slots.folder)
            _write_label(str(labels / f"{i}.txt"), f"0 0.5 0.5 {i} 1\n", slot)
        assert slots.taken <= 40 and slots.take() is None
    assert sorted(p.name for p in labels.iterdir()) == sorted(f"{i}.txt" for i in range(45))
    assert all((labels / f"{i}.txt").read_text() == f"0 0.5 0.5 {i} 1\n" for i in range(45))
    assert list(parent.iterdir()) == []  # unused slots and their folder removed


def test_a_slot_that_is_gone_falls_back_to_a_new_file(tmp_path: Path) -> None:
    _write_label(str(tmp_path / "a.txt"), "0 1 1 1 1\n", str(tmp_path / "no-such-slot"))
    assert (tmp_path / "a.txt").read_text() == "0 1 1 1 1\n"


def test_disabled_is_none(tmp_path: Path) -> None:
    with label_slots(tmp_path / "d", tmp_path, enabled=False) as slots:
        assert slots is None
    assert not (tmp_path / "d").exists()


def test_sweep_removes_folders_of_killed_runs_only(tmp_path: Path) -> None:
    dead, live = tmp_path / f"{PREFIX}dead", tmp_path / f"{PREFIX}live"
    for folder in (dead, live):
        folder.mkdir()
        (folder / "0").write_bytes(b"")
    holder = subprocess.Popen(  # another run holding its folder's lock
        [sys.executable, "-c", _HOLD, str(live)], stdout=subprocess.PIPE, stdin=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"locked\n"
        sweep(tmp_path)
        assert not dead.exists() and (live / "0").exists()
    finally:
        holder.kill()
        holder.wait()
    sweep(tmp_path)  # its holder is gone now
    assert not live.exists()


_HOLD = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def test_a_new_run_keeps_its_own_lock(tmp_path: Path) -> None:
    images = _images(tmp_path / "images", 4)
    slots = LabelSlots(tmp_path / "datasets", images)
    try:
        fd = os.open(slots.folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                raise AssertionError("a live run's slot folder could be locked by another")
            except BlockingIOError:
                pass
        finally:
            os.close(fd)
        sweep(tmp_path / "datasets")
        assert Path(slots.folder).is_dir()
    finally:
        slots.close()
    assert not Path(slots.folder).exists()


def test_prepare_writes_its_labels_into_slots(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from odpipe.formats.contract import Layout
    from odpipe.prepare import label_slots as module
    from odpipe.prepare import run as step
    from prepare_golden import cases

    taken: list[int] = []
    start, close = module.LabelSlots.__init__, module.LabelSlots.close

    def start_and_finish(self: LabelSlots, *args: Path) -> None:
        start(self, *args)
        self._done.wait()  # every slot made before the parse: on a loaded machine the writer could win

    monkeypatch.setattr(module.LabelSlots, "__init__", start_and_finish)
    monkeypatch.setattr(module.LabelSlots, "close", lambda self: (taken.append(self.taken), close(self))[1])
    place = module.LabelSlots.place_images
    placed: list[int] = []

    def spy(self: LabelSlots, pairs: list[tuple[str, str]], mode: str) -> bool:
        placed.append(len(pairs))
        return place(self, pairs, mode)

    monkeypatch.setattr(module.LabelSlots, "place_images", spy)
    monkeypatch.setattr(step, "PREFETCH_ABOVE_BYTES", 0)  # as for a large annotation file
    opts = cases()["synthetic"](tmp_path)
    opts.workers = 2
    result = step.run(opts, Layout(tmp_path / "in", tmp_path / "out", tmp_path / "data"))
    labels = list((result.dataset_dir / "labels").rglob("*.txt"))
    assert placed == [len(list((result.dataset_dir / "images").rglob("*.*")))]  # the images by the helper
    assert taken == [len(labels)]  # every label into a slot; the golden test pins the bytes of these same files
    assert not list((tmp_path / "data" / "datasets").glob(f"{PREFIX}*"))


def test_the_helper_of_a_killed_run_stops_and_its_folder_is_swept(tmp_path: Path) -> None:
    images = tmp_path / "images"
    images.mkdir()
    (images / "0.jpg").write_bytes(b"x")
    for i in range(1, 50_000):  # many "images" cheaply: the helper would need seconds for their slots
        os.link(images / "0.jpg", images / f"{i}.jpg")
    parent = tmp_path / "datasets"
    run = subprocess.Popen([sys.executable, "-c", _RUN, str(parent), str(images)], stdout=subprocess.PIPE)
    assert run.stdout is not None and run.stdout.readline() == b"started\n"
    (folder,) = parent.glob(f"{PREFIX}*")
    deadline = time.monotonic() + 60
    while len(os.listdir(folder)) < 100 and time.monotonic() < deadline:  # the helper is at work
        time.sleep(0.01)
    run.kill()
    run.wait()
    made = -1
    while made != (made := len(os.listdir(folder))):  # until the helper has noticed and stopped
        time.sleep(0.5)
    assert made < 50_000, "the helper went on making slots for a run that was gone"
    deadline = time.monotonic() + 30
    while folder.exists() and time.monotonic() < deadline:
        sweep(parent)  # removes it only once the orphaned helper has let go of it
        time.sleep(0.05)
    assert not folder.exists()


_RUN = """
import sys, time
from pathlib import Path
from odpipe.prepare.label_slots import LabelSlots
if __name__ == "__main__":
    slots = LabelSlots(Path(sys.argv[1]), Path(sys.argv[2]))  # kept: its stop flag must outlive the start
    print("started", flush=True)
    time.sleep(600)
"""


def test_the_helper_places_images_and_reports_what_failed(tmp_path: Path) -> None:
    images = _images(tmp_path / "images", 6)
    out = tmp_path / "out"
    out.mkdir()
    with label_slots(tmp_path / "datasets", images, enabled=True) as slots:
        assert slots is not None
        pairs = [(str(images / f"{i}.jpg"), str(out / f"{i}.jpg")) for i in (0, 2, 4)]
        assert slots.place_images(pairs, "hardlink")
        while slots.take() is not None:  # labels written meanwhile
            pass
        slots.placed()
    assert all(os.path.samefile(src, dest) for src, dest in pairs)  # linked, not copied
    with label_slots(tmp_path / "datasets", images, enabled=True) as slots:
        assert slots is not None
        assert slots.place_images([(str(images / "0.jpg"), str(tmp_path / "no-such-dir" / "0.jpg"))], "copy")
        with pytest.raises(FileNotFoundError):
            slots.placed()
