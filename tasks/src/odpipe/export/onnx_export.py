"""Export best.pt to ONNX with Ultralytics, simplify with onnxsim (checked), then onnx.checker full_check."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from odpipe.common.atomic import replacing
from odpipe.common.errors import OdpipeError
from odpipe.export.graph_passes import optimize_for_onnxruntime
from odpipe.formats.triton_config import ultralytics_metadata


@dataclass
class ExportResult:
    path: Path
    nodes_before: int
    nodes_after: int
    opset: int
    dynamic: bool
    imgsz: int
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    graph_passes: dict[str, int]
    metadata: dict[str, str]  # Ultralytics' (names, stride, imgsz, task...), for Triton clients


def _io(values: Any) -> list[dict[str, Any]]:
    out = []
    for v in values:
        dims = [d.dim_value if d.HasField("dim_value") else -1 for d in v.type.tensor_type.shape.dim]
        out.append({"name": v.name, "dims": dims, "elem_type": int(v.type.tensor_type.elem_type)})
    return out


def export_onnx(
    weights: Path,
    dest: Path,
    *,
    imgsz: int,
    opset: int | None,
    dynamic: bool,
    simplify: bool = True,
    optimize: bool = True,
) -> ExportResult:
    """``simplify``: onnxsim; ``optimize``: odpipe's exact rewrites for onnxruntime (graph_passes)."""
    import onnx
    from ultralytics import YOLO

    work = Path(tempfile.mkdtemp(prefix="odpipe-export-"))
    try:
        local = work / "model.pt"
        shutil.copyfile(weights, local)  # Ultralytics writes the .onnx beside the weights
        kwargs: dict[str, Any] = {
            "format": "onnx",
            "imgsz": imgsz,
            "dynamic": dynamic,
            "simplify": False,
            "device": "cpu",
            "verbose": False,
        }
        if opset:
            kwargs["opset"] = opset
        exported = Path(YOLO(str(local)).export(**kwargs))
        model = onnx.load(str(exported))
        before = len(model.graph.node)
        if simplify:
            import onnxsim

            model, ok = onnxsim.simplify(model)
            if not ok:
                raise OdpipeError(f"{weights}: onnxsim could not validate the simplified model")
        passes = optimize_for_onnxruntime(model) if optimize else {}
        onnx.checker.check_model(model, full_check=True)
        with replacing(dest) as tmp:
            onnx.save(model, str(tmp))
        used_opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
        return ExportResult(
            dest,
            before,
            len(model.graph.node),
            used_opset,
            dynamic,
            imgsz,
            _io(model.graph.input),
            _io(model.graph.output),
            passes,
            ultralytics_metadata({p.key: p.value for p in model.metadata_props}),
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
