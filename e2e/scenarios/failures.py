"""Mistakes a user makes, on a running install: a wrong secret key, annotations that are not in the
bucket, a wrong bucket. Each workflow must fail in prepare's check-inputs, before prepare reads anything,
naming the mistake, and lose nothing."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from .kube import Target, helm_install, k, objects
from .summary import Report
from .workflows import failure_messages, pod_steps, submit


def run_failures(r: Report, target: Target, chart: str, values: Callable[[], list[str]], params: dict[str, str],
                 prefix: str = "odpipe-workflows.") -> None:  # fmt: skip
    before = objects(target, "models")
    with r.step("a wrong secret key: the workflow fails naming it, nothing is lost") as note:
        wf = _with_wrong_password(target, lambda: submit(target, "odpipe-e2e-wrong-key", params, expect_success=False))
        expect_failure(r, target, wf, ("SignatureDoesNotMatch", f"Secret {target.secret}"), before, note)
    with r.step("annotations that are not in the bucket: the workflow fails naming the key") as note:
        missing = {**params, "annotations-key": "no-such-set/annotations.json"}
        wf = submit(target, "odpipe-e2e-wrong-key-path", missing, expect_success=False)
        expect_failure(r, target, wf, ("no-such-set/annotations.json", "parameter annotations-key"), before, note)
    with r.step("a wrong bucket (s3.buckets.datasets): the workflow fails naming it, nothing is lost") as note:
        helm_install(target, chart, *values(), "--set", f"{prefix}s3.buckets.datasets=no-such-bucket")
        try:
            wf = submit(target, "odpipe-e2e-wrong-bucket", params, expect_success=False)
        finally:
            helm_install(target, chart, *values())
        # argoexec alone said "The specified bucket does not exist", without the name: check-inputs names it
        expect_failure(r, target, wf, ("'no-such-bucket'", "s3.buckets.datasets"), before, note)


def _with_wrong_password(target: Target, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    secret = json.loads(k("-n", target.namespace, "get", "secret", target.secret, "-o", "json"))
    good = secret["data"][target.password_key]
    wrong = base64.b64encode(b"not-the-password-" + base64.b64decode(good)[:8]).decode()

    def patch(value: str) -> None:
        body = json.dumps({"data": {target.password_key: value}})
        k("-n", target.namespace, "patch", "secret", target.secret, "--type=merge", "-p", body)

    patch(wrong)
    try:
        return action()
    finally:
        patch(good)


def expect_failure(r: Report, target: Target, wf: dict[str, Any], words: tuple[str, ...],
                   models_before: dict[str, int], note: dict[str, str]) -> None:  # fmt: skip
    name, phase = wf["metadata"]["name"], wf["status"]["phase"]
    text = f"{wf['status'].get('message', '')}\n{failure_messages(wf)}"
    r.facts[f"failure {name}"] = text.strip()
    if phase == "Succeeded":
        raise RuntimeError(f"{name} succeeded")
    missing = [w for w in words if w not in text]
    if missing:
        raise RuntimeError(f"{name} failed without naming {missing}: {text}")
    ran = sorted({s["step"].split("(")[0] for s in pod_steps(wf)})  # retried pods read "prepare(1)"
    if ran != ["prepare"]:  # the pipeline stops before a step spends minutes
        raise RuntimeError(f"{name}: steps {ran} ran, only prepare (its check-inputs) should have")
    after = objects(target, "models")
    if after != models_before:
        raise RuntimeError(
            f"the failed workflow changed the model repository: {sorted(set(models_before) ^ set(after))}"
        )
    note[""] = f"{phase} in {wf['_wall']:.0f} s: {text.strip().splitlines()[-1][:160]}"
