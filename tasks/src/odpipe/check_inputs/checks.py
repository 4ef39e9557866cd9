"""check-inputs: what a run needs from S3, checked before any step spends minutes on it.

prepare runs it first in the pipeline (`odpipe prepare --check-inputs`), before it reads anything: an
input artifact Argo's executor loads says only "The specified bucket does not exist" for a wrong
bucket, and a wrong models bucket would only show after training. Each problem is named with the chart
value or workflow parameter that sets it, all of them at once.
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


#: where AWS_* come from when nobody says (the chart sets ODPIPE_CREDENTIALS_FROM to its Secret)
CREDENTIALS_FROM_ENV = "the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)"


@dataclass(frozen=True)
class Inputs:
    annotations_key: str
    images_prefix: str = ""
    credentials_from: str = CREDENTIALS_FROM_ENV  # for the message (never the values)


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
