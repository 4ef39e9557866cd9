"""The check-inputs step: run(options) -> result, as every step."""

from __future__ import annotations

from dataclasses import dataclass, field

from odpipe.check_inputs.checks import BUCKET_ROLES, CREDENTIALS_FROM_ENV, Inputs, Problem, check
from odpipe.check_inputs.picture_sweep import sweep
from odpipe.common.console import console
from odpipe.common.errors import OdpipeError
from odpipe.common.storage import Buckets, Storage


@dataclass(frozen=True)
class CheckOptions:
    annotations_key: str
    images_prefix: str = ""
    credentials_from: str = CREDENTIALS_FROM_ENV
    memo_cache: str = ""  # NAMESPACE/CONFIGMAP of Argo's train cache; empty: none
    sweep_pictures_after: float | None = None  # seconds: sweep orphan report picture folders; None: never


@dataclass
class CheckResult:
    problems: list[Problem]
    dropped: dict[str, list[str]] = field(default_factory=dict)  # memo cache entries, by key: what they lacked
    swept: dict[str, int] = field(default_factory=dict)  # orphan report picture folders: files deleted

    @property
    def exit_code(self) -> int:
        """0; 3 when S3 does not answer (it may come back: retried); 2 for configuration (not retried)."""
        if not self.problems:
            return 0
        return 3 if any(p.what == "endpoint" for p in self.problems) else 2


def run(options: CheckOptions, storage: Storage | None = None) -> CheckResult:
    """Check S3 and the run's inputs; when all is well, prune the memo cache if one is named and sweep
    the report picture folders Argo's GC left if asked. Raises
    OdpipeError when S3 or the Kubernetes API cannot be asked at all."""
    buckets = Buckets.from_env()
    storage = storage or Storage(max_attempts=3)
    inputs = Inputs(options.annotations_key, options.images_prefix, options.credentials_from)
    problems = check(storage, buckets, inputs)
    if problems:
        return CheckResult(problems)
    names = ", ".join(f"{getattr(buckets, role)}" for role, _, _ in BUCKET_ROLES)
    what = f"s3://{buckets.datasets}/{options.annotations_key.strip('/')}"
    if options.images_prefix.strip("/"):
        what += f" and images under s3://{buckets.datasets}/{options.images_prefix.strip('/')}/"
    console.print(f"ok: {storage.endpoint_url} accepts the credentials; buckets {names}; {what}", markup=False)
    dropped = _prune_memo_cache(options.memo_cache, storage, buckets.artifacts) if options.memo_cache else {}
    swept = {}
    if options.sweep_pictures_after is not None:
        swept = sweep(storage, buckets.artifacts, options.sweep_pictures_after)
        files = sum(swept.values())
        console.print(f"report pictures: {files} files in {len(swept)} folders whose report was collected, swept",
                      markup=False)  # fmt: skip
    return CheckResult([], dropped, swept)


class InputsRefused(OdpipeError):
    """check-inputs found problems, one per line: exit 2 (configuration), 3 when S3 does not answer."""


def require(options: CheckOptions, storage: Storage | None = None) -> CheckResult:
    """run(), raising InputsRefused when the run cannot start: for a step that checks before it reads."""
    result = run(options, storage)
    if result.problems:
        raise InputsRefused("\n".join(str(p) for p in result.problems), exit_code=result.exit_code)
    return result


def _prune_memo_cache(configmap: str, storage: Storage, bucket: str) -> dict[str, list[str]]:
    from odpipe.check_inputs.kube_api import ApiError, KubeApi
    from odpipe.check_inputs.memo_cache import prune

    try:
        dropped = prune(KubeApi.in_cluster(), configmap, storage, bucket)
    except ApiError as exc:
        # refused is configuration (not retried); an API server that does not answer may come back
        code = 2 if exc.status in (401, 403) else 3
        raise OdpipeError(
            f"train cache ConfigMap {configmap} (memoize.enabled): {exc}; the workflow ServiceAccount needs get "
            "and update on it (the chart's rbac.create gives them)",
            exit_code=code,
        ) from None
    for key, missing in dropped.items():
        console.print(f"train cache: dropped entry {key}, its artifacts are gone ({missing[0]})", markup=False)
    console.print(f"train cache {configmap}: {len(dropped)} entries dropped", markup=False)
    return dropped
