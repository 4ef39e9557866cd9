"""The pure decisions inside the task entry points: the quality gate, whether training resumes,
whether prepare reuses a dataset, and the parameters that name a dataset."""

from __future__ import annotations

from odpipe.export.gate import Deployed, GateLimits, Measured, gate_problems
from odpipe.prepare.run import PrepareOptions, can_reuse, prepare_params
from odpipe.train.resume import Start, decide_start, describe_difference

LIMITS = GateLimits(max_box_diff=0.5, max_score_diff=1e-3, map_tolerance=0.01)
GOOD = Measured(max_abs_box=0.1, max_abs_score=1e-4, torch_ap=0.50, onnx_ap=0.505)


def test_gate_passes_a_faithful_export() -> None:
    assert gate_problems(GOOD, LIMITS) == []


def test_gate_names_every_failure() -> None:
    bad = Measured(max_abs_box=2.0, max_abs_score=0.01, torch_ap=0.5, onnx_ap=0.3)
    limits = GateLimits(0.5, 1e-3, 0.01, min_map50_95=0.4)
    problems = gate_problems(bad, limits, Deployed(version=3, ap=0.45, dataset_id="abc"))
    assert problems == [
        "box difference 2 px > 0.5",
        "score difference 0.01 > 0.001",
        "ONNX mAP50-95 0.3000 vs PyTorch 0.5000: |delta| > 0.01",
        "mAP50-95 0.3000 < --min-map50-95 0.4",
        "mAP50-95 0.3000 does not beat deployed version 3 (0.4500, same dataset abc)",
    ]


def test_gate_improvement_must_be_strict() -> None:
    assert gate_problems(GOOD, LIMITS, Deployed(1, 0.504, "d")) == []
    assert len(gate_problems(GOOD, LIMITS, Deployed(1, 0.505, "d"))) == 1


RECORD = {"dataset_id": "d1", "params": {"epochs": 2}, "base_weights": None}


def test_resume_decision() -> None:
    assert decide_start(None, RECORD, complete=False, checkpoint=False) is Start.FRESH
    assert decide_start(RECORD, RECORD, complete=False, checkpoint=False) is Start.FRESH  # died before a checkpoint
    assert decide_start(RECORD, RECORD, complete=False, checkpoint=True) is Start.RESUME
    assert decide_start(RECORD, RECORD, complete=True, checkpoint=True) is Start.COMPLETE
    other = {**RECORD, "params": {"epochs": 3}}
    assert decide_start(other, RECORD, complete=False, checkpoint=True) is Start.CONFLICT
    assert decide_start(other, RECORD, complete=False, checkpoint=False) is Start.FRESH


def test_difference_names_nested_fields() -> None:
    assert describe_difference(RECORD, {**RECORD, "params": {"epochs": 3}}) == "params.epochs: 2 -> 3"


def test_dataset_reuse() -> None:
    assert can_reuse({"dataset_id": "abc"}, "abc")
    assert not can_reuse(None, "abc")
    assert not can_reuse({"dataset_id": "other"}, "abc")


def test_prepare_params_split_mode() -> None:
    opts = PrepareOptions(annotations="a.json", images="img")
    assert prepare_params(opts, None, sources=1, val_list=False)["split_mode"] == "seeded"
    assert prepare_params(opts, None, sources=1, val_list=True)["split_mode"] == "list"
    params = prepare_params(opts, {"transforms": []}, sources=2, val_list=False)
    assert params == {
        "val_fraction": 0.2,
        "seed": 0,
        "background_ratio": 0.1,
        "bbox_tolerance": 0.02,
        "augment": {"transforms": []},
        "crowd_as_target": False,
        "split_mode": "files",
    }
