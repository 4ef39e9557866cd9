"""The model repository in S3, in Triton's layout:

    <name>/config.pbtxt
    <name>/<version>/model.onnx
    <name>/<version>/model-card.json
    <name>/<version>/model-report.html   (written before the card; a version may lack it)

Versions are integers, claimed with a conditional PUT (If-None-Match: *) of `<name>/<version>/claim.json`,
so two concurrent publishes of one name get two versions and a written version is never overwritten.
The model is uploaded and verified before its card: a version counts as deployed only once its card
exists, and no reader sees a card without its model.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from odpipe.common.console import warn
from odpipe.common.errors import InputError, PublishConflict, StorageError
from odpipe.common.storage import S3Uri, Storage
from odpipe.formats import contract, model_card

if TYPE_CHECKING:
    from odpipe.reports.html import Rendered

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
CLAIM = "claim.json"
CONFIG = "config.pbtxt"
MAX_CLAIM_TRIES = 20


def check_name(name: str) -> str:
    if not NAME_RE.match(name) or name in (".", ".."):
        raise InputError(
            f"--model-name {name!r}: invalid model name (letters, digits, '_', '.', '-'; "
            f"must start with a letter or digit; at most 64 characters)"
        )
    return name


@dataclass
class Published:
    name: str
    version: int
    model_uri: str
    card_uri: str
    config_uri: str


class ModelRepository:
    def __init__(self, storage: Storage, bucket: str) -> None:
        self.storage = storage
        self.bucket = bucket

    def versions(self, name: str) -> dict[int, set[str]]:
        """Every version folder of a model and the files in it."""
        out: dict[int, set[str]] = {}
        for obj in self.storage.list(self.bucket, f"{name}/"):
            parts = obj.key[len(name) + 1 :].split("/")
            if len(parts) == 2 and parts[0].isdigit():
                out.setdefault(int(parts[0]), set()).add(parts[1])
        return out

    def deployed(self, name: str) -> list[int]:
        return sorted(v for v, files in self.versions(name).items() if contract.MODEL_CARD in files)

    def card(self, name: str, version: int) -> dict[str, Any]:
        return json.loads(self.storage.get_bytes(self.bucket, f"{name}/{version}/{contract.MODEL_CARD}"))

    def latest_card(self, name: str, dataset_id: str | None = None) -> dict[str, Any] | None:
        """The newest deployed card, optionally only among those evaluated on `dataset_id`."""
        for version in reversed(self.deployed(name)):
            card = self.card(name, version)
            if dataset_id is None or card.get(model_card.DATASET_ID) == dataset_id:
                return card
        return None

    def claim(self, name: str, owner: dict[str, Any]) -> int:
        version = max(self.versions(name), default=0) + 1
        for _ in range(MAX_CLAIM_TRIES):
            body = json.dumps({**owner, "claimed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}).encode()
            if self.storage.put_bytes(
                self.bucket, f"{name}/{version}/{CLAIM}", body, content_type="application/json", if_none_match=True
            ):
                return version
            version += 1
        raise PublishConflict(
            f"model {name}: could not claim a version in {self._uri(name + '/')} after "
            f"{MAX_CLAIM_TRIES} tries (too many concurrent publishes)"
        )

    def publish(
        self,
        name: str,
        model: Path,
        card: dict[str, Any],
        config: str,
        owner: dict[str, Any],
        sha256: str | None = None,
        report: Callable[[dict[str, Any]], Rendered] | None = None,
    ) -> Published:
        """Upload the model, then its report (``report`` renders it from the final card), then the card."""
        earlier = self._earlier_attempt(name, owner, sha256)
        if earlier is not None:
            self.storage.put_bytes(self.bucket, f"{name}/{CONFIG}", config.encode(), content_type="text/plain")
            return earlier
        version = self.claim(name, owner)
        prefix = f"{name}/{version}"
        model_key = f"{prefix}/{contract.MODEL}"
        report_key = f"{prefix}/{contract.MODEL_REPORT}"
        report_keys: list[str] = []
        try:
            self.storage.upload_file(model, self.bucket, model_key, sha256=sha256)
            card = {**card, model_card.NAME: name, model_card.VERSION: version, model_card.URI: self._uri(model_key)}
            if report is not None:
                report_keys = self._put_report(report_key, card, report)
            body = json.dumps(card, indent=2).encode()
            if not self.storage.put_bytes(
                self.bucket,
                f"{prefix}/{contract.MODEL_CARD}",
                body,
                content_type="application/json",
                if_none_match=True,
            ):
                raise PublishConflict(f"model {name} version {version}: a card appeared under our claim")
            self.storage.put_bytes(self.bucket, f"{name}/{CONFIG}", config.encode(), content_type="text/plain")
        except BaseException:
            # Leave no model without a card behind (Triton would load it); the claim stays, so the
            # version number is not reused.
            for key in (model_key, *report_keys):
                with contextlib.suppress(StorageError):
                    self.storage.delete(self.bucket, key)
            raise
        card_path = f"{prefix}/{contract.MODEL_CARD}"
        return Published(name, version, self._uri(model_key), self._uri(card_path), self._uri(f"{name}/{CONFIG}"))

    def _put_report(self, key: str, card: dict[str, Any], report: Callable[[dict[str, Any]], Rendered]) -> list[str]:
        """The HTML report beside the model, its pictures first (model-report-files/); a failure warns and
        publishes without it (readers must tolerate a version without a report, never one without its
        card). Returns the keys written."""
        written: list[str] = []
        try:
            rendered = report(card)
            folder = f"{key.rsplit('/', 1)[0]}/{contract.report_files(contract.MODEL_REPORT)}"
            for name, data in rendered.files.items():
                kind = "image/png" if name.endswith(".png") else "image/jpeg"
                self.storage.put_bytes(self.bucket, f"{folder}/{name}", data, content_type=kind)
                written.append(f"{folder}/{name}")
            self.storage.put_bytes(self.bucket, key, rendered.html.encode(), content_type="text/html; charset=utf-8")
            written.append(key)
        except Exception as exc:
            warn(f"model report not stored at {self._uri(key)}: {type(exc).__name__}: {exc}")
        return written

    def _earlier_attempt(self, name: str, owner: dict[str, Any], sha256: str | None) -> Published | None:
        """What an earlier, failed attempt of this same owner (a retried step) left: its finished version
        of this same model is returned (a retry yields one version, not two); a model it uploaded but
        could not give a card (the store died in between) is deleted, so no model stands without a card."""
        if not owner.get("workflow_uid"):
            return None
        # the workflow, not the pod: a retry runs in a new pod on another host
        owner = {k: owner.get(k) for k in ("workflow_name", "workflow_uid")}
        for version, files in sorted(self.versions(name).items()):
            if CLAIM not in files or contract.MODEL not in files:
                continue
            claim = json.loads(self.storage.get_bytes(self.bucket, f"{name}/{version}/{CLAIM}"))
            if {k: claim.get(k) for k in owner} != owner:
                continue
            model_key = f"{name}/{version}/{contract.MODEL}"
            if contract.MODEL_CARD not in files:
                self.storage.delete(self.bucket, model_key)
                if contract.MODEL_REPORT in files:
                    self.storage.delete(self.bucket, f"{name}/{version}/{contract.MODEL_REPORT}")
            elif sha256 and self.card(name, version).get(model_card.SHA256) == sha256:
                card_key = f"{name}/{version}/{contract.MODEL_CARD}"
                config_key = f"{name}/{CONFIG}"
                return Published(name, version, self._uri(model_key), self._uri(card_key), self._uri(config_key))
        return None

    def _uri(self, key: str) -> str:
        return str(S3Uri(self.bucket, key))
