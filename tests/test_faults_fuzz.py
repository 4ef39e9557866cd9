"""Fuzzed COCO: structure-aware mutations of the real fixtures in ../shared/testdata.

Every case must end in exit 0 or a named error (exit 2, "error: ..."), never a traceback. Most cases
run in-process through the `odpipe prepare` command (Typer's runner, the same code path as the console
script); every 50th also runs through the real `odpipe prepare` in a subprocess. hypothesis draws the
mutations where it is installed (derandomized: the same cases every run); otherwise a seeded
`random.Random` does. Cases that once failed live in faults/corpus/ and replay as plain tests.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import TESTDATA, shared_testdata
from faults.coco_mutate import SeededChooser, million_boxes, mutate, pick
from faults.record import Tally, cases
from odpipe.cli import app
from typer.testing import CliRunner

pytestmark = pytest.mark.faults
CORPUS = Path(__file__).parent / "faults" / "corpus"
FOUND = "ODPIPE_FUZZ_FOUND"  # where new failing cases are written, to be added to the corpus
DATUMARO = ("datumaro", "tests", "assets")
# (name, annotations, images folder) of real fixtures that prepare accepts as they are
FIXTURES = (
    ("roboflow", (*DATUMARO, "roboflow_dataset", "coco", "train", "_annotations.coco.json"),
     (*DATUMARO, "roboflow_dataset", "coco", "train")),
    ("coco-instances", (*DATUMARO, "coco_dataset", "coco_instances", "annotations", "instances_train.json"),
     (*DATUMARO, "coco_dataset", "coco_instances", "images", "train")),
    ("kaggle-relaxed", (*DATUMARO, "kaggle_dataset", "relaxed_coco", "annotations.json"),
     (*DATUMARO, "kaggle_dataset", "relaxed_coco")),
    ("bccd-val", ("bccd", "voc2coco", "sample", "outputs", "bccd_val_cocoformat.json"),
     ("bccd", "BCCD_Dataset", "BCCD", "JPEGImages")),
)  # fmt: skip


@dataclass
class Seed:
    name: str
    doc: dict[str, Any]
    images: Path


def _seeds() -> list[Seed]:
    out = []
    for name, ann, images in FIXTURES:
        doc = json.loads(shared_testdata(*ann).read_text())
        out.append(Seed(name, doc, shared_testdata(*images)))
    return out


def _in_process(root: Path, ann: Path, images: Path, exits: dict[int, int] | None = None) -> str | None:
    """None when prepare ended in exit 0 or a named error; else what went wrong (with the traceback)."""
    result = CliRunner().invoke(
        app,
        ["prepare", "--annotations", str(ann), "--images", str(images), "--workers", "1"],
        env={"ODPIPE_ROOT": str(root), "COLUMNS": "200"},
    )
    if isinstance(result.exception, SystemExit) or result.exception is None:
        if exits is not None:
            exits[result.exit_code] = exits.get(result.exit_code, 0) + 1
        if result.exit_code == 0 or (result.exit_code == 2 and "error:" in result.output):
            return None
        return f"exit {result.exit_code}: {result.output[-800:]}"
    assert result.exc_info is not None
    return "traceback: " + "".join(traceback.format_exception(*result.exc_info))[-1500:]


def _subprocess(root: Path, ann: Path, images: Path) -> str | None:
    env = {**os.environ, "ODPIPE_ROOT": str(root), "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "odpipe.cli", "prepare", "--annotations", str(ann), "--images", str(images)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    if proc.returncode == 0 or (proc.returncode == 2 and "error:" in out and "Traceback" not in out):
        return None
    return f"subprocess exit {proc.returncode}: {out[-1500:]}"


class Cases:
    """Runs cases in one working folder; keeps the bytes of any that fail."""

    def __init__(self, tmp: Path, tally: Tally) -> None:
        self.tmp, self.tally, self.n = tmp, tally, 0
        self.exits: dict[int, int] = {}

    def run(self, seed: Seed, kinds: list[str], raw: bytes) -> None:
        self.n += 1
        ann = self.tmp / "case.json"
        ann.write_bytes(raw)
        problem = _in_process(self.tmp / "root", ann, seed.images, self.exits)
        if problem is None and self.n % 50 == 1:
            problem = _subprocess(self.tmp / "sub", ann, seed.images)
        if problem is not None:
            self._keep(seed.name, raw)
        self.tally.case(problem is None, f"{seed.name} {kinds}: {problem}")

    def _keep(self, seed: str, raw: bytes) -> None:
        where = os.environ.get(FOUND)
        if where:
            digest = hashlib.sha256(raw).hexdigest()[:12]
            Path(where).mkdir(parents=True, exist_ok=True)
            (Path(where) / f"{seed}__{digest}.case.gz").write_bytes(gzip.compress(raw))


def _with_hypothesis(seeds: list[Seed], runner: Cases, count: int) -> None:
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import strategies as st

    class Drawn:
        def __init__(self, data: Any) -> None:
            self.data = data

        def integer(self, lo: int, hi: int) -> int:
            return int(self.data.draw(st.integers(lo, hi)))

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(st.data())
    def one(data: Any) -> None:
        chooser = Drawn(data)
        seed = pick(chooser, seeds)
        runner.run(seed, *mutate(seed.doc, chooser))

    one()


def test_fuzzed_coco_ends_in_exit_0_or_a_named_error(tmp_path: Path) -> None:
    seeds = _seeds()
    count = cases(300, 2000)
    tally = Tally("fuzzed COCO (prepare)", f"{count} mutated fixtures, every 50th through the console script")
    runner = Cases(tmp_path, tally)
    try:
        import hypothesis  # noqa: F401
    except ImportError:
        for n in range(count):
            chooser = SeededChooser(20261129 + n)
            seed = pick(chooser, seeds)
            runner.run(seed, *mutate(seed.doc, chooser))
    else:
        _with_hypothesis(seeds, runner, count)
    tally.note += f"; exits {dict(sorted(runner.exits.items()))}"
    # the mutations must reach past the first check: some cases still prepare, most are refused
    assert runner.exits.get(0, 0) > count // 20 and runner.exits.get(2, 0) > count // 4, runner.exits
    tally.close()


def _corpus() -> list[Path]:
    return sorted(CORPUS.glob("*.case.gz"))


@pytest.mark.parametrize("case", _corpus(), ids=lambda p: p.name.removesuffix(".case.gz"))
def test_regression_corpus(tmp_path: Path, case: Path) -> None:
    """Cases that once ended in a traceback: each must now end in exit 0 or a named error."""
    name = case.name.split("__", 1)[0]
    found = [f for f in FIXTURES if f[0] == name]
    assert found, f"{case.name}: unknown fixture {name!r}"
    ann = tmp_path / "case.json"
    ann.write_bytes(gzip.decompress(case.read_bytes()))
    images = shared_testdata(*found[0][2])
    assert _in_process(tmp_path / "root", ann, images) is None
    assert _subprocess(tmp_path / "sub", ann, images) is None


@pytest.mark.slow
def test_one_image_with_a_million_boxes(tmp_path: Path) -> None:
    """A million boxes on one image: prepare finishes or names the problem, within its memory."""
    if not TESTDATA.exists():
        pytest.skip(f"shared test data not present: {TESTDATA}")
    seed = _seeds()[0]
    count = cases(200_000, 1_000_000)
    ann = tmp_path / "million.json"
    ann.write_bytes(million_boxes(seed.doc, count))
    problem = _subprocess(tmp_path / "root", ann, seed.images)
    tally = Tally("fuzzed COCO: one image, many boxes", f"{count} boxes on one image, console script")
    tally.case(problem is None, str(problem))
    tally.close()
