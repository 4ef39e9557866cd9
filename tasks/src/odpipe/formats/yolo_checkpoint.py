"""Recognise an Ultralytics YOLO detection checkpoint before doing any work with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from odpipe.common.errors import InputError


def check_checkpoint(path: Path) -> dict[str, Any]:
    """Refuse anything that is not an Ultralytics YOLO detection checkpoint; returns the loaded checkpoint."""
    import torch

    if not path.is_file():
        raise InputError(f"{path}: weights file not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise InputError(f"{path}: not a PyTorch checkpoint ({type(exc).__name__}: {exc})") from None
    model = ckpt.get("ema") or ckpt.get("model") if isinstance(ckpt, dict) else None
    if model is None or not hasattr(model, "yaml") or not hasattr(model, "names"):
        keys = sorted(ckpt)[:8] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise InputError(f"{path}: not a YOLO checkpoint (no Ultralytics model under 'model'; found {keys})")
    task = getattr(model, "task", None) or model.yaml.get("task", "detect")
    if task != "detect":
        raise InputError(f"{path}: a YOLO {task} checkpoint; odpipe trains detection models")
    return ckpt


def train_imgsz(ckpt: dict[str, Any], default: int = 640) -> int:
    """The image size the checkpoint was trained at (what the export should use)."""
    imgsz = (ckpt.get("train_args") or {}).get("imgsz", default)
    return int(imgsz[0] if isinstance(imgsz, list | tuple) else imgsz)
