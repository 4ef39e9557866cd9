"""The pipeline's first step: check what a run needs from S3 before any step spends minutes on it.

On a real cluster the prepare pod's input artifact is loaded by Argo's executor before odpipe runs, and
its message for a wrong bucket does not name the bucket ("The specified bucket does not exist"); a
wrong models bucket would only show after training. This step names each problem, with the chart
value or workflow parameter that sets it, and reports all of them at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from odpipe.common.storage import Buckets, S3Uri, Storage, error_code

# what each bucket is for, with the chart value that names it
BUCKET_ROLES = (
    ("datasets", "s3.buckets.datasets", "the annotations and images users upload"),
    ("artifacts", "s3.buckets.artifacts", "Argo's artifact repository"),
    ("models", "s3.buckets.models", "the model repository"),
)
_CREDENTIAL_CODES = {
    "SignatureDoesNotMatch": "refused the secret key (AWS_SECRET_ACCESS_KEY)",
    "InvalidAccessKeyId": "does not know the access key (AWS_ACCESS_KEY_ID)",
    "InvalidToken": "refused the session token",
    "ExpiredToken": "says the credentials expired",
}


@dataclass(frozen=True)
class Inputs:
    annotations_key: str
    images_prefix: str = ""
    credentials_from: str = "the environment"  # where AWS_* come from, for the message (never the values)


@dataclass(frozen=True)
class Problem:
    what: str  # the bucket, object or credentials it is about
    message: str

    def __str__(self) -> str:
        return self.message


def check(storage: Storage, buckets: Buckets, inputs: Inputs) -> list[Problem]:
    """Every problem found; an empty list when the run can start. Stops early only where a first
    problem makes the rest meaningless (the endpoint or the credentials)."""
    from botocore.exceptions import ClientError, EndpointConnectionError

    url = storage.endpoint_url
    problems: list[Problem] = []
    present: set[str] = set()
    for role, value, purpose in BUCKET_ROLES:
        bucket = getattr(buckets, role)
        try:
            # a GET (not HEAD) so that S3 answers with an error code: wrong secret vs unknown key vs no bucket
            storage.client.list_objects_v2(Bucket=bucket, MaxKeys=1)
            present.add(role)
        except EndpointConnectionError as exc:
            return [Problem("endpoint", f"S3 endpoint {url} does not answer (s3.endpoint): {exc}")]
        except ClientError as exc:
            code = error_code(exc)
            if code in _CREDENTIAL_CODES:
                return [
                    Problem(
                        "credentials",
                        f"S3 at {url} {_CREDENTIAL_CODES[code]} ({code}); the credentials come from "
                        f"{inputs.credentials_from}",
                    )
                ]
            if code == "NoSuchBucket":
                problems.append(Problem(bucket, f"bucket {bucket!r} ({value}: {purpose}) does not exist at {url}"))
            elif code in ("AccessDenied", "AllAccessDisabled"):
                problems.append(
                    Problem(
                        bucket,
                        f"bucket {bucket!r} ({value}: {purpose}): access denied at {url} ({code}) for the "
                        f"credentials from {inputs.credentials_from}",
                    )
                )
            else:
                problems.append(Problem(bucket, f"bucket {bucket!r} ({value}) at {url}: {code or exc}"))
    if "datasets" in present:
        problems += _inputs(storage, buckets.datasets, inputs)
    return problems


def _inputs(storage: Storage, bucket: str, inputs: Inputs) -> list[Problem]:
    problems = []
    key = inputs.annotations_key.strip("/")
    if not key:
        problems.append(Problem("annotations-key", "parameter annotations-key is empty"))
    elif storage.head(bucket, key) is None:
        uri = S3Uri(bucket, key)
        problems.append(
            Problem(str(uri), f"annotations {uri} (parameter annotations-key) do not exist at {storage.endpoint_url}")
        )
    prefix = inputs.images_prefix.strip("/")
    if prefix:
        from botocore.exceptions import ClientError

        uri = S3Uri(bucket, prefix + "/")
        try:
            page = storage.client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/", MaxKeys=1)
        except ClientError as exc:
            return [*problems, Problem(str(uri), f"listing {uri} (parameter images-prefix): {error_code(exc) or exc}")]
        if not page.get("KeyCount"):
            problems.append(
                Problem(str(uri), f"no objects under {uri} (parameter images-prefix) at {storage.endpoint_url}")
            )
    return problems
