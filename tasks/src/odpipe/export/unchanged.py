"""An export-deploy whose model is already the one served: the latest deployed version of this name was
exported from the same weights, evaluated on the same dataset, with the same export options. That is
what a memoized train step hands on (Argo reuses the weights of an earlier run), and publishing it again
would only add a copy. Nothing is published; the step's outputs are that version's own files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odpipe.formats import contract, model_card

if TYPE_CHECKING:
    from odpipe.export.repository import ModelRepository
    from odpipe.formats.contract import Layout

#: the options that change the published file; the gate's limits and the workflow's name do not
ARTIFACT_OPTIONS = ("opset", "dynamic", "imgsz", "max_batch_size", "precision", "calibration_images")


@dataclass(frozen=True)
class Fingerprint:
    """What makes two publishes the same model."""

    weights_sha256: str
    dataset_id: str
    options: dict[str, Any]

    @classmethod
    def of(cls, weights_sha256: str, dataset_id: str, options: dict[str, Any]) -> Fingerprint:
        return cls(weights_sha256, dataset_id, {k: options.get(k) for k in ARTIFACT_OPTIONS})

    def matches(self, card: dict[str, Any]) -> bool:
        training = card.get("training") or {}
        return (
            training.get(model_card.WEIGHTS_SHA256) == self.weights_sha256
            and card.get(model_card.DATASET_ID) == self.dataset_id
            and {k: (card.get("options") or {}).get(k) for k in ARTIFACT_OPTIONS} == self.options
        )


def unchanged_version(repo: ModelRepository, name: str, fingerprint: Fingerprint) -> dict[str, Any] | None:
    """The card of the latest deployed version when it is this very model, else None. Only the latest
    counts: older weights coming back make a new version, so that serving rolls forward to them."""
    deployed = repo.deployed(name)
    if not deployed:
        return None
    card = repo.card(name, deployed[-1])
    return card if fingerprint.matches(card) else None


def write_outputs(repo: ModelRepository, name: str, card: dict[str, Any], layout: Layout) -> None:
    """The step's outputs from the deployed version: model, card, report and its pictures (when stored)."""
    version = int(card[model_card.VERSION])
    prefix = f"{name}/{version}"
    storage, bucket = repo.storage, repo.bucket
    storage.download_file(bucket, f"{prefix}/{contract.MODEL}", layout.output(contract.MODEL))
    layout.output(contract.MODEL_CARD).write_bytes(storage.get_bytes(bucket, f"{prefix}/{contract.MODEL_CARD}"))
    files = contract.report_files(contract.MODEL_REPORT)
    for obj in storage.list(bucket, f"{prefix}/"):
        relative = obj.key[len(prefix) + 1 :]
        if relative == contract.MODEL_REPORT or relative.startswith(f"{files}/"):
            dest: Path = layout.output(relative)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(storage.get_bytes(bucket, obj.key))
    layout.write_param(contract.PARAM_MODEL_VERSION, str(version))
