"""train's memo cache entries against a real S3 server (SeaweedFS): an entry is dropped only when an artifact
it names is gone, whether a file, an archive or a folder Argo stored file by file. The ConfigMap round trip
(get, update with its resourceVersion) runs on the real cluster (e2e/scenarios/memo.py)."""

from __future__ import annotations

import json
import os

import pytest
from odpipe.check_inputs.kube_api import ApiError, KubeApi
from odpipe.check_inputs.memo_cache import collected, entry_artifacts
from odpipe.common.storage import S3Uri, Storage


def _entry(*keys: str, bucket: str | None = None) -> str:
    """An entry as Argo's controller writes it (workflow/controller/cache: nodeID, outputs, timestamps)."""
    artifacts = [
        {"name": f"a{i}", "s3": {"key": k, **({"bucket": bucket} if bucket else {})}} for i, k in enumerate(keys)
    ]
    artifacts.append({"name": "no-location", "path": "/tmp/x"})  # an optional output not produced
    return json.dumps(
        {
            "nodeID": "wf-1-123",
            "outputs": {"parameters": [{"name": "map50-95", "value": "0.5"}], "artifacts": artifacts},
            "creationTimestamp": "2026-12-03T10:00:00Z",
            "lastHitTimestamp": "2026-12-03T10:00:00Z",
        }
    )


def test_an_entry_is_dropped_only_when_an_artifact_it_names_is_gone(s3: Storage) -> None:
    bucket = os.environ["ODPIPE_ARTIFACTS_BUCKET"]
    for key in (
        "wf-1/pod/best.pt",
        "wf-1/pod/metrics.json",
        "wf-1/pod/run.tgz",
        "wf-1/pod/evaluation-report-files/pr.png",
    ):
        s3.put_bytes(bucket, key, b"x")
    live = _entry("wf-1/pod/best.pt", "wf-1/pod/metrics.json", "wf-1/pod/run.tgz", "wf-1/pod/evaluation-report-files")
    data = {
        "train-live": live,
        "train-collected": _entry("wf-2/pod/best.pt", "wf-1/pod/metrics.json"),
        "train-folder-gone": _entry("wf-1/pod/best.pt", "wf-2/pod/evaluation-report-files"),
        "train-other-bucket": _entry("wf-1/pod/best.pt", bucket=bucket + "-elsewhere"),
        "not-argo": "plain text",
        "train-no-outputs": json.dumps({"nodeID": "wf-3-1", "outputs": None}),  # Argo v4.0.5's steps bug
    }
    s3.ensure_bucket(bucket + "-elsewhere")
    stale = collected(data, s3, bucket)
    assert sorted(stale) == ["train-collected", "train-folder-gone", "train-no-outputs", "train-other-bucket"]
    assert stale["train-collected"] == [str(S3Uri(bucket, "wf-2/pod/best.pt"))]
    assert stale["train-other-bucket"] == [str(S3Uri(bucket + "-elsewhere", "wf-1/pod/best.pt"))]
    assert stale["train-no-outputs"] == ["no artifact at all"]
    # a key-only artifact is in the artifact repository's bucket; one without a location is skipped
    assert entry_artifacts(json.loads(live), bucket)[0] == S3Uri(bucket, "wf-1/pod/best.pt")
    assert len(entry_artifacts(json.loads(live), bucket)) == 4


def test_outside_a_pod_the_api_client_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ApiError, match="not in a pod with a ServiceAccount token"):
        KubeApi.in_cluster()
