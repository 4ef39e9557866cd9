"""Whether a train attempt starts fresh, resumes, or only evaluates: a pure decision on what an earlier
attempt under the same run id left on the data volume."""

from __future__ import annotations

from enum import Enum
from typing import Any


class Start(Enum):
    FRESH = "fresh"  # nothing to resume: train from the model or base weights
    RESUME = "resume"  # a checkpoint of this run exists: continue from it
    COMPLETE = "complete"  # training finished earlier: evaluate only
    CONFLICT = "conflict"  # the run id holds a run with other parameters or data


def decide_start(previous: dict[str, Any] | None, record: dict[str, Any], *, complete: bool, checkpoint: bool) -> Start:
    """``previous``: the parameter record an earlier attempt wrote (None if none); ``record``: this
    attempt's; ``complete``: the run's COMPLETE marker exists; ``checkpoint``: its last.pt exists.

    An earlier attempt that failed before its first checkpoint left nothing to resume: a fresh start,
    whatever its parameters were.
    """
    if previous is None or not (complete or checkpoint):
        return Start.FRESH
    if previous != record:
        return Start.CONFLICT
    return Start.COMPLETE if complete else Start.RESUME


def describe_difference(a: dict[str, Any], b: dict[str, Any], limit: int = 5) -> str:
    """The first ``limit`` differing fields of two nested records, as 'key: old -> new'."""
    flat_a, flat_b = _flatten(a), _flatten(b)
    keys = sorted(k for k in set(flat_a) | set(flat_b) if flat_a.get(k) != flat_b.get(k))
    return ", ".join(f"{k}: {flat_a.get(k)!r} -> {flat_b.get(k)!r}" for k in keys[:limit])


def _flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
