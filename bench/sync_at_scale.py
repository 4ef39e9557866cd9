"""Image sync from S3 at scale: odpipe's sync_prefix (cold, then incremental) against a plain boto3 loop and
against `aws s3 sync`-style concurrent transfer-manager downloads, on one embedded SeaweedFS.

ODPIPE_BENCH_SYNC_OBJECTS: objects under the prefix (default 100000, ~2 KB each, like small JPEGs).
The peers are slower by construction, so to keep the run under ~15 minutes they download the first
ODPIPE_BENCH_SYNC_LOOP (plain loop, default 10000) and ODPIPE_BENCH_SYNC_TM (transfer manager, default
25000) objects, listing the whole prefix first as they would; their rates (objects/s) are what is
compared, said so in their rows. odpipe syncs all of them.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import report

BUCKET = "bench-sync"
PREFIX = "train2017"


def _upload(client: Any, n: int) -> None:
    body = os.urandom(2048)

    def put(i: int) -> None:
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{i:012d}.jpg", Body=body[: 1024 + i % 1024] + i.to_bytes(8))

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, range(n), chunksize=256))


def _plain_loop(client: Any, dest: Path, limit: int) -> int:
    """What a script would write: list, then get_object one by one."""
    done = 0
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/"):
        for obj in page.get("Contents", []):
            target = dest / obj["Key"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(client.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
            done += 1
            if done >= limit:
                return done
    return done


def _transfer_manager(client: Any, dest: Path, limit: int) -> int:
    """`aws s3 sync`-style: list, then boto3's TransferManager downloads with 16 concurrent requests."""
    from boto3.s3.transfer import TransferConfig, create_transfer_manager

    keys = [
        o["Key"]
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{PREFIX}/")
        for o in page.get("Contents", [])
    ][:limit]
    (dest / PREFIX).mkdir(parents=True, exist_ok=True)
    with create_transfer_manager(client, TransferConfig(max_concurrency=16)) as manager:
        futures = [manager.download(BUCKET, k, str(dest / k)) for k in keys]
        for f in futures:
            f.result()
    return len(keys)


def _reruns(client: Any, dest: Path, n: int) -> list[tuple[str, str]]:
    """odpipe's sync again with nothing changed, then with 1% of the objects rewritten."""
    from odpipe.common.storage import S3Uri, Storage
    from odpipe.prepare.sync import sync_prefix

    rows = []
    for label, changed in (("rerun, nothing changed", 0), ("rerun, 1% rewritten", max(1, n // 100))):
        for i in range(0, n, max(1, n // changed)) if changed else ():
            client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/{i:012d}.jpg", Body=b"rewritten %d" % i)
        t = time.perf_counter()
        fetched, skipped = sync_prefix(Storage(), S3Uri(BUCKET, PREFIX), dest)
        rows.append(
            (
                f"odpipe sync_prefix, {label}",
                f"{fetched} fetched, {skipped} unchanged in {time.perf_counter() - t:.1f} s",
            )
        )
        print(f"  ... {rows[-1][0]}: {rows[-1][1]}", flush=True)
    return rows


def main() -> int:
    from odpipe.common.storage import S3Uri, Storage, s3_client
    from odpipe.local.s3server import S3Server
    from odpipe.prepare.sync import sync_prefix

    n = int(os.environ.get("ODPIPE_BENCH_SYNC_OBJECTS", "100000"))
    loop_n = min(n, int(os.environ.get("ODPIPE_BENCH_SYNC_LOOP", "10000")))
    tm_n = min(n, int(os.environ.get("ODPIPE_BENCH_SYNC_TM", "25000")))
    work = Path(tempfile.mkdtemp(prefix="odpipe-bench-sync-"))
    try:
        with S3Server(work / "s3", buckets=(BUCKET,)) as server:
            os.environ.update(server.env())
            creds = server.credentials
            client = s3_client(server.endpoint_url, access_key=creds.access_key, secret_key=creds.secret_key)
            t = time.perf_counter()
            _upload(client, n)
            upload_s = time.perf_counter() - t
            rows = [("upload (setup, 16 threads)", f"{n} objects in {upload_s:.1f} s")]
            rates: dict[str, float] = {}
            tm_name = f"boto3 TransferManager (aws s3 sync-style, first {tm_n})"
            for name, run in (
                ("odpipe sync_prefix, cold", lambda d: sync_prefix(Storage(), S3Uri(BUCKET, PREFIX), d)[0]),
                (tm_name, lambda d: _transfer_manager(client, d, tm_n)),
                (f"plain boto3 loop (first {loop_n})", lambda d: _plain_loop(client, d, loop_n)),
            ):
                dest = work / name.split()[0] / name.split()[1]
                t = time.perf_counter()
                count = run(dest)
                took = time.perf_counter() - t
                rates[name] = count / took
                rows.append((name, f"{count} objects in {took:.1f} s = {count / took:.0f} objects/s"))
                print(f"  ... {rows[-1][0]}: {rows[-1][1]}", flush=True)  # kept if a later step is cut short
                if name.startswith("odpipe"):
                    rows += _reruns(client, dest, n)
                shutil.rmtree(dest, ignore_errors=True)
            ours = rates["odpipe sync_prefix, cold"]
            for name, rate in rates.items():
                if not name.startswith("odpipe"):
                    rows.append((f"odpipe / {name.split(' (')[0]}", f"{ours / rate:.2f}x the objects/s"))
            report(f"S3 sync at {n} objects (embedded SeaweedFS)", rows)
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
