"""Training parameters: the named ones, and a checked pass-through for other Ultralytics arguments."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import yaml

from odpipe.common.errors import InputError

# Set by odpipe itself (paths, resume, the named flags): not accepted in the pass-through.
MANAGED = {
    "data",
    "project",
    "name",
    "exist_ok",
    "resume",
    "model",
    "epochs",
    "imgsz",
    "batch",
    "device",
    "workers",
    "seed",
    "patience",
    "pretrained",
    "mode",
    "task",
    "save",
    "save_period",
    "cfg",
    "tracker",
    "source",
}


@dataclass
class TrainParams:
    model: str = "yolo11n.yaml"
    epochs: int = 100
    imgsz: int = 640
    batch: int = 16
    device: str = "auto"
    workers: int = 2
    seed: int = 0
    patience: int = 100
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_extra(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs; values are parsed as YAML scalars (`lr0=0.01`, `mosaic=0`, `cos_lr=true`)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--arg {pair!r}: expected key=value (an Ultralytics train argument)")
        try:
            out[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError:
            out[key.strip()] = raw
    return out


def check_extra(extra: dict[str, Any]) -> None:
    """Every pass-through key must be one Ultralytics knows and odpipe does not manage."""
    from odpipe.ultralytics_env import import_ultralytics

    import_ultralytics()
    from ultralytics.cfg import DEFAULT_CFG_DICT

    known = set(DEFAULT_CFG_DICT)
    for key in extra:
        if key in MANAGED:
            raise InputError(f"--arg {key}=...: set by odpipe (use its own flag, see `odpipe train --help`)")
        if key not in known:
            import difflib

            close = difflib.get_close_matches(key, sorted(known), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise InputError(f"--arg {key}=...: not an Ultralytics train argument{hint}")


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    import torch

    return "0" if torch.cuda.is_available() else "cpu"
