"""The end of `odpipe demo`: the model just published goes live. `odpipe serve` starts on a free loopback
port against the embedded S3 server, one validation image goes through the v2 API (tritonclient), the
detections are printed, and the server stops."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from odpipe.common.console import console
from odpipe.common.errors import OdpipeError
from odpipe.common.storage import Storage
from odpipe.export.repository import ModelRepository
from odpipe.formats import contract
from odpipe.local.s3server import Credentials, S3Server
from odpipe.serve.launch import ServeProcess


def validation_image(data_dir: Path, dataset_id: str | None) -> Path:
    """The first validation image of the dataset the model was evaluated on."""
    candidates = sorted(data_dir.rglob("val_coco.json"))
    preferred = [p for p in candidates if dataset_id and dataset_id in str(p.parent)] or candidates
    for val_coco in preferred:
        names = sorted(img["file_name"] for img in json.loads(val_coco.read_text())["images"])
        for name in names:
            path = val_coco.parent / "images" / "val" / name
            if path.exists():
                return path
    raise OdpipeError(f"no validation image under {data_dir} (prepare writes <dataset>/images/val/)")


def detect_once(url: str, name: str, image: Path) -> dict[str, Any]:
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url)
    item = httpclient.InferInput("image", [1], "BYTES")
    item.set_data_from_numpy(np.array([image.read_bytes()], dtype=np.object_))
    result = client.infer(name, [item])
    k = int(result.as_numpy("num_detections")[0])
    return {
        "version": result.get_response()["model_version"],
        "boxes": result.as_numpy("boxes")[0, :k],
        "scores": result.as_numpy("scores")[0, :k],
        "category_ids": result.as_numpy("category_ids")[0, :k],
        "metadata": client.get_model_metadata(name),
    }


def serve_demo(state_dir: Path, name: str) -> None:
    state = state_dir.resolve()
    creds_doc = json.loads((state / "s3" / "credentials.json").read_text())
    creds = Credentials(creds_doc["access_key"], creds_doc["secret_key"])
    bucket = os.environ.get(contract.ENV_MODELS_BUCKET, contract.DEFAULT_MODELS_BUCKET)
    with S3Server(state / "s3", creds) as server:
        env = {**server.env(), contract.ENV_MODELS_BUCKET: bucket}
        repo = ModelRepository(Storage(server.endpoint_url, client=server.client()), bucket)
        version = max(repo.deployed(name), default=None)
        if version is None:
            raise OdpipeError(f"model {name}: no deployed version in s3://{bucket}/{name}/")
        card = repo.card(name, version)
        image = validation_image(state / "data", card.get("dataset_id"))
        names = {int(c["coco_id"]): str(c.get("name", c["coco_id"])) for c in card.get("classes", [])}
        proc = ServeProcess([name], env=env, log_path=state / "serve.log")
        with proc:
            proc.wait_ready()
            console.print(f"odpipe serve: {name} version {version} live at http://{proc.url}/v2", markup=False)
            answer = detect_once(proc.url, name, image)
        console.print(
            f"POST /v2/models/{name}/infer with {image.name} -> version {answer['version']}, "
            f"{len(answer['scores'])} detection(s):",
            markup=False,
        )
        for box, score, cid in zip(answer["boxes"], answer["scores"], answer["category_ids"], strict=True):
            x0, y0, x1, y1 = (float(v) for v in box)
            console.print(
                f"  {names.get(int(cid), cid)!s:>10} (COCO id {int(cid)})  score {float(score):.3f}  "
                f"box [{x0:.1f}, {y0:.1f}, {x1:.1f}, {y1:.1f}]",
                markup=False,
            )
        if not len(answer["scores"]):
            console.print("  (none above the serving confidence 0.25)", markup=False)
        console.print(f"odpipe serve stopped (log: {state / 'serve.log'})", markup=False)
