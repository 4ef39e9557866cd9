"""prepare's outputs are pinned: the dataset id and a digest of every file it writes, on bccd, roboflow,
the synthetic set and a messy file with every fault, recorded before the columnar/streaming/parallel
rewrite (issue 16) and required unchanged after it, with one worker or two."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from odpipe.coco import load, stream
from odpipe.prepare import parallel
from odpipe.prepare import run as step
from prepare_golden import TESTDATA, run_case

GOLDEN = {
    "bccd-splits": {"outcome": "6f59b154424f464b", "digest": "df520eef9cfadf29"},
    "bccd-train": {"outcome": "47cd147506d5bec8", "digest": "45d4203adb2c5ada"},
    "roboflow": {"outcome": "055c5c6f8639509b", "digest": "eabe4a7057e0d418"},
    "synthetic": {"outcome": "a80c90e030ee15c6", "digest": "fdfc7d382da77361"},
    "messy": {"outcome": "c014c8d4a87cccbd", "digest": "146cb6f98d5a17ce"},
    "messy-crowd": {"outcome": "d399a1c547ae9f56", "digest": "12b2c6502cc7843a"},
    "messy-strict": {"outcome": "error: 72c82dfd8f0316a1", "digest": "31a9a6b90753c7bc"},
}
NEEDS_TESTDATA = {"bccd-splits", "bccd-train", "roboflow"}


@pytest.mark.parametrize(("workers", "parse"), [(1, "whole"), (2, "whole"), (2, "streamed"), (2, "ahead")])
@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_outputs_unchanged(
    case: str, workers: int, parse: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if case in NEEDS_TESTDATA and not TESTDATA.is_dir():
        pytest.skip(f"shared test data not present at {TESTDATA}")
    monkeypatch.setattr(parallel, "MIN_PARALLEL", 0)  # worker processes even for these few images,
    monkeypatch.setattr(parallel, "CHUNK", 7)  # in many chunks
    if parse == "streamed":  # every file streamed, in chunks small enough to cut every kind of token
        monkeypatch.setattr(load, "STREAM_ABOVE_BYTES", 0)
        monkeypatch.setattr(stream, "CHUNK", 61)
        monkeypatch.setattr(stream, "_BATCH_MIN", 0)
    if parse == "ahead":  # image checks and label slots begun before the parse, as for a large file
        monkeypatch.setattr(step, "PREFETCH_ABOVE_BYTES", 0)
    got = run_case(case, tmp_path, workers=workers)
    assert got == GOLDEN[case], json.dumps(got)
